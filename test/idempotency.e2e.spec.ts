/** Retried turn requests (same Idempotency-Key) return the original turn instead of starting another. */
import { freePort, startTestCluster, waitFor, type TestCluster } from '@parley/testing';

jest.setTimeout(60_000);

describe('Idempotency-Key on turn requests', () => {
  let t: TestCluster;
  let counter = 0;

  beforeAll(async () => {
    t = await startTestCluster({
      label: 'idempotency',
      script: (request) => {
        const last = String(request.messages.at(-1)?.content ?? '');
        counter += 1;
        return { text: `answer #${counter} to: ${last}`, delayMs: last.includes('[slow]') ? 800 : 0 };
      },
    });
  });
  afterAll(() => t?.stop());

  const post = (path: string, body: unknown, key?: string) => t.post(path, body, key === undefined ? {} : { 'idempotency-key': key });
  const events = async (sessionId: string) =>
    (await t.get(`/v1/sessions/${sessionId}/events`)).body.events as { type: string }[];
  const llmCallsWith = (text: string) => t.llm.requests.filter((r) => r.messages.at(-1)?.content === text).length;

  it('returns the original result for a retry after the turn was answered', async () => {
    const { sessionId } = (await post('/v1/sessions', {})).body;
    const first = await post(`/v1/sessions/${sessionId}/turns`, { text: 'book it' }, 'key-1');
    const retry = await post(`/v1/sessions/${sessionId}/turns`, { text: 'book it' }, 'key-1');
    expect(first.status).toBe(200);
    expect(retry).toEqual(first);
    expect((await events(sessionId)).filter((e) => e.type === 'UserMessageReceived')).toHaveLength(1);
    expect(llmCallsWith('book it')).toBe(1);
  });

  it('joins a retry that arrives while the first request is still being answered', async () => {
    const { sessionId } = (await post('/v1/sessions', {})).body;
    const first = post(`/v1/sessions/${sessionId}/turns`, { text: 'think hard [slow]' }, 'key-2');
    await new Promise((r) => setTimeout(r, 200));
    const retry = post(`/v1/sessions/${sessionId}/turns`, { text: 'think hard [slow]' }, 'key-2');
    const [a, b] = await Promise.all([first, retry]);
    expect(a.status).toBe(200);
    expect(b).toEqual(a);
    expect(llmCallsWith('think hard [slow]')).toBe(1);
    expect((await events(sessionId)).map((e) => e.type)).toEqual(['SessionStarted', 'UserMessageReceived', 'TurnRouted', 'AssistantReplied']);
  });

  it('joins a retry sent to another ingress instance while the first is still being answered', async () => {
    const port = await freePort();
    t.cluster.startReplica('ingress', { PORT: String(port) });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.ok, { what: 'second ingress', timeoutMs: 20_000 });
    const { sessionId } = (await post('/v1/sessions', {})).body;
    const first = post(`/v1/sessions/${sessionId}/turns`, { text: 'elsewhere [slow]' }, 'key-5');
    await new Promise((r) => setTimeout(r, 200));
    const retry = fetch(`http://127.0.0.1:${port}/v1/sessions/${sessionId}/turns`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'key-5', authorization: `Bearer ${t.apiKey}` },
      body: JSON.stringify({ text: 'elsewhere [slow]' }),
    }).then(async (res) => ({ status: res.status, body: (await res.json()) as any }));
    const [a, b] = await Promise.all([first, retry]);
    expect(a.status).toBe(200);
    expect(b).toEqual(a);
    expect(llmCallsWith('elsewhere [slow]')).toBe(1);
  });

  it('scopes keys to the session, and refuses a key reused for a different request', async () => {
    const { sessionId } = (await post('/v1/sessions', {})).body;
    const other = (await post('/v1/sessions', {})).body.sessionId;
    const a = await post(`/v1/sessions/${sessionId}/turns`, { text: 'hello' }, 'key-3');
    const b = await post(`/v1/sessions/${other}/turns`, { text: 'hello' }, 'key-3');
    expect(a.body.turnId).not.toBe(b.body.turnId);
    const reused = await post(`/v1/sessions/${sessionId}/turns`, { text: 'something else' }, 'key-3');
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe('IDEMPOTENCY.KEY_REUSED');
  });

  it('makes stateless turns idempotent too, and validates the header', async () => {
    const first = await post('/v1/turns', { text: 'opening hours?' }, 'key-4');
    const retry = await post('/v1/turns', { text: 'opening hours?' }, 'key-4');
    expect(retry).toEqual(first);
    expect(llmCallsWith('opening hours?')).toBe(1);
    const bad = await post('/v1/turns', { text: 'x' }, 'has space');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'REQUEST.INVALID', message: expect.stringContaining('Idempotency-Key') });
  });
});
