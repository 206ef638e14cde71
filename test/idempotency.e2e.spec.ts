/** Retried turn requests (same Idempotency-Key) return the original turn instead of starting another. */
import { freePort, startTestCluster, waitFor, type TestCluster } from '@parley/testing';

jest.setTimeout(60_000);

describe('Idempotency-Key on turn requests', () => {
  let t: TestCluster;
  let counter = 0;
  // the model holds a '[held]' question until the test lets it answer: no timing in the tests
  let release = () => undefined as void;
  let gate: Promise<void> = Promise.resolve();
  const hold = () => (gate = new Promise<void>((resolve) => (release = resolve)));

  beforeAll(async () => {
    t = await startTestCluster({
      label: 'idempotency',
      script: async (request) => {
        const last = String(request.messages.at(-1)?.content ?? '');
        counter += 1;
        const n = counter;
        if (last.includes('[held]')) await gate;
        return { text: `answer #${n} to: ${last}` };
      },
    });
  });
  afterAll(() => t?.stop());

  const post = (path: string, body: unknown, key?: string) => t.post(path, body, key === undefined ? {} : { 'idempotency-key': key });
  const events = async (sessionId: string) => (await t.get(`/v1/sessions/${sessionId}/events`)).body.events as { type: string }[];
  const llmCallsWith = (text: string) => t.llm.requests.filter((r) => r.messages.at(-1)?.content === text).length;
  /** Turn requests an ingress holds open, from its own metrics. */
  const openTurns = async (base: string) =>
    Number(/^parley_open_turns(?:\{[^}]*\})? (\d+)/m.exec(await (await fetch(`${base}/metrics`)).text())?.[1] ?? NaN);

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
    hold();
    const first = post(`/v1/sessions/${sessionId}/turns`, { text: 'think hard [held]' }, 'key-2');
    // the first is being answered: the model has it, and holds it
    await waitFor(() => llmCallsWith('think hard [held]') === 1, { what: 'the model to be asked' });
    const retry = post(`/v1/sessions/${sessionId}/turns`, { text: 'think hard [held]' }, 'key-2');
    // the retry is in: ingress holds both requests open, one of them waiting on the other's turn
    await waitFor(async () => (await openTurns(t.baseUrl)) === 2, { what: 'ingress to hold both requests' });
    release();
    const [a, b] = await Promise.all([first, retry]);
    expect(a.status).toBe(200);
    expect(b).toEqual(a);
    expect(llmCallsWith('think hard [held]')).toBe(1);
    expect((await events(sessionId)).map((e) => e.type)).toEqual([
      'SessionStarted',
      'UserMessageReceived',
      'TurnRouted',
      'AssistantReplied',
    ]);
  });

  it('joins a retry sent to another ingress instance while the first is still being answered', async () => {
    const port = await freePort();
    t.cluster.startReplica('ingress', { PORT: String(port) });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.ok, {
      what: 'second ingress',
      timeoutMs: 20_000,
    });
    const { sessionId } = (await post('/v1/sessions', {})).body;
    hold();
    const first = post(`/v1/sessions/${sessionId}/turns`, { text: 'elsewhere [held]' }, 'key-5');
    await waitFor(() => llmCallsWith('elsewhere [held]') === 1, { what: 'the model to be asked' });
    const other = `http://127.0.0.1:${port}`;
    const retry = fetch(`${other}/v1/sessions/${sessionId}/turns`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'key-5', authorization: `Bearer ${t.apiKey}` },
      body: JSON.stringify({ text: 'elsewhere [held]' }),
    }).then(async (res) => ({ status: res.status, body: (await res.json()) as any }));
    // the other instance holds the retry open, waiting on the first request's turn
    await waitFor(async () => (await openTurns(other)) === 1, { what: 'the second ingress to hold the retry' });
    release();
    const [a, b] = await Promise.all([first, retry]);
    expect(a.status).toBe(200);
    expect(b).toEqual(a);
    expect(llmCallsWith('elsewhere [held]')).toBe(1);
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
