/**
 * Parley's streams on a NATS cluster (three nats-servers of the test's own): kept at
 * PARLEY_STREAM_REPLICAS copies, changed to it when they exist with another, still taking events
 * when the stream's leader is killed, through a client that names every node in NATS_URL.
 */
import { jetstream } from '@nats-io/jetstream';
import { deadLetterStreamName, eventsStreamName } from '@parley/contracts';
import { deleteTestStreams, NatsCluster, TEST_NATS_URL, testNatsPrefix, waitFor } from '@parley/testing';
import { ensureDeadLetterStream } from './dead-letters';
import { connectNats, type NatsConnection } from './nats-connection';
import { ensureEventsStream } from './topology';

jest.setTimeout(60_000);

describe('streams on a NATS cluster', () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;

  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
    nc = await connectNats(cluster.url, 'replicas-test');
  });
  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  it('are created with PARLEY_STREAM_REPLICAS copies, and an existing one is changed to it', async () => {
    const jsm = await ensureEventsStream(nc, 'rep1', 3);
    await ensureDeadLetterStream(jsm, 'rep1', 3);
    for (const name of [eventsStreamName('rep1'), deadLetterStreamName('rep1')]) {
      const info = await jsm.streams.info(name);
      expect(info.config.num_replicas).toBe(3);
      expect(info.cluster?.replicas).toHaveLength(2);
    }
    await ensureEventsStream(nc, 'rep2', 1);
    expect((await jsm.streams.info(eventsStreamName('rep2'))).config.num_replicas).toBe(1);
    await ensureEventsStream(nc, 'rep2', 3);
    expect((await jsm.streams.info(eventsStreamName('rep2'))).config.num_replicas).toBe(3);
  });

  it("keep taking events when the stream's leader is killed", async () => {
    const jsm = await ensureEventsStream(nc, 'rep1', 3);
    const js = jetstream(nc);
    expect((await js.publish('rep1.events.x', 'before')).stream).toBe(eventsStreamName('rep1'));
    const leader = (await jsm.streams.info(eventsStreamName('rep1'))).cluster!.leader!;
    await cluster.kill(leader);
    // a new leader is elected among the two left; the client moves off the dead node on its own
    const ack = await waitFor(() => js.publish('rep1.events.x', 'after', { msgID: 'after-1' }).catch(() => undefined), {
      what: 'a publish acknowledged by the new leader',
      timeoutMs: 30_000,
    });
    expect(ack.seq).toBe(2);
    const info = await jsm.streams.info(eventsStreamName('rep1'));
    expect(info.cluster!.leader).not.toBe(leader);
    expect(info.state.messages).toBe(2);
    await cluster.revive(leader);
  });

  it('connect through a NATS_URL whose first server does not answer', async () => {
    const other = await connectNats(`nats://127.0.0.1:1,${cluster.urlOf('n2')}`, 'second-choice');
    expect(other.isClosed()).toBe(false);
    await other.close();
  });

  it('cannot have 3 copies on a single server: the service is told, naming the setting', async () => {
    const prefix = testNatsPrefix('rep3');
    const single = await connectNats(TEST_NATS_URL, 'single');
    try {
      await expect(ensureEventsStream(single, prefix, 3)).rejects.toThrow(/cannot have 3 replica\(s\) \(PARLEY_STREAM_REPLICAS\)/);
    } finally {
      await single.close();
      await deleteTestStreams(prefix);
    }
  });
});
