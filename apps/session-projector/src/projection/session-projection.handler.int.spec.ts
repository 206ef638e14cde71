/** When the projector writes a session's row, against PostgreSQL: on the first event, every 24 events, once quiet, at shutdown. */
import { randomUUID } from 'node:crypto';
import { sessionStreamId, type RecordedEvent } from '@parley/contracts';
import { foldSession } from '@parley/conversation';
import {
  connectDatabase,
  EventStore,
  migrateDatabase,
  SessionProjectionRepository,
  SessionStates,
  type Database,
} from '@parley/event-store';
import { createTestDatabase, turnEvents, waitFor, type TestDatabase } from '@parley/testing';
import { SessionProjectionHandler } from './session-projection.handler';

const tenantId = 'default';
const meta = { tenantId };

describe('the session projector’s write cadence', () => {
  let testDb: TestDatabase;
  let database: Database;
  let store: EventStore;
  let projections: SessionProjectionRepository;

  beforeAll(async () => {
    testDb = await createTestDatabase('projector_cadence');
    await migrateDatabase(testDb.url);
    database = await connectDatabase(testDb.url, { max: 2 });
    store = new EventStore(database.db);
    projections = new SessionProjectionRepository(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  const projector = (quietMs: number) => new SessionProjectionHandler(projections, new SessionStates(store, projections), quietMs);

  /** A new session; its stream id and its first event. */
  async function newSession(): Promise<{ streamId: string; started: RecordedEvent }> {
    const sessionId = randomUUID();
    const streamId = sessionStreamId(sessionId);
    const [started] = await store.append(
      streamId,
      tenantId,
      [{ eventId: randomUUID(), type: 'SessionStarted', data: { sessionId, userId: null, metadata: {} }, metadata: meta }],
      'no_stream',
      {
        newKey: { userId: null },
      },
    );
    return { streamId, started };
  }

  /** Appends a turn and hands its events to the projector as the bus would. */
  async function turnThrough(handler: SessionProjectionHandler, streamId: string, i: number): Promise<void> {
    for (const event of await store.append(streamId, tenantId, turnEvents(i), 'exists')) await handler.project(event);
  }
  const rowVersion = async (streamId: string) => (await projections.load(streamId))?.version ?? null;

  it('writes a session it has not written on its first event, then not again until the session is quiet', async () => {
    const handler = projector(60_000);
    const { streamId, started } = await newSession();
    await handler.project(started);
    expect(await rowVersion(streamId)).toBe(1);
    for (let i = 0; i < 3; i++) await turnThrough(handler, streamId, i);
    expect(await rowVersion(streamId)).toBe(1); // 9 events past it, a minute of quiet not yet gone by
    await handler.onModuleDestroy(); // a stopping projector writes what it holds back
    expect(await rowVersion(streamId)).toBe(10);
    expect((await projections.load(streamId))?.state).toEqual(foldSession(await store.readStream(streamId)).state);
  });

  it('writes the row once the session has been quiet for the configured time', async () => {
    const handler = projector(150);
    const { streamId, started } = await newSession();
    await handler.project(started);
    await turnThrough(handler, streamId, 0);
    expect(await rowVersion(streamId)).toBe(1);
    await waitFor(async () => (await rowVersion(streamId)) === 4, { what: 'the quiet write' });
    await handler.onModuleDestroy();
  });

  it('writes a busy session’s row every 24 events without waiting for quiet', async () => {
    const handler = projector(60_000);
    const { streamId, started } = await newSession();
    await handler.project(started);
    for (let i = 0; i < 8; i++) await turnThrough(handler, streamId, i); // versions 2–25
    expect(await rowVersion(streamId)).toBe(25);
    await turnThrough(handler, streamId, 8);
    expect(await rowVersion(streamId)).toBe(25);
    await handler.onModuleDestroy();
    expect(await rowVersion(streamId)).toBe(28);
  });
});
