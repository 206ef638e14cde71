/**
 * The replay CLI as a separate process against real Postgres and NATS, on conversations made
 * through the running services (with the Demo Bank knowledge base, so routing has FAQ answers):
 * replay with contexts, `--at`, rerun (passing, catching a changed rule or prompt, live what-if),
 * fork, tail, export and import into a fresh database, and the error cases.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDatabase, EventStore, migrateDatabase } from '@parley/event-store';
import {
  createTestDatabase,
  entrypoint,
  repoRoot,
  runCli,
  startTestCluster,
  waitFor,
  type TestCluster,
  type TestDatabase,
} from '@parley/testing';

jest.setTimeout(300_000); // three matcher trainings in one test, beside other test files on two cores
/** A rerun retrains the FAQ matcher (12 s alone on a slow 2-core machine, more beside other test files): longer than a CLI call's default 30 s. */
const TRAINING_MS = 90_000;

/** Says which system prompt it was given, so a changed prompt shows in the replies. */
const model = (request: { messages: { role: string; content: string | null }[] }) => {
  const system = request.messages[0].role === 'system' ? (request.messages[0].content ?? '').split(' ')[0] : '-';
  return { text: `[${system}] reply to: ${request.messages.at(-1)?.content} (${request.messages.length} messages)` };
};

describe('parley CLI on recorded conversations', () => {
  let t: TestCluster;
  let env: Record<string, string>;
  let sessionId: string;
  const dir = mkdtempSync(join(tmpdir(), 'parley-cli-'));

  beforeAll(async () => {
    t = await startTestCluster({
      label: 'replaycli',
      script: model,
      beforeStart: async (db) => {
        const demo = join(repoRoot(), 'data/demo-bank');
        expect((await runCli(['migrate'], { DATABASE_URL: db.url })).code).toBe(0);
        expect(
          (await runCli(['kb', 'import', join(demo, 'questions.csv'), '--answers', join(demo, 'answers.json')], { DATABASE_URL: db.url }))
            .code,
        ).toBe(0);
      },
      readyTimeoutMs: 100_000,
    });
    env = { DATABASE_URL: t.db.url, NATS_URL: 'nats://127.0.0.1:4222' };
    sessionId = (await t.post('/v1/sessions', { userId: 'replay-user' })).body.sessionId;
    for (const text of [
      'My new card still has not arrived, when will it come?',
      'I ordered it two weeks ago and it is still not here',
      'Can you send it to my office instead?',
    ]) {
      expect((await t.post(`/v1/sessions/${sessionId}/turns`, { text })).status).toBe(200);
    }
  });
  afterAll(() => t?.stop());

  it('replays a session turn by turn: route and reason, the context the LLM was given (checked), tokens and timings', async () => {
    const text = await runCli(['replay', sessionId], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('→ stateless via faq (faq-confident)');
    expect(text.stdout).toContain('turn 1 answered from the knowledge base: no LLM call, no context');
    expect(text.stdout).toMatch(/turn 2 context: \d+ messages, \d+ tokens ✓ the same the LLM was given/);
    expect(text.stdout).toMatch(/tokens \d+ in → \d+ out · LLM \d+ ms · turn \d+ ms from message to outcome/);
    expect(text.stdout).not.toContain('You are a helpful'); // contexts collapse without --context

    const full = await runCli(['replay', sessionId, '--context'], env);
    expect(full.stdout).toContain('system    "You are a helpful, concise assistant."');
    expect(full.stdout).toContain('user      "Can you send it to my office instead?"');

    const json = JSON.parse((await runCli(['replay', sessionId, '--json'], env)).stdout);
    expect(json.turns).toHaveLength(3);
    expect(json.turns[0]).toMatchObject({ number: 1, route: { mode: 'stateless', route: 'faq' }, context: null, timings: { llmMs: null } });
    expect(json.turns[2]).toMatchObject({
      route: { mode: 'stateful', route: 'llm' },
      context: { matchesRecorded: true },
      usage: { promptTokens: expect.any(Number) },
    });
    expect(json.turns[2].context.messages.at(-1)).toEqual({ role: 'user', content: 'Can you send it to my office instead?' });

    // --at a time: the session as it was after its second turn
    const secondReply = json.events.filter((e: { type: string }) => e.type === 'AssistantReplied')[1];
    const atTime = JSON.parse((await runCli(['replay', sessionId, '--at', secondReply.recordedAt, '--json'], env)).stdout);
    expect(atTime.version).toBeGreaterThanOrEqual(secondReply.version);
    expect(atTime.turns.length).toBe(2);
  });

  it('says how recent traffic would have been routed with another threshold, policy or knowledge base (routing what-if), and which answers would move', async () => {
    // a sessionless question too, answered from the knowledge base by ingress
    expect((await t.post('/v1/turns', { text: 'How do I activate my card?' })).body.route).toMatchObject({ reason: 'no-session-faq' });
    const whatIf = (...args: string[]) => runCli(['routing', 'what-if', ...args], env, TRAINING_MS);
    const same = JSON.parse((await whatIf('--json')).stdout);
    // the session's second turn said the first one's answer had not helped
    expect(same).toMatchObject({
      conversations: 2,
      turns: 4,
      counts: { same: 4 },
      changed: [],
      tokens: { saved: 0, added: 0 },
      didNotHelp: { turns: 1, changed: 0 },
    });

    const stricter = await whatIf('--faq-threshold', '1', '--json');
    expect(stricter.code).toBe(0);
    const report = JSON.parse(stricter.stdout);
    expect(report.counts['faq→llm']).toBe(2);
    expect(report.didNotHelp).toEqual({ turns: 1, changed: 1 });
    expect(report.tokens.added).toBeGreaterThan(0);
    expect(report.changed).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          streamId: `session-${sessionId}`,
          turn: 1,
          change: 'faq→llm',
          didNotHelp: true,
          recorded: expect.objectContaining({ route: 'faq', reason: 'faq-confident' }),
          whatIf: expect.objectContaining({ route: 'llm' }),
        }),
        expect.objectContaining({
          text: 'How do I activate my card?',
          change: 'faq→llm',
          whatIf: expect.objectContaining({ mode: 'stateless', route: 'llm' }),
        }),
      ]),
    );
    const text = await whatIf('--routing-policy', 'stateful', '--since', '1h');
    expect(text.stdout).toMatch(/What if tenant default had routed with policy stateful/);
    expect(text.stdout).toMatch(/knowledge base → LLM +1 /);
    expect(text.stdout).toContain(
      `session-${sessionId} turn 1 "My new card still has not arrived, when will it come?"  (the user said it had not helped)`,
    );

    // a knowledge base not imported yet, from a file: without a card-arrival entry, that answer goes
    const file = join(dir, 'next-kb.json');
    writeFileSync(
      file,
      JSON.stringify({
        entries: [
          {
            intent: 'activate_my_card',
            examples: ['How do I activate my card?', 'activate my new card', 'card activation', 'where do I activate the card'],
            answer: 'In the app.',
          },
        ],
      }),
    );
    const fromFile = JSON.parse((await whatIf('--kb', file, '--json')).stdout);
    expect(fromFile.settings).toContain(`the knowledge base in ${file} (not imported)`);
    expect(fromFile.changed).toEqual(
      expect.arrayContaining([expect.objectContaining({ turn: 1, recorded: expect.objectContaining({ intent: 'card_arrival' }) })]),
    );
    expect(await runCli(['routing', 'what-if', '--kb', '0'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--kb must be a version (1 or more), latest, or a file'),
    });
    expect(await runCli(['routing', 'how'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('routing takes one action: what-if'),
    });
  });

  it("reruns the recorded turns with today's code: passes as recorded, and catches a changed routing rule or prompt", async () => {
    const pass = await runCli(['rerun', sessionId], env, TRAINING_MS);
    expect(pass.stderr).toContain('using the FAQ matcher of knowledge base v1 the services trained');
    expect(pass.stdout).toContain('All 3 turns route and build their contexts as recorded.');
    expect(pass.code).toBe(0);

    const stricter = await runCli(['rerun', sessionId, '--faq-threshold', '0.999'], env, TRAINING_MS);
    expect(stricter.code).toBe(1);
    expect(stricter.stdout).toContain('✗ turn 1');
    expect(stricter.stdout).toMatch(/route: recorded stateless via faq \(faq-confident\), now stateful via llm/);
    expect(stricter.stdout).toContain('diverge from the log');

    const prompt = await runCli(
      ['rerun', sessionId, '--from-turn', '2', '--json'],
      { ...env, PARLEY_SYSTEM_PROMPT: 'You are a pirate.' },
      TRAINING_MS,
    );
    expect(prompt.code).toBe(1);
    const report = JSON.parse(prompt.stdout);
    expect(report.turns.map((r: { turn: number; ok: boolean }) => [r.turn, r.ok])).toEqual([
      [2, false],
      [3, false],
    ]);
    expect(report.turns[0].divergences[0]).toMatch(/^context: \d+ messages .* differ from what the LLM was given/);
  });

  it('reruns live against the LLM with another prompt and shows the what-if conversation beside the recorded one, writing nothing', async () => {
    const prompt = join(dir, 'prompt.txt');
    writeFileSync(prompt, 'Pirate mode: answer like a pirate.');
    const before = (await t.get(`/v1/sessions/${sessionId}`)).body.version;
    const live = await runCli(
      ['rerun', sessionId, '--live', '--prompt', prompt, '--json'],
      { ...env, OPENAI_BASE_URL: t.llm.url },
      TRAINING_MS,
    );
    expect(live.code).toBe(0);
    const report = JSON.parse(live.stdout);
    expect(report.turns[0]).toMatchObject({ whatIf: { route: { route: 'faq' } } });
    expect(report.turns[2].recorded.reply).toBe('[You] reply to: Can you send it to my office instead? (6 messages)');
    expect(report.turns[2].whatIf.reply).toBe('[Pirate] reply to: Can you send it to my office instead? (6 messages)');
    const text = await runCli(['rerun', sessionId, '--live', '--prompt', prompt], { ...env, OPENAI_BASE_URL: t.llm.url }, TRAINING_MS);
    expect(text.stdout).toContain('what-if:  "[Pirate] reply to: Can you send it to my office instead? (6 messages)"  ← changed');
    expect((await t.get(`/v1/sessions/${sessionId}`)).body.version).toBe(before);
    expect(
      (await runCli(['rerun', sessionId, '--live'], { ...env, OPENAI_BASE_URL: 'http://127.0.0.1:1/v1', PARLEY_LLM_MAX_RETRIES: '0' }))
        .code,
    ).toBe(1);
  });

  it('forks a session at a version; the fork goes on through the API with only what came before', async () => {
    const events = JSON.parse((await runCli(['replay', sessionId, '--json'], env)).stdout).events as { type: string; version: number }[];
    const afterFirst = events.filter((e) => e.type === 'AssistantReplied')[0].version;
    const forked = await runCli(['fork', sessionId, '--at', String(afterFirst), '--json'], env);
    expect(forked.code).toBe(0);
    const { sessionId: forkId, forkedFrom } = JSON.parse(forked.stdout);
    expect(forkedFrom).toEqual({ sessionId, version: afterFirst });
    const turn = await t.post(`/v1/sessions/${forkId}/turns`, { text: 'Actually, cancel the card', mode: 'stateful' });
    expect(turn.body.reply.text).toBe('[You] reply to: Actually, cancel the card (4 messages)');
    expect((await runCli(['replay', forkId], env)).stdout).toContain(
      `SessionForked        from session ${sessionId} at v${afterFirst}: 2 messages`,
    );
  });

  it('tails new events as they are committed, filtered by session and type', async () => {
    const { sessionId: watched } = (await t.post('/v1/sessions', {})).body;
    const child = spawn(
      process.execPath,
      [entrypoint('cli'), 'tail', '--session', watched, '--type', 'UserMessageReceived,AssistantReplied', '--limit', '2'],
      {
        env: { ...process.env, ...env, NO_COLOR: '1' },
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      // tail follows from the head of the log as it finds it: send the turn once it says so
      await waitFor(() => err.includes('Following the events of tenant default'), { what: 'tail to start following', timeoutMs: 60_000 });
      await t.post(`/v1/sessions/${watched}/turns`, { text: 'tail me please', mode: 'stateful' });
      expect(await exited).toBe(0);
    } finally {
      child.kill();
    }
    const lines = out.trim().split('\n');
    expect(lines[0]).toContain(`session-${watched}`);
    expect(lines[0]).toContain('UserMessageReceived');
    expect(lines[0]).toContain('"tail me please"');
    expect(lines[1]).toContain('AssistantReplied');
    expect(out).not.toContain('TurnRouted');
  });

  it('exports sessions and imports them into a fresh database with identical replays, idempotently', async () => {
    const file = join(dir, 'all.ndjson');
    const exported = await runCli(['export', '--all'], env);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toMatch(/Exported \d+ streams, \d+ events/);
    writeFileSync(file, exported.stdout);
    const fresh: TestDatabase = await createTestDatabase('e2e_import');
    try {
      await migrateDatabase(fresh.url);
      const target = { DATABASE_URL: fresh.url };
      const first = await runCli(['import', file], target);
      expect(first).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Imported \d+ events into \d+ streams of tenant default\n$/) });
      expect((await runCli(['import', file], target)).stdout).toMatch(
        /^Imported 0 events into \d+ streams of tenant default \(\d+ were already there\)/,
      );
      const here = await runCli(['replay', sessionId], env);
      const there = await runCli(['replay', sessionId], target);
      expect(there.code).toBe(0);
      expect(there.stdout).toBe(here.stdout);
      const open = async (url: string) => {
        const database = await connectDatabase(url, { max: 1 });
        try {
          return (await new EventStore(database.db).readStream(`session-${sessionId}`)).map(({ globalPosition: _g, ...e }) => e);
        } finally {
          await database.close();
        }
      };
      expect(await open(fresh.url)).toEqual(await open(t.db.url));
      // the imported personal data is sealed again, not stored readable
      const database = await connectDatabase(fresh.url, { max: 1 });
      try {
        const raw = await database.db.execute(
          `select data::text from events where stream_id = 'session-${sessionId}' and type = 'UserMessageReceived'` as never,
        );
        expect(JSON.stringify(raw.rows)).not.toContain('office');
      } finally {
        await database.close();
      }
      const single = await runCli(['export', sessionId], env);
      expect(single.stdout.trim().split('\n').length).toBeGreaterThan(5);
    } finally {
      await fresh.drop();
    }
  });

  it('answers bad arguments, unknown ids and unreachable servers with a message and an exit code', async () => {
    const unknown = await runCli(['rerun', '3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01'], env);
    expect(unknown).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('Session 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01 not found in tenant default'),
    });
    expect(await runCli(['replay', sessionId, '--tenant', 'someone-else'], env)).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('not found in tenant someone-else'),
    });
    expect(await runCli(['replay', sessionId, '--at', 'yesterday'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--at must be a positive stream version or an ISO time'),
    });
    // each command takes only its own options, though one table parses them all
    expect(await runCli(['migrate', '--live'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('parley: migrate does not take --live'),
    });
    expect(await runCli(['replay', sessionId, '--from-turn', '2', '--model', 'x'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('parley: replay does not take --from-turn, --model'),
    });
    expect(await runCli(['rerun', sessionId, '--from-turn', '9'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('the session has 3 turns'),
    });
    expect(await runCli(['rerun', sessionId, '--model', 'x'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--model and --prompt go with --live'),
    });
    expect(await runCli(['fork', sessionId, '--at', '999'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--at 999 is outside session'),
    });
    expect(await runCli(['tail', '--type', 'Nonsense'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--type Nonsense: not an event type'),
    });
    expect(await runCli(['export'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('export needs one session id or --all'),
    });
    const bad = join(dir, 'bad.ndjson');
    writeFileSync(bad, '{"kind":"parley-export","formatVersion":1,"tenantId":"default","exportedAt":"now"}\n{"kind":"event"}\n');
    expect(await runCli(['import', bad], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining(`${bad}:2 is not a line of a Parley export`),
    });
    expect(await runCli(['import', join(dir, 'missing.ndjson')], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('Cannot read'),
    });
    const down = await runCli(['replay', sessionId], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/parley' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^parley: /);
    const help = await runCli(['rerun', '--help'], env);
    expect(help.stdout).toContain('Usage:\n  parley rerun <sessionId>');
    expect(help.stdout).toContain('Examples:\n  npm run parley -- rerun');
  });
});
