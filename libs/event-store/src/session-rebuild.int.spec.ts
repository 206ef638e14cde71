import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { sessionStreamId, type NewEvent } from '@parley/contracts';
import { foldSession } from '@parley/conversation';
import { createTestDatabase, type TestDatabase } from '@parley/testing';
import { connectDatabase, migrateDatabase, type Database } from './database';
import { EventStore } from './event-store';
import { rebuildSessionProjections, SessionProjectionRepository } from './session-projection.repository';

const tenantId = 'default';
const meta = { tenantId };

function turn(i: number): NewEvent[] {
  const turnId = randomUUID();
  return [
    { eventId: randomUUID(), type: 'UserMessageReceived', data: { turnId, text: `question ${i}`, requestedMode: 'auto' }, metadata: meta },
    { eventId: randomUUID(), type: 'TurnRouted', data: { turnId, mode: 'stateful', route: 'llm', reason: 'session-default-stateful', features: {} }, metadata: meta },
    { eventId: randomUUID(), type: 'AssistantReplied', data: { turnId, text: `answer ${i}`, model: 'm', usage: { promptTokens: 3, completionTokens: 2 }, latencyMs: 1, contextMessages: 2, interrupted: null }, metadata: meta },
  ];
}

describe('rebuilding the session read models', () => {
  let testDb: TestDatabase;
  let database: Database;
  let store: EventStore;
  let projections: SessionProjectionRepository;

  beforeAll(async () => {
    testDb = await createTestDatabase('session_rebuild');
    await migrateDatabase(testDb.url);
    database = await connectDatabase(testDb.url, { max: 4 });
    store = new EventStore(database.db);
    projections = new SessionProjectionRepository(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  async function startSession(turns: number): Promise<string> {
    const sessionId = randomUUID();
    const started: NewEvent = { eventId: randomUUID(), type: 'SessionStarted', data: { sessionId, userId: null, metadata: {} }, metadata: meta };
    await store.append(sessionStreamId(sessionId), tenantId, [started], 'no_stream', { newKey: { userId: null } });
    for (let i = 0; i < turns; i++) await store.append(sessionStreamId(sessionId), tenantId, turn(i), 1 + 3 * i);
    return sessionId;
  }

  it('folds every committed event, also while another transaction is open, into the rows the projector would write', async () => {
    const before = await Promise.all([startSession(3), startSession(1)]);
    // a transaction holding a transaction id, open across the next appends (a slow writer
    // elsewhere): the rebuild must not stop at it as a reader of the live log does
    const other = new Client({ connectionString: testDb.url });
    await other.connect();
    try {
      await other.query('begin');
      await other.query('select pg_current_xact_id()');
      const after = await Promise.all([startSession(2), startSession(40)]);
      const result = await rebuildSessionProjections(database.db);
      expect(result).toMatchObject({ sessions: 4, events: 4 + 3 * (3 + 1 + 2 + 40) });
      for (const sessionId of [...before, ...after]) {
        const folded = foldSession(await store.readStream(sessionStreamId(sessionId)));
        expect(await projections.load(sessionStreamId(sessionId))).toEqual(folded);
      }
    } finally {
      await other.query('rollback');
      await other.end();
    }
  });

  it('gives the same rows when run again', async () => {
    const read = async () => (await database.db.execute('select stream_id, version, state, updated_at from session_projections order by stream_id' as never)).rows;
    await rebuildSessionProjections(database.db);
    const first = await read();
    await rebuildSessionProjections(database.db);
    expect(await read()).toEqual(first);
  });
});
