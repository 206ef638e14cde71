/** A worker's health against the real Postgres and NATS: its database answers, its consumer makes progress. */
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { StoredEvent } from '@parley/contracts';
import { connectDatabase, type Database } from '@parley/event-store';
import { ensureConsumer, ensureEventsStream, JetStreamBus, serviceConsumer } from '@parley/messaging';
import { createTestDatabase, deleteTestStreams, TEST_NATS_URL, testNatsPrefix, waitFor, type TestDatabase } from '@parley/testing';
import { Metrics } from './metrics';
import { WorkerMonitor } from './worker-monitor';

const prefix = testNatsPrefix('monitor');

const stored = (): StoredEvent => ({
  eventId: randomUUID(),
  type: 'UserMessageReceived',
  data: { turnId: randomUUID(), text: 'x', requestedMode: 'auto' },
  metadata: { tenantId: 'default' },
  streamId: `session-${randomUUID()}`,
  version: 1,
  globalPosition: '1',
  recordedAt: new Date().toISOString(),
  schemaVersion: 1,
});

describe('WorkerMonitor', () => {
  let testDb: TestDatabase;
  let database: Database;
  let nc: NatsConnection;

  beforeAll(async () => {
    testDb = await createTestDatabase('monitor');
    database = await connectDatabase(testDb.url);
    nc = await connect({ servers: TEST_NATS_URL });
    const jsm = await ensureEventsStream(nc, prefix);
    await ensureConsumer(jsm, prefix, serviceConsumer(prefix, { name: 'work', deliverFrom: 'all', ackWaitMs: 30_000 }));
  });
  afterAll(async () => {
    await nc.close();
    await deleteTestStreams(prefix);
    await database.close().catch(() => undefined);
    await testDb.drop();
  });

  it('is ready while its database answers and its consumer has nothing waiting; the gauges show the consumer', async () => {
    const metrics = new Metrics('probe');
    const monitor = new WorkerMonitor(
      { database, bus: new JetStreamBus(nc, prefix), metrics },
      ['work'],
      () => ({ warning: 'something to look at' }),
      300,
    );
    monitor.start(50);
    try {
      await waitFor(
        async () => (await metrics.registry.getSingleMetricAsString('parley_consumer_pending_messages')).includes('consumer="work"'),
        { what: 'the gauge' },
      );
      expect(monitor.health()).toEqual({ warning: 'something to look at' });
    } finally {
      monitor.stop();
    }
  });

  it('is stalled once messages wait and none is handled for a while, and ready again once one is', async () => {
    const metrics = new Metrics('probe');
    const monitor = new WorkerMonitor({ database, bus: new JetStreamBus(nc, prefix), metrics }, ['work'], undefined, 300);
    monitor.start(50);
    try {
      await new JetStreamBus(nc, prefix).publish([stored(), stored()]);
      await waitFor(() => monitor.health().problem !== undefined, { what: 'the stall', timeoutMs: 5_000 });
      expect(monitor.health().problem).toMatch(/^consumer work stalled: 2 message\(s\) waiting, none handled for \d+ s$/);
      expect((await metrics.text()).body).toContain('parley_consumer_pending_messages{consumer="work",service="probe"} 2');
      monitor.settled('UserMessageReceived', 'ok');
      expect(monitor.health()).toEqual({});
      expect((await metrics.text()).body).toContain('parley_messages_total{type="UserMessageReceived",result="ok",service="probe"} 1');
    } finally {
      monitor.stop();
    }
  });

  it('is not ready when its database stops answering', async () => {
    const lost = await connectDatabase(testDb.url);
    await lost.close(); // every later query fails, as with a database that went away
    const monitor = new WorkerMonitor({ database: lost, bus: new JetStreamBus(nc, prefix), metrics: new Metrics('probe') }, []);
    monitor.start(50);
    try {
      await waitFor(() => monitor.health().problem !== undefined, { what: 'the database problem' });
      expect(monitor.health().problem).toMatch(/^postgres not answering: /);
    } finally {
      monitor.stop();
    }
  });
});
