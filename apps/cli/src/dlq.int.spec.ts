/** `parley dlq` as a separate process against the real NATS. */
import { jetstreamManager } from '@nats-io/jetstream';
import {
  connectNats,
  ensureDeadLetterStream,
  ensureEventsStream,
  listDeadLetters,
  publishDeadLetter,
  type NatsConnection,
} from '@parley/messaging';
import { deleteTestStreams, runCli, TEST_NATS_URL, testNatsPrefix, waitFor } from '@parley/testing';

describe('parley dlq', () => {
  const prefix = testNatsPrefix('dlqcli');
  const env = { NATS_URL: TEST_NATS_URL, PARLEY_NATS_PREFIX: prefix };
  let nc: NatsConnection;

  beforeAll(async () => {
    nc = await connectNats(TEST_NATS_URL, 'dlq-cli-test');
    await ensureDeadLetterStream(await ensureEventsStream(nc, prefix), prefix);
  });
  afterAll(async () => {
    await nc.close();
    await deleteTestStreams(prefix);
  });

  const letter = (n: number) => ({
    service: 'router',
    consumer: 'router-p1',
    subject: `${prefix}.events.1.default.session-x.UserMessageReceived`,
    reason: `UserMessageReceived session-x@${n} kept failing: database on fire`,
    deliveries: 5,
    failedAt: '2026-11-25T09:00:00.000Z',
    payload: JSON.stringify({ type: 'UserMessageReceived', streamId: 'session-x', version: n }),
  });

  it('lists dead letters with their reason, as text and JSON', async () => {
    expect((await runCli(['dlq', 'list'], env)).stdout).toContain('No dead letters.');
    await publishDeadLetter(nc, prefix, letter(1));
    await publishDeadLetter(nc, prefix, letter(2));
    const text = await runCli(['dlq', 'list'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('#1');
    expect(text.stdout).toContain('UserMessageReceived session-x@2');
    expect(text.stdout).toContain('kept failing: database on fire');
    const json = JSON.parse((await runCli(['dlq', 'list', '--json'], env)).stdout);
    expect(json.map((l: { seq: number }) => l.seq)).toEqual([1, 2]);
  });

  it('re-publishes one on its original subject and removes it', async () => {
    const received: string[] = [];
    const sub = nc.subscribe(`${prefix}.events.>`, { callback: (_, m) => void received.push(m.string()) });
    const retried = await runCli(['dlq', 'retry', '1'], env);
    expect(retried).toMatchObject({ code: 0, stdout: expect.stringContaining('Re-published 1 dead letter.') });
    await waitFor(() => received.length === 1, { what: 'the re-published message' });
    expect(JSON.parse(received[0])).toMatchObject({ version: 1 });
    expect((await listDeadLetters(await jetstreamManager(nc), prefix)).map((l) => l.seq)).toEqual([2]);
    sub.unsubscribe();
  });

  it('explains bad requests', async () => {
    expect(await runCli(['dlq', 'retry', '99'], env)).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('No dead letter with sequence 99'),
    });
    expect((await runCli(['dlq', 'retry'], env)).code).toBe(2);
    expect((await runCli(['dlq', 'retry', 'x'], env)).code).toBe(2);
    expect((await runCli(['dlq', 'purge'], env)).code).toBe(2);
    const down = await runCli(['dlq', 'list'], { ...env, NATS_URL: 'nats://127.0.0.1:1' });
    expect(down).toMatchObject({ code: 1, stderr: expect.stringContaining('Cannot reach NATS at nats://127.0.0.1:1') });
  });
});
