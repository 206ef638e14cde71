/**
 * The whole turn path with every service as its own process, against the real Postgres and NATS
 * and a scripted OpenAI-compatible LLM over HTTP.
 */
import {
  createTestDatabase,
  runApp,
  runCli,
  startTestCluster,
  TEST_NATS_URL,
  testNatsPrefix,
  waitFor,
  type ChatRequest,
  type TestCluster,
} from '@parley/testing';

jest.setTimeout(60_000);

const SYSTEM = 'You are the test concierge.';

describe('a turn end to end through the services as processes', () => {
  let t: TestCluster;

  beforeAll(async () => {
    t = await startTestCluster({
      label: 'turns',
      script: (request) => {
        const last = String(request.messages.at(-1)?.content ?? '');
        if (last.includes('[fail]')) return { status: 500 };
        if (last.includes('[slow]')) return { text: 'too late', delayMs: 2_500 };
        return { text: `reply to: ${last}` };
      },
      env: {
        PARLEY_MODEL: 'scripted-model',
        PARLEY_SYSTEM_PROMPT: SYSTEM,
        PARLEY_LLM_TIMEOUT_MS: '1000',
        PARLEY_LLM_MAX_RETRIES: '0',
      },
    });
  });
  afterAll(() => t?.stop());

  const post = (path: string, body: unknown) => t.post(path, body);
  const get = (path: string) => t.get(path);
  /** The LLM request whose last message is this user text. */
  const llmRequestFor = (text: string): ChatRequest => {
    const found = t.llm.requests.find((r) => r.messages.at(-1)?.content === text);
    if (!found) throw new Error(`The LLM never saw "${text}"`);
    return found;
  };

  it('answers a two-turn stateful conversation, each turn seeing the whole transcript in order', async () => {
    const created = await post('/v1/sessions', { userId: 'user-42', metadata: { channel: 'voice' } });
    expect(created.status).toBe(201);
    const { sessionId } = created.body;

    const first = await post(`/v1/sessions/${sessionId}/turns`, { text: 'I need a table for two' });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      turnId: expect.any(String),
      sessionId,
      reply: { text: 'reply to: I need a table for two' },
      route: { mode: 'stateful', reason: 'session-default-stateful' },
      usage: { promptTokens: expect.any(Number), completionTokens: expect.any(Number) },
    });
    const second = await post(`/v1/sessions/${sessionId}/turns`, { text: 'Friday at 7 please' });
    expect(second.status).toBe(200);

    expect(llmRequestFor('I need a table for two').messages).toEqual([
      { role: 'system', content: SYSTEM },
      { role: 'user', content: 'I need a table for two' },
    ]);
    expect(llmRequestFor('Friday at 7 please')).toMatchObject({
      model: 'scripted-model',
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: 'I need a table for two' },
        { role: 'assistant', content: 'reply to: I need a table for two' },
        { role: 'user', content: 'Friday at 7 please' },
      ],
    });

    const state = await get(`/v1/sessions/${sessionId}`);
    expect(state.status).toBe(200);
    expect(state.body).toMatchObject({ sessionId, userId: 'user-42', metadata: { channel: 'voice' }, version: 7 });
    expect(state.body.messages.map((m: any) => [m.role, m.text, m.turnId])).toEqual([
      ['user', 'I need a table for two', first.body.turnId],
      ['assistant', 'reply to: I need a table for two', first.body.turnId],
      ['user', 'Friday at 7 please', second.body.turnId],
      ['assistant', 'reply to: Friday at 7 please', second.body.turnId],
    ]);

    const events = await get(`/v1/sessions/${sessionId}/events`);
    expect(events.body.events.map((e: any) => [e.version, e.type])).toEqual([
      [1, 'SessionStarted'],
      [2, 'UserMessageReceived'],
      [3, 'TurnRouted'],
      [4, 'AssistantReplied'],
      [5, 'UserMessageReceived'],
      [6, 'TurnRouted'],
      [7, 'AssistantReplied'],
    ]);

    // replay, as a separate process reading the log, rebuilds exactly the state the API shows
    const replay = await runCli(['replay', sessionId, '--json'], { DATABASE_URL: t.db.url });
    expect(replay.code).toBe(0);
    const replayed = JSON.parse(replay.stdout);
    expect(replayed.version).toBe(7);
    expect(replayed.state.messages.map(({ role, text, turnId, at }: any) => ({ role, text, turnId, at }))).toEqual(state.body.messages);
    expect(replayed.state.turns).toEqual(state.body.turns);

    // the projector catches up to the same state in its read model
    const projected = await waitFor(
      async () => {
        const r = await runCli(['replay', sessionId, '--json'], { DATABASE_URL: t.db.url });
        return r.code === 0 ? JSON.parse(r.stdout) : undefined;
      },
      { what: 'replay' },
    );
    expect(projected.state).toEqual(replayed.state);

    const text = await runCli(['replay', sessionId], { DATABASE_URL: t.db.url });
    expect(text.stdout).toContain('UserMessageReceived');
    expect(text.stdout).toContain('"Friday at 7 please"');
    expect(text.stdout).toContain('→ stateful via llm (session-default-stateful)');
    expect(text.stdout).not.toMatch(/\u001b\[/); // plain when not a terminal

    const changed = JSON.parse(
      (await runCli(['diff', sessionId, '--from', '4', '--to', '7', '--json'], { DATABASE_URL: t.db.url })).stdout,
    );
    expect(changed.events).toEqual(['v5 UserMessageReceived', 'v6 TurnRouted', 'v7 AssistantReplied']);
    expect(changed.changes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'messages[2]', kind: 'added', after: expect.objectContaining({ text: 'Friday at 7 please' }) }),
        expect.objectContaining({ path: 'turns[1]', kind: 'added' }),
      ]),
    );
    const shown = await runCli(['diff', sessionId, '--from', '4', '--to', '7'], { DATABASE_URL: t.db.url });
    expect(shown.stdout).toContain('+ messages[3] = {"role":"assistant","text":"reply to: Friday at 7 please"');
    expect((await runCli(['diff', sessionId, '--from', '7', '--to', '4'], { DATABASE_URL: t.db.url })).code).toBe(2);
    expect((await runCli(['diff', sessionId, '--from', '1'], { DATABASE_URL: t.db.url })).code).toBe(2);

    const atFour = JSON.parse((await runCli(['replay', sessionId, '--at', '4', '--json'], { DATABASE_URL: t.db.url })).stdout);
    expect(atFour.version).toBe(4);
    expect(atFour.state.messages).toHaveLength(2);
  });

  it('keeps the read model in step with the log', async () => {
    const { sessionId } = (await post('/v1/sessions', {})).body;
    await post(`/v1/sessions/${sessionId}/turns`, { text: 'hello there' });
    const { Client } = await import('pg');
    const client = new Client({ connectionString: t.db.url });
    await client.connect();
    try {
      const row = await waitFor(
        async () => {
          const r = await client.query('select version, state from session_projections where stream_id = $1', [`session-${sessionId}`]);
          return r.rows[0]?.version === 4 ? r.rows[0] : undefined;
        },
        { what: 'projection at version 4' },
      );
      expect(row.state.messages.map((m: any) => m.text)).toEqual(['hello there', 'reply to: hello there']);
    } finally {
      await client.end();
    }
  });

  it('rebuilds every read model from the log into identical rows', async () => {
    const { Client } = await import('pg');
    const client = new Client({ connectionString: t.db.url });
    await client.connect();
    const dump = async () =>
      (
        await client.query(
          'select stream_id, tenant_id, version, fold_version, state, updated_at from session_projections order by stream_id',
        )
      ).rows;
    try {
      // once the projector has caught up with every session stream...
      await waitFor(
        async () => {
          const lagging = await client.query(`
          select s.stream_id from streams s left join session_projections p using (stream_id)
          where s.stream_id like 'session-%' and (p.version is null or p.version < s.version)`);
          return lagging.rowCount === 0;
        },
        { what: 'projector to catch up' },
      );
      const before = await dump();
      expect(before.length).toBeGreaterThan(0);
      const rebuilt = await runCli(['rebuild'], { DATABASE_URL: t.db.url });
      expect(rebuilt.code).toBe(0);
      expect(rebuilt.stdout).toMatch(new RegExp(`^Rebuilt ${before.length} session read models from \\d+ events in`));
      expect(await dump()).toEqual(before);
    } finally {
      await client.end();
    }
  });

  it('answers a turn without a session from the request alone', async () => {
    const res = await post('/v1/turns', { text: 'What are your opening hours?' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ sessionId: null, route: { mode: 'stateless', reason: 'no-session' } });
    expect(llmRequestFor('What are your opening hours?').messages).toEqual([
      { role: 'system', content: SYSTEM },
      { role: 'user', content: 'What are your opening hours?' },
    ]);
  });

  it('lets the client force a stateless turn inside a session: the LLM sees none of the history', async () => {
    const { sessionId } = (await post('/v1/sessions', {})).body;
    await post(`/v1/sessions/${sessionId}/turns`, { text: 'My name is Ada' });
    const res = await post(`/v1/sessions/${sessionId}/turns`, { text: 'What is the IBAN format?', mode: 'stateless' });
    expect(res.body.route).toEqual({ mode: 'stateless', reason: 'client-forced-stateless' });
    expect(llmRequestFor('What is the IBAN format?').messages).toHaveLength(2);
    // ...and it is still part of the session's record
    const state = await get(`/v1/sessions/${sessionId}`);
    expect(state.body.messages.map((m: any) => m.text)).toContain('What is the IBAN format?');
  });

  it('turns an LLM failure into 502 and an LLM timeout into 504, both recorded in the log', async () => {
    const { sessionId } = (await post('/v1/sessions', {})).body;
    const failed = await post(`/v1/sessions/${sessionId}/turns`, { text: 'break please [fail]' });
    expect(failed.status).toBe(502);
    expect(failed.body.error.code).toBe('LLM.UPSTREAM');
    const slow = await post(`/v1/sessions/${sessionId}/turns`, { text: 'take your time [slow]' });
    expect(slow.status).toBe(504);
    expect(slow.body.error.code).toBe('LLM.TIMEOUT');
    const events = (await get(`/v1/sessions/${sessionId}/events`)).body.events;
    expect(events.filter((e: any) => e.type === 'TurnFailed').map((e: any) => e.data.code)).toEqual(['LLM.UPSTREAM', 'LLM.TIMEOUT']);
  });

  it('rejects bad requests with typed JSON errors', async () => {
    const { sessionId } = (await post('/v1/sessions', {})).body;
    const cases: [string, unknown, number, string][] = [
      [`/v1/sessions/${sessionId}/turns`, {}, 400, 'REQUEST.INVALID'],
      [`/v1/sessions/${sessionId}/turns`, { text: '   ' }, 400, 'REQUEST.INVALID'],
      [`/v1/sessions/${sessionId}/turns`, { text: 'x', mode: 'psychic' }, 400, 'REQUEST.INVALID'],
      [`/v1/sessions/${sessionId}/turns`, '{"text": ', 400, 'REQUEST.INVALID'],
      [`/v1/sessions/${sessionId}/turns`, { text: 'nul \u0000 byte' }, 400, 'REQUEST.INVALID'],
      ['/v1/sessions/3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01/turns', { text: 'hi' }, 404, 'SESSION.NOT_FOUND'],
      ['/v1/sessions/not-a-uuid/turns', { text: 'hi' }, 404, 'SESSION.NOT_FOUND'],
      ['/v1/turns', { text: 'hi', mode: 'stateful' }, 400, 'REQUEST.INVALID'],
      ['/v1/sessions', { userId: 42 }, 400, 'REQUEST.INVALID'],
    ];
    for (const [path, body, status, code] of cases) {
      const res = await post(path, body);
      expect({ path, body, status: res.status, code: res.body.error?.code }).toEqual({ path, body, status, code });
      expect(typeof res.body.error.message).toBe('string');
    }
    expect((await get('/v1/sessions/3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01')).status).toBe(404);
    expect((await get('/v1/sessions/3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01/events')).body.error.code).toBe('SESSION.NOT_FOUND');
    expect((await get('/v1/nothing-here')).body.error.code).toBe('ROUTE.NOT_FOUND');
  });

  it('is ready while every service answers, degraded (still serving) while a worker does not, and names it', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).body).toEqual({
      status: 'ready',
      services: { router: 'ready', 'session-projector': 'ready', responder: 'ready', relay: 'ready' },
    });
    const natsEnv = { NATS_URL: TEST_NATS_URL, PARLEY_NATS_PREFIX: t.prefix };
    expect((await runCli(['health', 'router', 'session-projector', 'responder', 'relay'], natsEnv)).code).toBe(0);
    await t.cluster.kill('responder');
    const probe = await runCli(['health', 'router', 'responder'], natsEnv);
    expect(probe).toMatchObject({ code: 1, stderr: expect.stringContaining('Not answering: responder') });
    expect((await runCli(['health', 'ingress'], natsEnv)).code).toBe(2);
    // ingress still records turns and answers from the knowledge base: an orchestrator keeps it in
    const degraded = await get('/readyz');
    expect(degraded.status).toBe(200);
    expect(degraded.body).toMatchObject({
      status: 'degraded',
      missing: ['responder'],
      services: { responder: 'missing', router: 'ready' },
    });
    t.cluster.startService('responder');
    await t.cluster.waitUntilReady(30_000);
    // a turn sent while the responder is back is answered
    expect((await post('/v1/turns', { text: 'back again?' })).status).toBe(200);
  });

  it('replay reports an unknown session and bad arguments clearly', async () => {
    const unknown = await runCli(['replay', '3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01'], { DATABASE_URL: t.db.url });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('Session 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01 not found');
    const noId = await runCli(['replay'], { DATABASE_URL: t.db.url });
    expect(noId.code).toBe(2);
    expect(noId.stderr).toContain('replay needs exactly one session id');
    const badAt = await runCli(['replay', 'x', '--at', 'soon'], { DATABASE_URL: t.db.url });
    expect(badAt.code).toBe(2);
    expect((await runCli(['replay', 'x', '--bogus'], { DATABASE_URL: t.db.url })).code).toBe(2);
    const down = await runCli(['replay', 'x'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/parley' });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('Cannot reach PostgreSQL at postgres://postgres@127.0.0.1:1/parley');
  });
});

describe('service startup with settings that cannot be honoured', () => {
  const run = (env: Record<string, string>) => runApp('router', [], { PARLEY_NATS_PREFIX: testNatsPrefix('boot'), ...env }, 20_000);

  it('exits 1 naming an unreachable database', async () => {
    const r = await run({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/parley' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[router] cannot start: Cannot reach PostgreSQL at postgres://postgres@127.0.0.1:1/parley');
  });

  it('exits 1 naming an unreachable NATS server', async () => {
    const db = await createTestDatabase('boot');
    try {
      const r = await run({ DATABASE_URL: db.url, NATS_URL: 'nats://127.0.0.1:1' });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('Cannot reach NATS at nats://127.0.0.1:1');
    } finally {
      await db.drop();
    }
  });

  it('exits 1 listing invalid settings', async () => {
    const r = await runApp('ingress', [], { PORT: 'eighty', NATS_URL: 'http://x' }, 20_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('PORT="eighty": must be a whole number');
    expect(r.stderr).toContain('NATS_URL="http://x": must be a URL starting with nats:// or tls://');
  });

  it('refuses to start the responder against OpenAI without a key', async () => {
    const r = await runApp('responder', [], { OPENAI_API_KEY: '', OPENAI_BASE_URL: '' }, 20_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('OPENAI_API_KEY is required');
  });
});
