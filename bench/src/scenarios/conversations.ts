import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsv } from '@parley/knowledge';
import { createTestDatabase, runCli, startTestCluster, type TestCluster } from '@parley/testing';
import { DEPLOYMENT_SETTINGS } from '../deployment';
import { kb, mb, pidsNamed, ratio, runLoad, runLoadsInTurns, sampleCpu, sampleMemory, x, type LoadResult } from '../load';
import { latency, ms } from '../measure';
import { LangGraphPeer, tableBytes } from '../peers/langgraph';
import type { ScenarioResult } from '../report';

const PARLEY_TABLES = ['events', 'streams', 'data_keys', 'session_projections'];
const REPLY = 'Thanks, I have noted that. Is there anything else I can help you with today?';

interface Systems {
  t: TestCluster;
  /** The embedded mode's way of running: every service in one process, on the in-process bus (same Postgres). */
  e: TestCluster;
  peer: LangGraphPeer;
  questions: string[];
  faq: string[];
}

/** One stateful turn through Parley's HTTP API. */
export async function parleyTurn(t: TestCluster, sessionId: string, text: string): Promise<void> {
  const res = await fetch(`${t.baseUrl}/v1/sessions/${sessionId}/turns`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text, mode: 'stateful' }),
  });
  if (res.status !== 200) throw new Error(`Parley turn failed: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

export async function newSessions(t: TestCluster, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await t.post('/v1/sessions', {})).body.sessionId as string);
  return ids;
}

/** The embedded mode's way of running, as the tables name it. */
const EMBEDDED = 'Parley embedded (one process)';

export const row = (name: string, r: LoadResult) => [name, r.perSecond.toFixed(0), ms(r.latency.p50), ms(r.latency.p99), r.latency.n];

/**
 * Scenarios 1, 2, 2b, 3, 8 and 9: conversations through Parley's four services (as processes,
 * over NATS and Postgres) and through the LangGraph.js peer, against the same instant scripted
 * LLM over real HTTP, in one run on one machine.
 */
export async function conversations(root: string): Promise<ScenarioResult[]> {
  const rows = parseCsv(readFileSync(join(root, 'data/demo-bank/questions.csv'), 'utf8')).slice(1);
  const questions = rows.map(([text]) => text);
  // questions the Demo Bank matcher answers confidently (checked below through the API)
  const faq = [
    'My new card still has not arrived, when will it come?',
    'How do I activate my card?',
    'I lost my card, what should I do?',
    'What is the exchange rate?',
  ];
  const parleyAs = (label: string, embedded: boolean) =>
    startTestCluster({
      label,
      embedded,
      script: () => ({ text: REPLY }),
      env: { ...DEPLOYMENT_SETTINGS, LOG_LEVEL: 'warn', PARLEY_RATE_LIMIT_PER_MINUTE: '1000000' },
      readyTimeoutMs: 120_000,
      beforeStart: async (db) => {
        const demo = join(root, 'data/demo-bank');
        const env = { DATABASE_URL: db.url };
        if ((await runCli(['migrate'], env)).code !== 0) throw new Error('migrate failed');
        if ((await runCli(['kb', 'import', join(demo, 'questions.csv'), '--answers', join(demo, 'answers.json')], env)).code !== 0)
          throw new Error('kb import failed');
      },
    });
  const t = await parleyAs('bench_conv', false);
  const lgDb = await createTestDatabase('bench_langgraph');
  let peer: LangGraphPeer | undefined;
  let e: TestCluster | undefined;
  try {
    e = await parleyAs('bench_emb', true);
    peer = await LangGraphPeer.start(lgDb.url, t.llm.url);
    const systems: Systems = { t, e, peer, questions, faq };
    const concurrent = await concurrentTurns(systems);
    const single = await singleTurn(systems);
    const long = await longConversations(systems);
    const stateless = await statelessFaq(systems, concurrent.parleyRate);
    return [concurrent.result, concurrent.cpu, single, long, stateless, concurrent.storage, concurrent.memory];
  } finally {
    await peer?.stop();
    await e?.stop();
    await t.stop();
    await lgDb.drop();
  }
}

/** Scenario 1 (and 8, 9 measured on it): 64 sessions, 16 turns in flight, each session one turn at a time. */
async function concurrentTurns({ t, e, peer, questions }: Systems) {
  const SESSIONS = 64;
  const WORKERS = 16;
  const WARMUP = SESSIONS / WORKERS; // one turn per session
  const MEASURED = 32; // per worker: 8 turns per session
  const ROUNDS = 4; // the systems take turns, 8 turns per worker each time
  const perSession = SESSIONS / WORKERS;
  const text = (w: number, i: number) => questions[(w * 997 + i * 31) % questions.length];
  const sessions = await newSessions(t, SESSIONS);
  const embeddedSessions = await newSessions(e, SESSIONS);
  const threads = sessions.map((_, i) => `bench-thread-${i}`);
  const parley = (w: number, i: number) => parleyTurn(t, sessions[w + WORKERS * (i % perSession)], text(w, i));
  const embedded = (w: number, i: number) => parleyTurn(e, embeddedSessions[w + WORKERS * (i % perSession)], text(w, i));
  const langgraph = (w: number, i: number) => peer.turn(threads[w + WORKERS * (i % perSession)], text(w, i));

  // every process either system's turns run through, or that runs beside them
  const cpuGroups: Record<string, () => number[]> = {
    ...Object.fromEntries(Object.entries(t.cluster.pids() as Record<string, number>).map(([name, pid]) => [name, () => [pid]])),
    'embedded (every service, one process)': () => [e.cluster.pids().embedded ?? 0],
    'LangGraph.js': () => [peer.pid],
    'NATS server': () => pidsNamed('nats-server'),
    'PostgreSQL (all backends)': () => pidsNamed('postgres'),
    'bench: load generator + scripted LLM': () => [process.pid],
  };

  await runLoad(WORKERS, WARMUP, parley);
  await runLoad(WORKERS, WARMUP, embedded);
  await runLoad(WORKERS, WARMUP, langgraph);
  // the systems take turns, a quarter of their turns each time; each round's CPU goes to its system
  const parleyCpu: Record<string, number> = {};
  const embeddedCpu: Record<string, number> = {};
  const lgCpu: Record<string, number> = {};
  const addUp = (into: Record<string, number>, cpuMs: Record<string, number>) => {
    for (const [name, value] of Object.entries(cpuMs)) into[name] = (into[name] ?? 0) + value;
  };
  const memory = sampleMemory(t.cluster.pids() as Record<string, number>);
  const {
    parley: parleyRun,
    embedded: embeddedRun,
    langgraph: lgRun,
  } = await runLoadsInTurns(
    ROUNDS,
    WORKERS,
    MEASURED,
    { parley: (w, i) => parley(w, i + WARMUP), embedded: (w, i) => embedded(w, i + WARMUP), langgraph: (w, i) => langgraph(w, i + WARMUP) },
    (system) => {
      const cpu = sampleCpu(cpuGroups);
      return () => addUp(system === 'parley' ? parleyCpu : system === 'embedded' ? embeddedCpu : lgCpu, cpu.stop());
    },
  );
  const peaks = memory.stop();

  const totalTurns = WORKERS * (WARMUP + MEASURED);
  const parleyBytes = await tableBytes(t.db.url, PARLEY_TABLES);
  const lgBytes = await peer.storageBytes();
  const speedup = ratio(parleyRun.perSecond, lgRun.perSecond);
  const storageRatio = ratio(parleyBytes / totalTurns, lgBytes / totalTurns);
  const result: ScenarioResult = {
    id: 'stateful-turns',
    title: '1. Stateful turns, 64 sessions, 16 in flight',
    setup: `${SESSIONS} sessions, ${WORKERS} turns in flight (each session one at a time), ${WORKERS * WARMUP} warm-up turns then ${WORKERS * MEASURED} measured, the three systems taking turns in ${ROUNDS} rounds, through HTTP; Parley's services as processes over NATS and Postgres; Parley embedded: the same services in one process on the in-process bus (the embedded mode's way, here on the same Postgres); LangGraph.js with its Postgres checkpointer behind node:http. Instant scripted LLM.`,
    columns: ['system', 'turns/s', 'p50 ms', 'p99 ms', 'turns'],
    rows: [row('Parley', parleyRun), row(EMBEDDED, embeddedRun), row('LangGraph.js', lgRun)],
    targets: [{ target: 'Parley ≥ 4× LangGraph.js turns/s', actual: x(speedup), met: speedup >= 4 }],
    figures: { parley: parleyRun, embedded: embeddedRun, langgraph: lgRun, totalTurns },
  };
  const storage: ScenarioResult = {
    id: 'storage-per-turn',
    title: '8. Postgres storage per turn after scenario 1',
    setup: `Total size (tables, indexes, TOAST) after ${totalTurns} turns: Parley's ${PARLEY_TABLES.join(', ')}; LangGraph.js's checkpoint tables.`,
    columns: ['system', 'bytes', 'KB per turn'],
    rows: [
      ['Parley', parleyBytes, kb(parleyBytes / totalTurns)],
      ['LangGraph.js', lgBytes, kb(lgBytes / totalTurns)],
    ],
    targets: [{ target: 'Parley ≤ 1/5 of LangGraph.js per turn', actual: x(storageRatio), met: storageRatio <= 0.2 }],
    figures: { parleyBytes, lgBytes, totalTurns },
  };
  const measured = WORKERS * MEASURED;
  const perTurn = (ms: number) => (ms / measured).toFixed(2);
  const sum = (cpuMs: Record<string, number>) => Object.values(cpuMs).reduce((a, b) => a + b, 0);
  const cpuResult: ScenarioResult = {
    id: 'cpu-per-turn',
    title: '1a. CPU time per turn, by process, during scenario 1',
    setup: `CPU time (user + system, from /proc, in 10 ms ticks) each process used during the ${measured} measured turns of each system in scenario 1, divided by the turns. Both systems share the load generator and the scripted LLM (the bench process). On the same cores, 4× LangGraph.js's rate leaves Parley a quarter of LangGraph.js's total per turn: ${perTurn(sum(lgCpu) / 4)} ms, the load generator's and the LLM's share included.`,
    columns: ['process', 'Parley ms per turn', 'Parley embedded ms per turn', 'LangGraph.js ms per turn'],
    rows: [
      ...Object.keys(cpuGroups).map((name) => [name, perTurn(parleyCpu[name]), perTurn(embeddedCpu[name]), perTurn(lgCpu[name])]),
      ['total', perTurn(sum(parleyCpu)), perTurn(sum(embeddedCpu)), perTurn(sum(lgCpu))],
    ],
    targets: [],
    figures: { parleyCpuMs: parleyCpu, embeddedCpuMs: embeddedCpu, langgraphCpuMs: lgCpu, turns: measured },
  };
  const worst = Math.max(...Object.values(peaks));
  const memoryResult: ScenarioResult = {
    id: 'service-memory',
    title: '9. Peak resident memory of each service during scenario 1',
    setup: 'VmRSS of each service process sampled every 100 ms during the measured part of scenario 1.',
    columns: ['service', 'peak RSS MB'],
    rows: Object.entries(peaks).map(([name, bytes]) => [name, mb(bytes)]),
    targets: [{ target: 'each service under 200 MB resident', actual: `${mb(worst)} MB at most`, met: worst < 200 * 2 ** 20 }],
    figures: peaks,
  };
  return { result, cpu: cpuResult, storage, memory: memoryResult, parleyRate: parleyRun.perSecond };
}

/** Scenario 2: one turn at a time, stateful. */
async function singleTurn({ t, e, peer, questions }: Systems): Promise<ScenarioResult> {
  const [sessionId] = await newSessions(t, 1);
  const [embeddedSession] = await newSessions(e, 1);
  const text = (i: number) => questions[(i * 53) % questions.length];
  await runLoad(1, 10, (_, i) => parleyTurn(t, sessionId, text(i)));
  await runLoad(1, 10, (_, i) => parleyTurn(e, embeddedSession, text(i)));
  await runLoad(1, 10, (_, i) => peer.turn('bench-single', text(i)));
  // one turn of each system after the other, so they all see the machine alike
  const {
    parley,
    embedded,
    langgraph: lg,
  } = await runLoadsInTurns(100, 1, 100, {
    parley: (_, i) => parleyTurn(t, sessionId, text(i + 10)),
    embedded: (_, i) => parleyTurn(e, embeddedSession, text(i + 10)),
    langgraph: (_, i) => peer.turn('bench-single', text(i + 10)),
  });
  const share = ratio(parley.latency.p50, lg.latency.p50);
  return {
    id: 'single-turn',
    title: '2. Single-turn latency at concurrency 1, stateful',
    setup:
      '10 warm-up then 100 measured turns of one session, one at a time, the three systems taking turns (Parley embedded: every service in one process on the in-process bus).',
    columns: ['system', 'turns/s', 'p50 ms', 'p99 ms', 'turns'],
    rows: [row('Parley', parley), row(EMBEDDED, embedded), row('LangGraph.js', lg)],
    targets: [{ target: 'Parley p50 ≤ 1/4 of LangGraph.js', actual: x(share), met: share <= 0.25 }],
    figures: { parley, embedded, langgraph: lg },
  };
}

/** Scenario 2b: 4 sessions driven to 300 turns each, one turn in flight. */
async function longConversations({ t, peer, questions }: Systems): Promise<ScenarioResult> {
  const SESSIONS = 4;
  const TURNS = 300;
  const text = (s: number, i: number) => `${questions[(s * 389 + i * 7) % questions.length]} (message ${i + 1} of the conversation)`;
  const sessions = await newSessions(t, SESSIONS);
  const systems = {
    parley: (s: number, i: number) => parleyTurn(t, sessions[s], text(s, i)),
    langgraph: (s: number, i: number) => peer.turn(`bench-long-${s}`, text(s, i)),
  };
  type System = keyof typeof systems;
  const first: Record<System, number[]> = { parley: [], langgraph: [] };
  const last: Record<System, number[]> = { parley: [], langgraph: [] };
  const parleyBefore = await tableBytes(t.db.url, PARLEY_TABLES);
  const lgBefore = await peer.storageBytes();
  // each turn of each conversation on one system, then on the other: both see the machine alike
  for (let s = 0; s < SESSIONS; s++) {
    for (let i = 0; i < TURNS; i++) {
      for (const system of (i % 2 ? ['langgraph', 'parley'] : ['parley', 'langgraph']) as System[]) {
        const t0 = performance.now();
        await systems[system](s, i);
        const took = performance.now() - t0;
        if (i < 50) first[system].push(took);
        if (i >= TURNS - 50) last[system].push(took);
      }
    }
  }
  const parleyBytes = (await tableBytes(t.db.url, PARLEY_TABLES)) - parleyBefore;
  const lgBytes = (await peer.storageBytes()) - lgBefore;
  const parley = { first: latency(first.parley), last: latency(last.parley) };
  const lg = { first: latency(first.langgraph), last: latency(last.langgraph) };
  const turns = SESSIONS * TURNS;
  const latencyShare = ratio(parley.last.p50, lg.last.p50);
  const storageShare = ratio(parleyBytes, lgBytes);
  return {
    id: 'long-conversations',
    title: '2b. Long conversations: 4 sessions to 300 turns, one in flight',
    setup: `${SESSIONS} sessions × ${TURNS} turns, one at a time, each turn on both systems in turn; Parley summarizes past its 6,000-token budget, LangGraph.js's node sends the same recent window. Storage is what the ${turns} turns added.`,
    columns: ['system', 'turns 1–50 p50 ms', 'turns 251–300 p50 ms', 'turns 251–300 p99 ms', 'growth', 'KB per turn'],
    rows: [
      [
        'Parley',
        ms(parley.first.p50),
        ms(parley.last.p50),
        ms(parley.last.p99),
        x(parley.last.p50 / parley.first.p50),
        kb(parleyBytes / turns),
      ],
      ['LangGraph.js', ms(lg.first.p50), ms(lg.last.p50), ms(lg.last.p99), x(lg.last.p50 / lg.first.p50), kb(lgBytes / turns)],
    ],
    targets: [
      { target: 'turns 251–300 p50 ≤ 1/10 of LangGraph.js', actual: x(latencyShare), met: latencyShare <= 0.1 },
      { target: 'storage per turn ≤ 1/20 of LangGraph.js', actual: x(storageShare), met: storageShare <= 0.05 },
    ],
    figures: { parley, langgraph: lg, parleyBytes, lgBytes, turns },
  };
}

/** Scenario 3: stateless FAQ turns through ingress, 64 in flight. */
async function statelessFaq({ t, faq }: Systems, statefulRate: number): Promise<ScenarioResult> {
  const WORKERS = 64;
  const ask = async (w: number, i: number) => {
    const res = await fetch(`${t.baseUrl}/v1/turns`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ text: faq[(w + i) % faq.length] }),
    });
    const body = (await res.json()) as { route?: { reason: string } };
    if (res.status !== 200 || body.route?.reason !== 'no-session-faq')
      throw new Error(`not an FAQ answer: ${res.status} ${JSON.stringify(body)}`);
  };
  await runLoad(WORKERS, 4, ask);
  const run = await runLoad(WORKERS, 40, ask);
  // and one at a time: what a single caller waits, without the queue 64 callers make
  const alone = await runLoad(1, 200, ask);
  const speedup = ratio(run.perSecond, statefulRate);
  return {
    id: 'stateless-faq',
    title: '3. Stateless FAQ turns through ingress, 64 in flight',
    setup: `${WORKERS} requests in flight, ${WORKERS * 4} warm-up then ${WORKERS * 40} measured POST /v1/turns answered from the Demo Bank knowledge base (no LLM call); compared with Parley's stateful rate in scenario 1. Then 200 more one at a time (not part of the targets).`,
    columns: ['path', 'turns/s', 'p50 ms', 'p99 ms', 'turns'],
    rows: [row(`Parley stateless FAQ, ${WORKERS} in flight`, run), row('Parley stateless FAQ, one at a time', alone)],
    targets: [
      {
        target: "≥ 5× Parley's own stateful turns/s",
        actual: `${x(speedup)} (${run.perSecond.toFixed(0)} vs ${statefulRate.toFixed(0)})`,
        met: speedup >= 5,
      },
      { target: 'p99 under 20 ms', actual: `${ms(run.latency.p99)} ms`, met: run.latency.p99 < 20 },
    ],
    figures: { run, alone, statefulRate },
  };
}
