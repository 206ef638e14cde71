/**
 * Inputs an attacker (or a careless client) would send, against the services as processes: what
 * a later part could not carry is refused before anything is committed, with a typed error; an
 * erasure reaches every process's caches at once; nothing unstorable gets in, so nothing ends in
 * a dead letter or a log line with a user's words.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { connectDatabase, type Database } from '@parley/event-store';
import { JetStreamBus } from '@parley/messaging';
import { freePort, startTestCluster, TEST_NATS_URL, waitFor, type TestCluster } from '@parley/testing';

jest.setTimeout(90_000);

describe('hostile input', () => {
  let t: TestCluster;
  let nc: NatsConnection;
  let database: Database;

  beforeAll(async () => {
    t = await startTestCluster({ label: 'hostile' });
    nc = await connect({ servers: TEST_NATS_URL });
    database = await connectDatabase(t.db.url, { max: 1 });
  });
  afterAll(async () => {
    await database?.close();
    await nc?.close();
    await t?.stop();
  });

  const eventCount = async () => Number((await database.pool.query<{ n: string }>('select count(*) as n from events')).rows[0].n);
  const raw = (method: string, path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${t.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json', ...headers },
      body,
    }).then(async (res) => ({
      status: res.status,
      headers: res.headers,
      body: (await res.json()) as any,
    }));

  it('refuses what the bus could not carry before anything is committed (413), and the relay stays healthy', async () => {
    const before = await eventCount();
    // session metadata is bounded (16 KiB), and any body past 720 KiB refused before it is read
    const metadata = await t.post('/v1/sessions', { metadata: { notes: 'n'.repeat(100_000) } });
    expect([metadata.status, metadata.body.error.code]).toEqual([400, 'REQUEST.INVALID']);
    const huge = await t.post('/v1/sessions', { metadata: { notes: 'n'.repeat(900_000) } });
    expect([huge.status, huge.body.error.code]).toEqual([413, 'REQUEST.TOO_LARGE']);
    // a conversation of 900 KB: its event, sealed, would not fit NATS's max_payload, so the body is refused at the door
    const chat = await t.post(
      '/v1/chat/completions',
      { messages: [{ role: 'user', content: 'w'.repeat(900_000) }] },
      { 'x-parley-session': 'huge-call' },
    );
    expect(chat.status).toBe(413);
    expect(chat.body.error.code).toBe('request_too_large');
    const session = (await t.post('/v1/sessions', { userId: 'big-talker' })).body.sessionId;
    const after = await eventCount();
    expect(after).toBe(before + 1); // the session's start only
    // the log behind goes on: a turn is answered, and nothing is stuck
    expect((await t.post(`/v1/sessions/${session}/turns`, { text: 'still there?' })).status).toBe(200);
    const ready = await t.get('/readyz');
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready' } });
    expect(ready.body.warnings).toBeUndefined();
  });

  it('refuses NUL characters and unpaired surrogates wherever they come in (400), so no part downstream ever fails on them', async () => {
    const { sessionId } = (await t.post('/v1/sessions', { userId: 'careful' })).body;
    const refused = [
      await raw('POST', `/v1/sessions/${sessionId}/turns`, JSON.stringify({ text: 'hello\u0000there' })),
      await raw('POST', `/v1/sessions/${sessionId}/turns`, '{"text":"lone \\ud800 surrogate"}'),
      await raw('POST', '/v1/turns', '{"text":"lone \\udc00 low"}'),
      await raw('POST', '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'a\u0000b' }] }), {
        'x-parley-session': 'nul-call',
      }),
      await raw('POST', '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], user: 'u\u0000' })),
      await raw('POST', '/v1/responses', JSON.stringify({ input: 'hi', user: 'x\u0000y' })),
      await raw('POST', '/v1/sessions', '{"metadata":{"k":"\\ud83d"}}'),
      await raw('POST', '/v1/sessions', '{"metadata":{"\\u0000key":"v"}}'),
      await raw('PUT', '/v1/users/careful/memory', JSON.stringify({ facts: { seat: 'aisle\u0000' } })),
      await raw('GET', '/v1/users/a%00b/memory', undefined as unknown as string),
    ];
    for (const res of refused) {
      expect([res.status, res.body.error.code]).toEqual([400, expect.stringMatching(/^(REQUEST\.INVALID|request_invalid)$/)]);
    }
    // the session is untouched and works
    expect((await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'a fine message' })).status).toBe(200);
    // and nothing was dead-lettered (what was refused never reached a service): once every
    // service's consumer has nothing waiting and nothing out, whatever was published was handled
    const bus = new JetStreamBus(nc, t.prefix);
    await waitFor(
      async () => {
        const states = await Promise.all(['router', 'responder', 'session-projector'].map((durable) => bus.consumerState(durable)));
        return states.every((state) => state && state.pending === 0 && state.ackPending === 0);
      },
      { what: 'the services to have handled everything published' },
    );
    expect(await bus.listDeadLetters()).toEqual([]);
  });

  it('answers paging past a Postgres integer with 400, not 500', async () => {
    const { sessionId } = (await t.post('/v1/sessions', {})).body;
    for (const path of [
      `/v1/sessions/${sessionId}/events?after=2147483648`,
      `/v1/sessions/${sessionId}/messages?after=99999999999999999999`,
      `/v1/sessions/${sessionId}/events?limit=-1`,
    ]) {
      const res = await t.get(path);
      expect([path, res.status, res.body.error.code]).toEqual([path, 400, 'REQUEST.INVALID']);
    }
  });

  it('takes an empty body where none is needed, even sent as application/json', async () => {
    const { sessionId } = (await t.post('/v1/sessions', { userId: 'empty-body' })).body;
    const fork = await raw('POST', `/v1/sessions/${sessionId}/fork`, '');
    expect(fork.status).toBe(201);
    const erase = await raw('DELETE', '/v1/users/empty-body', '');
    expect(erase).toMatchObject({ status: 200, body: { userId: 'empty-body', erased: true } });
    expect((await raw('POST', '/v1/sessions', '{not json')).status).toBe(400);
  });

  it('reaches every process with an erasure at once: another ingress that read the text no longer can', async () => {
    const port = await freePort();
    t.cluster.startReplica('ingress', { PORT: String(port) });
    const other = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${other}/readyz`).catch(() => null))?.ok, { what: 'the second ingress', timeoutMs: 30_000 });
    const { sessionId } = (await t.post('/v1/sessions', { userId: 'forget-me' })).body;
    await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'my account number is 12345678' });
    const read = async (base: string) => {
      const res = await fetch(`${base}/v1/sessions/${sessionId}/events`, { headers: { authorization: `Bearer ${t.apiKey}` } });
      return ((await res.json()) as { events: { type: string; data: { text?: string } }[] }).events.find(
        (e) => e.type === 'UserMessageReceived',
      )?.data.text;
    };
    // both processes read it (and cache the session's key)
    expect(await read(t.baseUrl)).toBe('my account number is 12345678');
    expect(await read(other)).toBe('my account number is 12345678');
    expect((await t.call('DELETE', '/v1/users/forget-me')).status).toBe(200);
    // the ingress that erased, at once; the other as soon as the notice reaches it (a core NATS hop)
    expect(await read(t.baseUrl)).toBe('[erased]');
    await waitFor(async () => (await read(other)) === '[erased]', { what: 'the other ingress to forget the key', timeoutMs: 2_000 });
  });
});
