import { connectDatabase, DeadLettersRepository, migrateDatabase, type Database } from '@parley/event-store';
import type { StoredEvent } from '@parley/contracts';
import { InProcessBus, serviceConsumer } from '@parley/messaging';
import { createTestDatabase, waitFor, type TestDatabase } from '@parley/testing';
import { randomBytes, randomUUID } from 'node:crypto';
import { busContract } from './transport.contract';

// the in-process bus keeps its dead letters in Postgres: a database of this file's own
let testDb: TestDatabase;
let database: Database;
const buses = new Map<string, InProcessBus>();

beforeAll(async () => {
  testDb = await createTestDatabase('inproc_bus');
  await migrateDatabase(testDb.url);
  database = await connectDatabase(testDb.url);
});
afterAll(async () => {
  await database.close();
  await testDb.drop();
});

busContract('in-process (embedded mode)', {
  prefix: (label) => `inproc_${label}_${randomBytes(3).toString('hex')}`,
  async connect(prefix) {
    let bus = buses.get(prefix);
    if (!bus) buses.set(prefix, (bus = new InProcessBus({ prefix, deadLetters: new DeadLettersRepository(database.db) })));
    // every service of the process shares the one bus; a service closing does not close it
    return { bus, close: async () => undefined };
  },
  async publishRaw(bus, subject, payload) {
    await (bus as InProcessBus).publishRaw(subject, payload);
  },
  async cleanup(prefix) {
    await buses.get(prefix)?.close();
    buses.delete(prefix);
  },
});

describe('the in-process bus beyond the contract', () => {
  it('re-publishes a dead letter that another process (parley dlq retry) asked for, through the table', async () => {
    const prefix = `inproc_retry_${randomBytes(3).toString('hex')}`;
    const table = new DeadLettersRepository(database.db);
    const bus = new InProcessBus({ prefix, deadLetters: table, retryPollMs: 50 });
    try {
      const consumer = await bus.consumer(serviceConsumer(prefix, { name: 'work', deliverFrom: 'all', ackWaitMs: 30_000 }));
      const subject = `${prefix}.events.0.default.session-x.UserMessageReceived.route`;
      await bus.deadLetter({
        service: 'work',
        consumer: 'work',
        subject,
        reason: 'kept failing',
        deliveries: 5,
        failedAt: new Date().toISOString(),
        payload: '{"retried":true}',
      });
      const [letter] = (await table.list()).filter((l) => l.subject === subject);
      expect(await table.requestRetry([letter.seq, 999_999_999])).toEqual([letter.seq]);
      const pulled = await consumer.fetch({ max_messages: 1, expires: 5_000 });
      for await (const msg of pulled) {
        expect(msg.string()).toBe('{"retried":true}');
        msg.ack();
      }
      await waitFor(async () => !(await table.list()).some((l) => l.seq === letter.seq), { what: 'the letter removed' });
    } finally {
      await bus.close();
    }
  });

  it('holds a message until every consumer settled it, and says so to the relay (durable)', async () => {
    const prefix = `inproc_durable_${randomBytes(3).toString('hex')}`;
    const bus = new InProcessBus({ prefix, deadLetters: new DeadLettersRepository(database.db), retryPollMs: 0 });
    try {
      const a = await bus.consumer(serviceConsumer(prefix, { name: 'a', deliverFrom: 'all', ackWaitMs: 30_000 }));
      const b = await bus.consumer(serviceConsumer(prefix, { name: 'b', deliverFrom: 'all', ackWaitMs: 30_000 }));
      const event = storedEvent(prefix);
      await bus.publish([event]);
      let durable = false;
      const settled = bus.durable([event]).then(() => (durable = true));
      const take = async (consumer: typeof a) => {
        for await (const msg of await consumer.fetch({ max_messages: 1, expires: 5_000 })) return msg;
        throw new Error('nothing delivered');
      };
      (await take(a)).ack();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(durable).toBe(false); // b has not settled it: a crash now must find it in the log again
      (await take(b)).term();
      await settled;
      expect(bus.unsettledCount).toBe(0);
    } finally {
      await bus.close();
    }
  });
});

function storedEvent(prefix: string): StoredEvent {
  return {
    eventId: randomUUID(),
    type: 'UserMessageReceived',
    data: { turnId: randomUUID(), text: `hello ${prefix}`, requestedMode: 'auto' },
    metadata: { tenantId: 'default' },
    streamId: 'session-durable',
    version: 1,
    globalPosition: '1',
    recordedAt: new Date().toISOString(),
    schemaVersion: 1,
  } as StoredEvent;
}
