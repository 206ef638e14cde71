import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { eventsStreamName, type NewEvent } from '@parley/contracts';
import {
  connectDatabase,
  DataKeys,
  EventStore,
  LOG_START,
  LogCheckpoints,
  migrateDatabase,
  readLogAfter,
  type Database,
} from '@parley/event-store';
import { connectNats, ensureEventsStream, JetStreamBus, type NatsConnection } from '@parley/messaging';
import { createTestDatabase, deleteTestStreams, TEST_NATS_URL, testNatsPrefix, waitFor, type TestDatabase } from '@parley/testing';
import { LogRelay, RELAY_CHECKPOINT, type Unpublishable } from './log-relay';
import { RelayLeader } from './relay-leader';

const said = (text: string): NewEvent => ({
  eventId: randomUUID(),
  type: 'UserMessageReceived',
  data: { turnId: randomUUID(), text, requestedMode: 'auto' },
  metadata: { tenantId: 'default' },
});

const nothingSetAside = async (u: Unpublishable) => {
  throw new Error(`unexpected: ${u.event.eventId} set aside (${u.reason})`);
};

describe('the log → JetStream relay', () => {
  const prefix = testNatsPrefix('relay');
  let testDb: TestDatabase;
  let database: Database;
  let store: EventStore;
  let nc: NatsConnection;
  let publisher: JetStreamBus;

  beforeAll(async () => {
    testDb = await createTestDatabase('relay');
    await migrateDatabase(testDb.url);
    database = await connectDatabase(testDb.url);
    store = new EventStore(database.db);
    nc = await connectNats(TEST_NATS_URL, 'relay-test');
    await ensureEventsStream(nc, prefix);
    publisher = new JetStreamBus(nc, prefix);
  });
  afterAll(async () => {
    await nc?.close();
    await deleteTestStreams(prefix);
    await database?.close();
    await testDb?.drop();
  });

  /** Event ids in the JetStream stream, in stream order. */
  async function streamEventIds(): Promise<string[]> {
    const jsm = await jetstreamManager(nc);
    const { state } = await jsm.streams.info(eventsStreamName(prefix));
    const ids: string[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const message = await jsm.streams.getMessage(eventsStreamName(prefix), { seq });
      if (message) ids.push((message.json() as { eventId: string }).eventId);
    }
    return ids;
  }

  it('survives a crash between publishing and saving its checkpoint: nothing lost, nothing doubled', async () => {
    const appended = [];
    for (let i = 0; i < 12; i++) appended.push(...(await store.append(`session-c${i % 3}-${i}`, 'default', [said(`m${i}`)], 'no_stream')));

    // pg_snapshot_xmin is cluster-wide: another database's open transaction can briefly hide ours
    await waitFor(async () => (await readLogAfter(database.db, LOG_START, 100)).events.length >= 12, { what: 'events visible' });
    const crashing = new LogCheckpoints(database.db);
    crashing.save = async () => {
      throw new Error('simulated crash after publish, before checkpoint');
    };
    const first = new LogRelay(database.db, publisher, nothingSetAside, crashing, 5);
    await first.resume();
    await expect(first.relayBatch()).rejects.toThrow('simulated crash');
    expect((await streamEventIds()).length).toBe(5); // published, but not checkpointed

    // restart: resumes from the old checkpoint and publishes the first five again
    const restarted = new LogRelay(database.db, publisher, nothingSetAside, new LogCheckpoints(database.db), 5);
    await restarted.resume();
    await waitFor(async () => (await restarted.relayBatch()) === 0 && (await streamEventIds()).length >= 12, { what: 'relay caught up' });
    const ids = await streamEventIds();
    expect(ids).toHaveLength(12);
    expect(new Set(ids)).toEqual(new Set(appended.map((e) => e.eventId)));

    // and from its checkpoint on, only new events go out
    const later = await store.append('session-later', 'default', [said('later')], 'no_stream');
    const again = new LogRelay(database.db, publisher, nothingSetAside, new LogCheckpoints(database.db), 5);
    await again.resume();
    await waitFor(async () => (await again.relayBatch()) === 1, { what: 'the later event' });
    expect((await streamEventIds()).at(-1)).toBe(later[0].eventId);
    expect(await new LogCheckpoints(database.db).load(RELAY_CHECKPOINT)).toMatchObject({ globalPosition: later[0].globalPosition });
  });

  it('runs one active relay at a time; a standby takes over when it stops', async () => {
    const states: string[] = [];
    const a = new RelayLeader({
      databaseUrl: testDb.url,
      publisher,
      setAside: nothingSetAside,
      pollMs: 20,
      standbyMs: 100,
      onStateChange: (s) => states.push(`a:${s}`),
    });
    const b = new RelayLeader({
      databaseUrl: testDb.url,
      publisher,
      setAside: nothingSetAside,
      pollMs: 20,
      standbyMs: 100,
      onStateChange: (s) => states.push(`b:${s}`),
    });
    a.start();
    await waitFor(() => a.isActive, { what: 'a active' });
    b.start();
    await waitFor(() => states.includes('b:standby'), { what: 'b standby' });
    expect(a.isActive && !b.isActive).toBe(true);

    const before = (await streamEventIds()).length;
    await store.append('session-failover-1', 'default', [said('while a leads')], 'no_stream');
    await waitFor(async () => (await streamEventIds()).length === before + 1, { what: 'a relays' });

    await a.stop();
    await waitFor(() => b.isActive, { what: 'b takes over' });
    const handedOver = await store.append('session-failover-2', 'default', [said('after failover')], 'no_stream');
    await waitFor(async () => (await streamEventIds()).at(-1) === handedOver[0].eventId, { what: 'b relays' });
    expect((await streamEventIds()).length).toBe(before + 2);
    await b.stop();
  });

  it('sets aside an event the bus cannot carry, says so, and goes on with the log behind it', async () => {
    // written by code that did not check sizes (appends now refuse it): 1.2 MB, over NATS's 1 MiB max_payload
    const unchecked = new EventStore(database.db, new DataKeys(), { maxEventBytes: 4 * 1024 * 1024 });
    const [huge] = await unchecked.append('session-huge', 'default', [said('x'.repeat(1_200_000))], 'no_stream');
    const [after] = await store.append('session-after-huge', 'default', [said('behind the huge one')], 'no_stream');
    const setAside: Unpublishable[] = [];
    const leader = new RelayLeader({
      databaseUrl: testDb.url,
      publisher,
      setAside: async (u) => void setAside.push(u),
      pollMs: 20,
      standbyMs: 100,
    });
    leader.start();
    try {
      await waitFor(async () => (await streamEventIds()).includes(after.eventId), {
        what: 'the event behind the huge one',
        timeoutMs: 15_000,
      });
      expect(setAside.map((u) => u.event.eventId)).toEqual([huge.eventId]);
      expect(setAside[0].reason).toMatch(/max_payload/);
      expect(setAside[0].reason).not.toContain('xxxx'); // the reason names the failure, not the data
      expect(leader.health()).toEqual({ warning: expect.stringContaining('1 event(s) could not be published and were dead-lettered') });
      expect(await streamEventIds()).not.toContain(huge.eventId);
    } finally {
      await leader.stop();
    }
  });
});
