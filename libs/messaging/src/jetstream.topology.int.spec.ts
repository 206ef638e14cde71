import { randomUUID } from 'node:crypto';
import { eventsStreamName, type RecordedEvent } from '@parley/contracts';
import { deleteTestStreams, TEST_NATS_URL, testNatsPrefix } from '@parley/testing';
import { AckPolicy, jetstream } from '@nats-io/jetstream';
import { JetStreamBus } from './jetstream.bus';
import { connectNats, type NatsConnection } from './nats-connection';
import { ensureConsumer, ensureEventsStream, serviceConsumer } from './topology';

// The delivery contract itself runs against JetStream in libs/runtime (jetstream.contract.int.spec.ts);
// these are what only JetStream has.
const event = (streamId: string, text: string): RecordedEvent => ({
  eventId: randomUUID(),
  type: 'UserMessageReceived',
  data: { turnId: randomUUID(), text, requestedMode: 'auto' },
  metadata: { tenantId: 'default' },
  streamId,
  version: 1,
  globalPosition: '1',
  recordedAt: new Date().toISOString(),
  schemaVersion: 1,
});

describe('JetStream topology', () => {
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connectNats(TEST_NATS_URL, 'topology-test');
  });
  afterAll(async () => {
    await nc.close();
  });

  it('replaces the durables of the partitioned layout, starting where the least advanced one stood', async () => {
    const legacyPrefix = testNatsPrefix('legacy');
    const jsm = await ensureEventsStream(nc, legacyPrefix);
    try {
      const stream = eventsStreamName(legacyPrefix);
      const publisher = new JetStreamBus(nc, legacyPrefix);
      await publisher.publish(Array.from({ length: 6 }, (_, i) => event(`session-legacy-${i}`, `old ${i}`)));
      // two partition durables of the old layout: one has acknowledged everything, one the first two messages
      for (const [name, acked] of [
        ['work-p0', 6],
        ['work-p1', 2],
      ] as const) {
        await jsm.consumers.add(stream, { durable_name: name, ack_policy: AckPolicy.Explicit, filter_subject: `${legacyPrefix}.events.>` });
        const consumer = await jetstream(nc).consumers.get(stream, name);
        const batch = await consumer.fetch({ max_messages: acked, expires: 2_000 });
        for await (const msg of batch) await msg.ackAck();
      }
      await ensureConsumer(jsm, legacyPrefix, serviceConsumer(legacyPrefix, { name: 'work', deliverFrom: 'all', ackWaitMs: 30_000 }));
      const names: string[] = [];
      for await (const info of jsm.consumers.list(stream)) names.push(info.name);
      expect(names).toEqual(['work']);
      const info = await jsm.consumers.info(stream, 'work');
      expect(info.config.opt_start_seq).toBe(3);
      expect(info.num_pending).toBe(4);
    } finally {
      await deleteTestStreams(legacyPrefix);
    }
  });

  it('fails fast with a clear message when NATS is unreachable', async () => {
    await expect(connectNats('nats://127.0.0.1:1', 'x')).rejects.toThrow(/Cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});
