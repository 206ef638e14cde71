import { jetstream } from '@nats-io/jetstream';
import { connectNats, JetStreamBus } from '@parley/messaging';
import { deleteTestStreams, TEST_NATS_URL, testNatsPrefix } from '@parley/testing';
import { busContract } from './transport.contract';

busContract('NATS JetStream', {
  prefix: testNatsPrefix,
  async connect(prefix) {
    const bus = new JetStreamBus(await connectNats(TEST_NATS_URL, `contract-${prefix}`), prefix);
    return { bus, close: () => bus.close() };
  },
  async publishRaw(bus, subject, payload) {
    await jetstream((bus as JetStreamBus).nc).publish(subject, payload);
  },
  cleanup: (prefix) => deleteTestStreams(prefix),
});
