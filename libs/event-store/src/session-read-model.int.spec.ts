/** The session read model against PostgreSQL: rebuilding it, and the folds a process keeps of it. */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { sessionStreamId, type NewEvent } from '@parley/contracts';
import { foldSession } from '@parley/conversation';
import { createTestDatabase, turnEvents, type TestDatabase } from '@parley/testing';
import { connectDatabase, migrateDatabase, type Database } from './database';
import { EventStore } from './event-store';
import { rebuildSessionProjections } from './projection-rebuild';
import { SessionProjectionRepository } from './session-projection.repository';
import { SessionStates } from './session-states';

const tenantId = 'default';
const meta = { tenantId };
const said = (text: string): NewEvent => ({
  eventId: randomUUID(),
  type: 'UserMessageReceived',
  data: { turnId: randomUUID(), text, requestedMode: 'auto' },
  metadata: meta,
});

describe('the session read model against PostgreSQL', () => {
  let testDb: TestDatabase;
  let database: Database;
  let store: EventStore;
  let projections: SessionProjectionRepository;

  beforeAll(async () => {
    testDb = await createTestDatabase('session_read_model');
    await migrateDatabase(testDb.url);
    database = await connectDatabase(testDb.url, { max: 4 });
    store = new EventStore(database.db);
    projections = new SessionProjectionRepository(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  /** A new session with `turns` turns; its stream id. */
  async function newSession(turns = 0): Promise<string> {
    const sessionId = randomUUID();
    const streamId = sessionStreamId(sessionId);
    await store.append(
      streamId,
      tenantId,
      [{ eventId: randomUUID(), type: 'SessionStarted', data: { sessionId, userId: null, metadata: {} }, metadata: meta }],
      'no_stream',
      {
        newKey: { userId: null },
      },
    );
    for (let i = 0; i < turns; i++) await store.append(streamId, tenantId, turnEvents(i), 1 + 3 * i);
    return streamId;
  }
  const logFold = async (streamId: string) => foldSession(await store.readStream(streamId));

  describe('rebuilt', () => {
    it('folds every committed event, also while another transaction is open, into the rows the projector would write', async () => {
      const before = await Promise.all([newSession(3), newSession(1)]);
      // a transaction holding a transaction id, open across the next appends (a slow writer
      // elsewhere): the rebuild must not stop at it as a reader of the live log does
      const other = new Client({ connectionString: testDb.url });
      await other.connect();
      try {
        await other.query('begin');
        await other.query('select pg_current_xact_id()');
        const after = await Promise.all([newSession(2), newSession(40)]);
        const result = await rebuildSessionProjections(database.db);
        expect(result).toMatchObject({ sessions: 4, events: 4 + 3 * (3 + 1 + 2 + 40) });
        for (const streamId of [...before, ...after]) expect(await projections.load(streamId)).toEqual(await logFold(streamId));
      } finally {
        await other.query('rollback');
        await other.end();
      }
    });

    it('gives the same rows when run again', async () => {
      const read = async () =>
        (await database.db.execute('select stream_id, version, state, updated_at from session_projections order by stream_id' as never))
          .rows;
      await rebuildSessionProjections(database.db);
      const first = await read();
      await rebuildSessionProjections(database.db);
      expect(await read()).toEqual(first);
    });
  });

  describe('kept by a process (SessionStates)', () => {
    it('loads the whole fold, then reads only what the log gained since', async () => {
      const states = new SessionStates(store, projections);
      const streamId = await newSession();
      await store.append(streamId, tenantId, [said('one')], 1);
      const first = await states.load(streamId);
      expect(first.tail.map((e) => e.version)).toEqual([1, 2]);
      expect(first.folded).toEqual(await logFold(streamId));
      await store.append(streamId, tenantId, [said('two'), said('three')], 2);
      const second = await states.load(streamId);
      expect(second.tail.map((e) => e.version)).toEqual([3, 4]);
      expect(second.folded).toEqual(await logFold(streamId));
      expect((await states.load(streamId)).tail).toEqual([]);
    });

    it('starts from the projection row when it has no fold of its own, and keeps nothing when asked not to', async () => {
      const states = new SessionStates(store, projections);
      const streamId = await newSession();
      await store.append(streamId, tenantId, [said('one'), said('two')], 1);
      const atTwo = foldSession((await store.readStream(streamId)).slice(0, 2));
      await projections.save(streamId, tenantId, atTwo, new Date().toISOString());
      const loaded = await states.load(streamId, { keep: false });
      expect(loaded.tail.map((e) => e.version)).toEqual([3]);
      expect(loaded.folded).toEqual(await logFold(streamId));
      expect(states.cached(streamId)).toBeNull();
      states.remember(streamId, loaded.folded);
      expect(states.cached(streamId)).toEqual(loaded.folded);
      states.remember(streamId, atTwo); // an older fold never replaces a newer one
      expect(states.cached(streamId)?.version).toBe(3);
    });

    it('advances a fold with the next events as they are committed, and loads up to them without reading the log', async () => {
      const states = new SessionStates(store, projections);
      const streamId = await newSession();
      await store.append(streamId, tenantId, [said('one')], 1);
      await states.load(streamId);
      const [two] = await store.append(streamId, tenantId, [said('two')], 2);
      expect(states.advance(two)).toBe(true);
      expect(states.advance(two)).toBe(true); // again: covered already, nothing changes
      const reads = jest.spyOn(store, 'readStream');
      try {
        const loaded = await states.load(streamId, { upTo: 3 });
        expect(reads).not.toHaveBeenCalled();
        expect(loaded.tail).toEqual([]);
        expect(loaded.folded).toEqual(await logFold(streamId));
        // an event past a gap: the fold is behind, and the next load reads what it missed
        const [, four] = await store.append(streamId, tenantId, [said('three'), said('four')], 3);
        expect(states.advance(four)).toBe(false);
        expect(states.cached(streamId)?.version).toBe(3);
        reads.mockClear();
        const caught = await states.load(streamId, { upTo: 3 });
        expect(reads).toHaveBeenCalledTimes(1);
        expect(caught.tail.map((e) => e.version)).toEqual([4, 5]);
        expect(caught.folded).toEqual(await logFold(streamId));
      } finally {
        reads.mockRestore();
      }
      // a session it keeps no fold of is not advanced
      const other = await newSession();
      const [first] = await store.append(other, tenantId, [said('hello')], 1);
      expect(states.advance(first)).toBe(false);
      expect(states.cached(other)).toBeNull();
    });

    it('holds a bounded number of folds, each for a bounded time', async () => {
      const two = new SessionStates(store, projections, { maxEntries: 2, maxAgeMs: 60_000 });
      const [a, b, c] = [await newSession(), await newSession(), await newSession()];
      for (const streamId of [a, b, c]) await two.load(streamId);
      expect([two.cached(a), two.cached(b)?.version, two.cached(c)?.version]).toEqual([null, 1, 1]);
      const expired = new SessionStates(store, projections, { maxEntries: 10, maxAgeMs: 0 });
      await expired.load(a);
      expect(expired.cached(a)).toBeNull();
      expect((await expired.load(a)).tail.map((e) => e.version)).toEqual([1]); // read whole again (no row for it)
    });
  });
});
