/**
 * The embedded mode as a newcomer gets it: `npm start`'s own script with neither DATABASE_URL nor
 * NATS_URL (PARLEY_EMBEDDED=always stands in for "nothing answers on the defaults", which is not so
 * on this machine) runs a PostgreSQL from npm with its data in PARLEY_HOME and every service in one
 * process on the in-process bus. What users rely on is run against it: a stateful conversation,
 * the knowledge base, idempotent retries, streaming, replay, erasure, and a crash in the middle of
 * a turn with nothing lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import {
  createTestDatabase,
  deleteTestStreams,
  freePort,
  repoRoot,
  runCli,
  ScriptedLlmServer,
  TEST_NATS_URL,
  testNatsPrefix,
  waitFor,
} from '@parley/testing';

jest.setTimeout(240_000);

const KEY = 'parley-local-dev-key';

describe('npm start with nothing but Node.js (embedded mode)', () => {
  const home = mkdtempSync(join(tmpdir(), 'parley-home-'));
  // as root, Postgres runs as the system user postgres, which must be able to reach its data
  chmodSync(home, 0o755);
  let port: number;
  let llm: ScriptedLlmServer;
  let start: { child: ChildProcess; output: string[]; exited: Promise<number | null> } | undefined;
  // the model holds a question with "[held]" until the test lets it go
  let release: () => void = () => undefined;
  let held: Promise<void> = Promise.resolve();

  /** Settings beyond the embedded defaults, for a run (NATS_URL: the services as separate processes on JetStream). */
  let extra: Record<string, string> = {};
  const env = () => {
    const base: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env))
      if (value !== undefined && name !== 'DATABASE_URL' && name !== 'NATS_URL') base[name] = value;
    return {
      ...base,
      PARLEY_EMBEDDED: 'always',
      PARLEY_HOME: home,
      PORT: String(port),
      OPENAI_BASE_URL: llm.url,
      OPENAI_API_KEY: 'test',
      PARLEY_MODEL: 'scripted',
      PARLEY_METRICS_PORT: '0',
      LOG_FORMAT: 'json',
      NO_COLOR: '1',
      ...extra,
    };
  };
  /** The CLI as a user runs it beside `npm start`: no DATABASE_URL, only PARLEY_HOME. */
  const cli = (args: string[]) => runCli(args, { ...env(), DATABASE_URL: '' }, 60_000);

  /** Runs tools/start.mjs until it says it is ready. */
  async function npmStart(more: Record<string, string> = {}): Promise<void> {
    extra = more;
    const output: string[] = [];
    const child = spawn(process.execPath, [join(repoRoot(), 'tools', 'start.mjs')], {
      cwd: repoRoot(),
      env: env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    for (const stream of [child.stdout!, child.stderr!])
      stream.on('data', (chunk: Buffer) => output.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    start = { child, output, exited };
    let gone = false;
    const ready = waitFor(() => gone || output.some((line) => line.includes('] ready on http://')), {
      what: 'npm start to be ready',
      timeoutMs: 180_000,
      intervalMs: 200,
    });
    await Promise.race([ready, exited.then(() => (gone = true))]);
    if (gone) throw new Error(`npm start exited:\n${output.slice(-30).join('\n')}`);
  }

  async function stop(signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
    if (!start) return null;
    const { child, exited } = start;
    child.kill(signal);
    start = undefined;
    return exited;
  }

  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, text };
  };

  beforeAll(async () => {
    port = await freePort();
    llm = await ScriptedLlmServer.start(async (req) => {
      const last = String(req.messages.at(-1)?.content ?? '');
      if (last.includes('[held]')) await held;
      const seen = req.messages.filter((m) => m.role !== 'system').length;
      return { text: `You said: ${last} (${seen} messages)` };
    });
    await npmStart();
  });
  afterAll(async () => {
    release();
    await stop();
    await llm?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('announces what it embedded and how to use real servers', () => {
    const said = start!.output.join('\n');
    expect(said).toContain('EMBEDDED MODE: nothing to install but Node.js.');
    expect(said).toMatch(
      /PostgreSQL: embedded, created \(data in .*postgres; postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/parley\), as PARLEY_EMBEDDED=always/,
    );
    expect(said).toContain('bus: in-process, with every service in this one process');
    expect(said).toContain('For real servers set DATABASE_URL and/or NATS_URL');
    expect(said).toMatch(/Imported 77 entries/); // the Demo Bank
  });

  let sessionId: string;

  it('holds a stateful conversation: each context is the transcript so far', async () => {
    sessionId = (await request('POST', '/v1/sessions', { userId: 'ana' })).body.sessionId;
    const replies: string[] = [];
    for (const text of ['Hello, my name is Ana', 'I want to book a table', 'For two people please']) {
      const res = await request('POST', `/v1/sessions/${sessionId}/turns`, { text, mode: 'stateful' });
      expect(res.status).toBe(200);
      replies.push(res.body.reply.text);
    }
    expect(replies).toEqual([
      'You said: Hello, my name is Ana (1 messages)',
      'You said: I want to book a table (3 messages)',
      'You said: For two people please (5 messages)',
    ]);
  });

  it('answers a known question from the Demo Bank knowledge base, without the LLM', async () => {
    const calls = llm.requests.length;
    const res = await request('POST', '/v1/turns', { text: 'My new card has not arrived yet' });
    expect(res.body.route).toMatchObject({ mode: 'stateless', reason: 'no-session-faq', intent: 'card_arrival' });
    expect(res.body.reply.text).toMatch(/card/i);
    expect(llm.requests.length).toBe(calls);
  });

  it('answers a retried request (same Idempotency-Key) with the original turn', async () => {
    const first = await request(
      'POST',
      `/v1/sessions/${sessionId}/turns`,
      { text: 'Is there parking?' },
      { 'idempotency-key': 'embedded-1' },
    );
    const retry = await request(
      'POST',
      `/v1/sessions/${sessionId}/turns`,
      { text: 'Is there parking?' },
      { 'idempotency-key': 'embedded-1' },
    );
    expect(retry.body).toEqual(first.body);
    const events = (await request('GET', `/v1/sessions/${sessionId}/events`)).body.events as { type: string; data: { text?: string } }[];
    expect(events.filter((e) => e.type === 'UserMessageReceived' && e.data.text === 'Is there parking?')).toHaveLength(1);
  });

  it('streams a turn as Server-Sent Events', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/sessions/${sessionId}/turns`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ text: 'Stream this please' }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    const deltas = [...text.matchAll(/^event: delta\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1]).text as string);
    expect(deltas.length).toBeGreaterThan(0);
    expect(deltas.join('')).toBe('You said: Stream this please (9 messages)');
    expect(text).toMatch(/^event: done$/m);
  });

  it('replays the conversation with the CLI while it runs, finding the embedded database by itself', async () => {
    const replay = await cli(['replay', sessionId, '--json']);
    expect(replay.code).toBe(0);
    const replayed = JSON.parse(replay.stdout);
    const turns = replayed.turns as { text: string; reply: { text: string } | null; context: { matchesRecorded: boolean | null } | null }[];
    expect(turns.map((t) => t.text)).toEqual([
      'Hello, my name is Ana',
      'I want to book a table',
      'For two people please',
      'Is there parking?',
      'Stream this please',
    ]);
    expect(turns.every((t) => t.reply !== null)).toBe(true);
    // what the LLM was given, rebuilt from the log, is what it was given
    expect(turns.map((t) => t.context?.matchesRecorded)).toEqual([true, true, true, true, true]);
  });

  it('keeps a turn that was in flight when the process died, and answers it after a restart', async () => {
    held = new Promise<void>((resolve) => (release = resolve));
    const { sessionId: crashed } = (await request('POST', '/v1/sessions', { userId: 'bo' })).body;
    const inFlight = request(
      'POST',
      `/v1/sessions/${crashed}/turns`,
      { text: 'Think about this [held]', mode: 'stateful' },
      { 'idempotency-key': 'crash-1' },
    ).catch((error: Error) => error);
    await waitFor(() => llm.requests.some((r) => String(r.messages.at(-1)?.content).includes('Think about this [held]')), {
      what: 'the model to be asked',
    });
    // a crash: the process of every service dies at once, and the in-process bus with it
    const services = start!.output.length;
    const pid = Number(/pid (\d+)\)/.exec(start!.output.join('\n'))?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    expect(await start!.exited).toBe(1); // npm start stops when a service dies
    start = undefined;
    expect(services).toBeGreaterThan(0);
    expect(String(await inFlight)).toMatch(/fetch failed/); // the client lost its connection
    release();

    await npmStart(); // warm: the data is where it was
    expect(start!.output.join('\n')).toMatch(/PostgreSQL: embedded, started/);
    // the client retries with the same key and gets the turn, answered once
    const retried = await waitFor(
      async () => {
        const res = await request(
          'POST',
          `/v1/sessions/${crashed}/turns`,
          { text: 'Think about this [held]', mode: 'stateful' },
          { 'idempotency-key': 'crash-1' },
        );
        return res.status === 200 ? res : undefined;
      },
      { what: 'the retried turn', timeoutMs: 60_000 },
    );
    expect(retried.body.reply.text).toBe('You said: Think about this [held] (1 messages)');
    const events = (await request('GET', `/v1/sessions/${crashed}/events`)).body.events as { type: string }[];
    expect(events.filter((e) => e.type === 'UserMessageReceived')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'AssistantReplied')).toHaveLength(1);
    // and what was there before the crash is still there
    expect((await request('GET', `/v1/sessions/${sessionId}/events`)).body.events.length).toBeGreaterThan(10);
  });

  it('erases a user: their conversation is unreadable afterwards', async () => {
    const erased = await request('DELETE', '/v1/users/ana');
    expect(erased.body).toMatchObject({ userId: 'ana', erased: true });
    expect(erased.body.streamsErased).toBeGreaterThanOrEqual(1);
    const after = await request('GET', `/v1/sessions/${sessionId}/events`);
    expect(after.text).not.toContain('Hello, my name is Ana');
  });

  it('stops on Ctrl-C, and the CLI still reads the data after, starting the embedded database for the command', async () => {
    expect(await stop('SIGINT')).toBe(0);
    const sessions = await cli(['sessions', '--user', 'bo']);
    expect(sessions.stderr).toContain('starting the embedded database');
    expect(sessions.code).toBe(0);
    expect(sessions.stdout).toMatch(/1 turns?\s+bo/);
  });

  it('serves the same database with the services as separate processes on NATS JetStream', async () => {
    const prefix = testNatsPrefix('embedded');
    try {
      // DATABASE_URL still unset (the embedded one), NATS_URL set: a cluster of processes over the same data
      await npmStart({ NATS_URL: TEST_NATS_URL, PARLEY_NATS_PREFIX: prefix });
      const said = start!.output.join('\n');
      expect(said).toMatch(/PostgreSQL: embedded, started/);
      expect(said).not.toContain('bus: in-process');
      expect(said).toMatch(/\[router\]/); // its own process
      const { sessionId: bo } = (await request('GET', '/v1/inspect/sessions?userId=bo')).body.sessions[0];
      const turn = await request('POST', `/v1/sessions/${bo}/turns`, { text: 'And now?', mode: 'stateful' });
      expect(turn.body.reply.text).toBe('You said: And now? (3 messages)'); // the turn from before the crash is in its context
      expect(await stop('SIGINT')).toBe(0);
    } finally {
      extra = {};
      await deleteTestStreams(prefix);
    }
  });

  it('moves conversations to another database with parley export and import', async () => {
    const exported = await cli(['export', '--all']);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toMatch(/Exported \d+ streams, \d+ events \(1 erased streams? left out\)/);
    const file = join(home, 'export.ndjson');
    writeFileSync(file, exported.stdout);
    const target = await createTestDatabase('embedded_import');
    try {
      expect((await runCli(['migrate'], { DATABASE_URL: target.url })).code).toBe(0);
      const imported = await runCli(['import', file], { DATABASE_URL: target.url });
      expect(imported.stdout).toMatch(/^Imported \d+ events/);
      const listed = await runCli(['sessions', '--user', 'bo'], { DATABASE_URL: target.url });
      const sessionId = listed.stdout.split(/\s+/)[0];
      const here = JSON.parse((await cli(['replay', sessionId, '--json'])).stdout);
      const there = JSON.parse((await runCli(['replay', sessionId, '--json'], { DATABASE_URL: target.url })).stdout);
      expect(there.turns.map((t: { text: string }) => t.text)).toEqual(['Think about this [held]', 'And now?']);
      // the same events, at new places in the other log
      const withoutPosition = (events: { globalPosition: string }[]) => events.map(({ globalPosition: _, ...event }) => event);
      expect(withoutPosition(there.events)).toEqual(withoutPosition(here.events));
    } finally {
      await target.drop();
    }
  });
});
