import { randomUUID } from 'node:crypto';
import { sessionStreamId, type NewEvent } from '@parley/contracts';
import { foldSession } from '@parley/conversation';
import { createTestDatabase, type TestDatabase } from '@parley/testing';
import { connectDatabase, migrateDatabase, type Database } from './database';
import { EventStore } from './event-store';
import { SessionProjectionRepository, SessionStates } from './session-projection.repository';

const tenantId = 'default';
const meta = { tenantId };
const said = (text: string): NewEvent => ({ eventId: randomUUID(), type: 'UserMessageReceived', data: { turnId: randomUUID(), text, requestedMode: 'auto' }, metadata: meta });

describe('SessionStates: a process\'s recent session folds', () => {
  let testDb: TestDatabase;
  let database: Database;
  let store: EventStore;
  let projections: SessionProjectionRepository;

  beforeAll(async () => {
    testDb = await createTestDatabase('session_states');
    await migrateDatabase(testDb.url);
    database = await connectDatabase(testDb.url, { max: 4 });
    store = new EventStore(database.db);
    projections = new SessionProjectionRepository(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  async function newSession(): Promise<string> {
    const sessionId = randomUUID();
    const streamId = sessionStreamId(sessionId);
    await store.append(streamId, tenantId, [{ eventId: randomUUID(), type: 'SessionStarted', data: { sessionId, userId: null, metadata: {} }, metadata: meta }], 'no_stream', {
      newKey: { userId: null },
    });
    return streamId;
  }
  const logFold = async (streamId: string) => foldSession(await store.readStream(streamId));

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
