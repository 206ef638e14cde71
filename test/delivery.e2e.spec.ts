/**
 * Delivery guarantees with the services as processes: the relay backs up the services' own
 * publishing, and repeated messages have no second effect.
 */
import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { eventSubject, type RecordedEvent } from '@parley/contracts';
import { connectDatabase, EventStore, type Database } from '@parley/event-store';
import { startTestCluster, TEST_NATS_URL, waitFor, type TestCluster } from '@parley/testing';

jest.setTimeout(60_000);

describe('delivery through the relay, at most once in effect', () => {
  let t: TestCluster;
  let database: Database;
  let store: EventStore;
  let nc: NatsConnection;

  beforeAll(async () => {
    t = await startTestCluster({
      label: 'delivery',
      script: (request) => {
        const last = String(request.messages.at(-1)?.content ?? '');
        return { text: `answer to: ${last}`, delayMs: last.includes('[slow]') ? 1_500 : 20 };
      },
      env: { PARLEY_RELAY_POLL_MS: '50', PARLEY_ACK_WAIT_MS: '2000' },
    });
    database = await connectDatabase(t.db.url);
    store = new EventStore(database.db);
    nc = await connect({ servers: TEST_NATS_URL });
  });
  afterAll(async () => {
    await nc?.close();
    await database?.close();
    await t?.stop();
  });

  const post = (path: string, body: unknown) => t.post(path, body);
  const eventsOf = (sessionId: string) => store.readStream(`session-${sessionId}`);
  const llmCallsWith = (text: string) => t.llm.requests.filter((r) => r.messages.at(-1)?.content === text).length;

  it('answers a turn whose event was committed but never published (a crash between commit and publish)', async () => {
    const { sessionId } = (await post('/v1/sessions', {})).body;
    const turnId = randomUUID();
    // what ingress would have appended just before dying: in the log, not on the bus
    await store.append(
      `session-${sessionId}`,
      'default',
      [
        {
          eventId: randomUUID(),
          type: 'UserMessageReceived',
          data: { turnId, text: 'orphaned question', requestedMode: 'auto' },
          metadata: { tenantId: 'default' },
        },
      ],
      'exists',
    );
    const events = await waitFor(
      async () => {
        const all = await eventsOf(sessionId);
        return all.some((e) => e.type === 'AssistantReplied') ? all : undefined;
      },
      { what: 'the relay to deliver the orphaned turn', timeoutMs: 15_000 },
    );
    expect(events.map((e) => e.type)).toEqual(['SessionStarted', 'UserMessageReceived', 'TurnRouted', 'AssistantReplied']);
    expect(events[3].data).toMatchObject({ turnId, text: 'answer to: orphaned question' });
  });

  it('applies a message re-published after the duplicate window at most once: no second route, no second LLM call', async () => {
    const { sessionId } = (await post('/v1/sessions', {})).body;
    expect((await post(`/v1/sessions/${sessionId}/turns`, { text: 'only once please' })).status).toBe(200);
    const before = await eventsOf(sessionId);
    const message = before.find((e) => e.type === 'UserMessageReceived') as RecordedEvent;
    const routed = before.find((e) => e.type === 'TurnRouted') as RecordedEvent;
    expect(llmCallsWith('only once please')).toBe(1);

    // the same events again, under new message ids: JetStream cannot de-duplicate them
    const js = jetstream(nc);
    for (const event of [message, routed]) {
      await js.publish(eventSubject(t.prefix, event), JSON.stringify(event), { msgID: randomUUID() });
    }
    // a later turn of the same session is handled after them (same partition, in order)
    expect((await post(`/v1/sessions/${sessionId}/turns`, { text: 'and a follow-up' })).status).toBe(200);

    const after = await eventsOf(sessionId);
    expect(after.map((e) => e.type)).toEqual([
      'SessionStarted',
      'UserMessageReceived',
      'TurnRouted',
      'AssistantReplied',
      'UserMessageReceived',
      'TurnRouted',
      'AssistantReplied',
    ]);
    expect(llmCallsWith('only once please')).toBe(1);
  });

  it('redelivers a turn whose responder was killed mid-answer, and records one answer', async () => {
    const { sessionId } = (await post('/v1/sessions', {})).body;
    const turn = post(`/v1/sessions/${sessionId}/turns`, { text: 'interrupted [slow]' });
    await waitFor(() => llmCallsWith('interrupted [slow]') === 1, { what: 'the LLM call to start' });
    await t.cluster.kill('responder'); // SIGKILL while the LLM is still answering: nothing acked
    t.cluster.startService('responder');
    const answered = await turn; // the same HTTP request, answered after redelivery
    expect(answered.status).toBe(200);
    expect(answered.body.reply.text).toBe('answer to: interrupted [slow]');
    const events = await eventsOf(sessionId);
    expect(events.filter((e) => e.type === 'AssistantReplied')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'TurnRouted')).toHaveLength(1);
    expect(llmCallsWith('interrupted [slow]')).toBe(2); // the killed call, and the one after redelivery
    await t.cluster.waitUntilReady();
  });

  it('lands two concurrent turns of one session, both answered, in a definite order', async () => {
    const { sessionId } = (await post('/v1/sessions', {})).body;
    const [a, b] = await Promise.all([
      post(`/v1/sessions/${sessionId}/turns`, { text: 'first voice' }),
      post(`/v1/sessions/${sessionId}/turns`, { text: 'second voice' }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const events = await eventsOf(sessionId);
    expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1));
    const said = events.filter((e) => e.type === 'UserMessageReceived').map((e) => (e.data as { text: string }).text);
    expect(said.sort()).toEqual(['first voice', 'second voice']);
    const replies = events.filter((e) => e.type === 'AssistantReplied').map((e) => (e.data as { turnId: string }).turnId);
    expect(new Set(replies)).toEqual(new Set([a.body.turnId, b.body.turnId]));
  });
});
