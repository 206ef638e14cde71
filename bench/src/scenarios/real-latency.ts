import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { eventsStreamName } from '@parley/contracts';
import { createTestDatabase, startTestCluster, TEST_NATS_URL, type Script, type TestCluster } from '@parley/testing';
import { DEPLOYMENT_SETTINGS } from '../deployment';
import { mb, pidsNamed, sampleCpu, sampleMemory } from '../load';
import { latency, ms, type Latency } from '../measure';
import { readEventStream } from '../http-stream';
import { LangGraphPeer } from '../peers/langgraph';
import type { ScenarioResult } from '../report';

/** A hosted model's pace: the first token after 300 ms, then 40 tokens a second, 40-token replies. */
const FIRST_TOKEN_MS = 300;
const TOKEN_MS = 25;
const REPLY = Array.from({ length: 40 }, (_, i) => ['Sure,', 'I', 'can', 'help', 'with', 'that', 'card', 'today.'][i % 8]).join(' ');
const LLM_TURN_MS = FIRST_TOKEN_MS + (REPLY.split(' ').length - 1) * TOKEN_MS;
const TURNS = 6;

/** When the model was asked each question, and when it sent the first piece of its answer. */
interface LlmTimes {
  asked: Map<string, number>;
  first: Map<string, number>;
}

function pacedScript(times: LlmTimes): Script {
  return (request) => {
    const question = String(request.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '');
    times.asked.set(question, performance.now());
    return {
      text: REPLY,
      delayMs: FIRST_TOKEN_MS - TOKEN_MS,
      chunkDelayMs: TOKEN_MS,
      beforePiece: (i) => void (i === 0 && times.first.set(question, performance.now())),
    };
  };
}

/** One streamed stateful turn: the time to its first piece and to its end, from the client. */
async function streamedTurn(t: TestCluster, sessionId: string, text: string): Promise<{ first: number; done: number }> {
  const started = performance.now();
  const res = await fetch(`${t.baseUrl}/v1/sessions/${sessionId}/turns`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ text, mode: 'stateful' }),
  });
  if (res.status !== 200 || !res.body) throw new Error(`Parley turn failed: ${res.status} ${await res.text()}`);
  return readEventStream(res.body, started);
}

/**
 * `conversations` in flight, each `TURNS` turns one after another, started spread over one turn's
 * time (as calls arrive, not all in the same millisecond). What is measured is the steady state:
 * the turns that end while every conversation is under way — after the last has started and
 * before the first has finished — and the rate over that window.
 */
interface TurnTimes {
  /** From request to whole answer, ms. */
  took: number;
  /** Time to first token added to the model's own, ms (streamed turns). */
  added?: number;
}

async function drive(
  conversations: number,
  turn: (conversation: number, index: number) => Promise<TurnTimes>,
): Promise<{ rate: number; turns: TurnTimes[] }> {
  const started = performance.now();
  const ended: (TurnTimes & { at: number })[] = [];
  const finished: number[] = [];
  await Promise.all(
    Array.from({ length: conversations }, async (_, c) => {
      await new Promise((r) => setTimeout(r, (c * LLM_TURN_MS) / conversations));
      for (let i = 0; i < TURNS; i++) {
        ended.push({ ...(await turn(c, i)), at: performance.now() });
      }
      finished.push(performance.now());
    }),
  );
  const from = started + LLM_TURN_MS;
  const to = Math.min(...finished);
  const steady = ended.filter((e) => e.at >= from && e.at <= to);
  return { rate: steady.length / ((to - from) / 1000), turns: steady };
}

const perTurn = (used: Record<string, number>, turns: number) => Object.fromEntries(Object.entries(used).map(([k, v]) => [k, v / turns]));

interface Run {
  rate: number;
  turn: Latency;
  addedFirst?: Latency;
  cpuMsPerTurn: Record<string, number>;
}

const row = (name: string, conversations: number, run: Run) => {
  const ideal = conversations / (LLM_TURN_MS / 1000);
  const cpu = Object.values(run.cpuMsPerTurn).reduce((a, b) => a + b, 0);
  return [
    name,
    conversations,
    run.rate.toFixed(0),
    `${((100 * run.rate) / ideal).toFixed(0)}%`,
    ms(run.turn.p50),
    ms(run.turn.p99),
    run.addedFirst ? ms(run.addedFirst.p50) : '-',
    run.addedFirst ? ms(run.addedFirst.p99) : '-',
    cpu.toFixed(1),
  ];
};

/**
 * Scenario 10: what users see with a model as slow as a real one — conversations in flight that
 * each wait 1.3 s for every reply, streamed. The LLM-bound ideal is conversations ÷ 1.275 s;
 * Parley and LangGraph.js (same machine, same scripted model, same load) take turns.
 */
export async function realLatency(): Promise<ScenarioResult[]> {
  const times: LlmTimes = { asked: new Map(), first: new Map() };
  const t = await startTestCluster({
    label: 'bench_real',
    script: pacedScript(times),
    env: { ...DEPLOYMENT_SETTINGS, LOG_LEVEL: 'warn', PARLEY_RATE_LIMIT_PER_MINUTE: '1000000' },
    readyTimeoutMs: 120_000,
  });
  const lgDb = await createTestDatabase('bench_real_langgraph');
  let peer: LangGraphPeer | undefined;
  try {
    peer = await LangGraphPeer.start(lgDb.url, t.llm.url);
    const pids = t.cluster.pids() as Record<string, number>;
    const groups: Record<string, () => number[]> = {
      ...Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, () => [pid]])),
      'LangGraph.js': () => [peer!.pid],
      'NATS server': () => pidsNamed('nats-server'),
      PostgreSQL: () => pidsNamed('postgres'),
      'bench: clients + scripted LLM': () => [process.pid],
    };
    const memory = sampleMemory(pids);
    const rows: (string | number)[][] = [];
    const figures: Record<string, unknown> = { llmTurnMs: LLM_TURN_MS };
    const targets: ScenarioResult['targets'] = [];
    let round = 0;
    for (const conversations of [128, 512]) {
      const ideal = conversations / (LLM_TURN_MS / 1000);
      const sessions: string[] = [];
      for (let i = 0; i < conversations; i++) sessions.push((await t.post('/v1/sessions', {})).body.sessionId as string);
      const parley = async (): Promise<Run> => {
        let all = 0;
        const cpu = sampleCpu(groups);
        const { rate, turns } = await drive(conversations, async (c, i) => {
          const text = `Parley round ${round} conversation ${c} turn ${i}: where is my new card?`;
          const { first, done } = await streamedTurn(t, sessions[c], text);
          all++;
          return { took: done, added: first - ((times.first.get(text) ?? NaN) - (times.asked.get(text) ?? NaN)) };
        });
        const used = cpu.stop();
        const added = turns.map((e) => e.added!).filter((v) => Number.isFinite(v));
        return { rate, turn: latency(turns.map((e) => e.took)), addedFirst: latency(added), cpuMsPerTurn: perTurn(used, all) };
      };
      const langgraph = async (): Promise<Run> => {
        let all = 0;
        const cpu = sampleCpu(groups);
        const { rate, turns } = await drive(conversations, async (c, i) => {
          const text = `LangGraph round ${round} conversation ${c} turn ${i}: where is my new card?`;
          const { first, done } = await peer!.streamedTurn(`bench-real-${conversations}-${c}`, text);
          all++;
          return { took: done, added: first - ((times.first.get(text) ?? NaN) - (times.asked.get(text) ?? NaN)) };
        });
        const used = cpu.stop();
        const added = turns.map((e) => e.added!).filter((v) => Number.isFinite(v));
        return { rate, turn: latency(turns.map((e) => e.took)), addedFirst: latency(added), cpuMsPerTurn: perTurn(used, all) };
      };
      // the systems take turns, in alternating order, so a slower spell of the machine falls on both
      round++;
      let p: Run;
      let lg: Run;
      if (conversations === 128) {
        p = await parley();
        lg = await langgraph();
      } else {
        lg = await langgraph();
        p = await parley();
      }
      rows.push(row('Parley', conversations, p), row('LangGraph.js', conversations, lg));
      figures[`parley${conversations}`] = p;
      figures[`langgraph${conversations}`] = lg;
      targets.push({
        target: `Parley ≥ 90% of the LLM-bound ideal at ${conversations} in flight (${ideal.toFixed(0)} turns/s)`,
        actual: `${((100 * p.rate) / ideal).toFixed(0)}%`,
        met: p.rate >= 0.9 * ideal,
      });
      targets.push({
        target: `Parley ≥ LangGraph.js's rate at ${conversations} in flight`,
        actual: `${p.rate.toFixed(0)} vs ${lg.rate.toFixed(0)} turns/s`,
        met: p.rate >= lg.rate,
      });
      if (conversations === 512) {
        targets.push({
          target: 'added time to first token p50 ≤ 15 ms at 512 in flight',
          actual: `${ms(p.addedFirst!.p50)} ms`,
          met: p.addedFirst!.p50 <= 15,
        });
        targets.push({
          target: 'added time to first token p99 ≤ 50 ms at 512 in flight',
          actual: `${ms(p.addedFirst!.p99)} ms`,
          met: p.addedFirst!.p99 <= 50,
        });
      }
    }
    const peaks = memory.stop();
    const worst = Math.max(...Object.values(peaks));
    targets.push({ target: 'each service under 300 MB resident', actual: `${mb(worst)} MB at most`, met: worst < 300 * 2 ** 20 });
    figures.peakRss = peaks;
    const cpuRows = Object.keys(groups).map((name) => [
      name,
      ...[128, 512].flatMap((n) => [
        ((figures[`parley${n}`] as Run).cpuMsPerTurn[name] ?? 0).toFixed(2),
        ((figures[`langgraph${n}`] as Run).cpuMsPerTurn[name] ?? 0).toFixed(2),
      ]),
    ]);
    return [
      {
        id: 'real-latency',
        title: '10. A model as slow as a real one: 128 and 512 conversations in flight, streamed',
        setup:
          `Scripted LLM paced like a hosted model: first token after ${FIRST_TOKEN_MS} ms, then one every ${TOKEN_MS} ms (40 tokens a second), ${REPLY.split(' ').length}-token replies: ${LLM_TURN_MS} ms a turn, so the LLM-bound ideal is conversations ÷ ${(LLM_TURN_MS / 1000).toFixed(3)} s. ` +
          `Each conversation sends ${TURNS} stateful turns one after another; the conversations start spread over one turn's time, and what is measured is the steady state — turns that end while every conversation is under way. Both systems stream each turn to the client as Server-Sent Events (LangGraph.js's node streams from the model and writes each piece through its 'custom' stream mode). ` +
          "Added time to first token: the client's first piece less the model's own first-token time for that turn. Parley at its defaults, one replica of each service. CPU: ms of every process (all of Parley's services, NATS, Postgres and the bench) per turn.",
        columns: [
          'system',
          'in flight',
          'turns/s',
          'of ideal',
          'p50 ms',
          'p99 ms',
          'added TTFT p50 ms',
          'added TTFT p99 ms',
          'CPU ms/turn',
        ],
        rows,
        targets,
        figures,
      },
      {
        id: 'real-latency-cpu',
        title: '10a. CPU time per turn, by process, during scenario 10',
        setup: 'CPU time (user + system, from /proc) each process used while each system ran, divided by its turns.',
        columns: ['process', 'Parley @128', 'LangGraph.js @128', 'Parley @512', 'LangGraph.js @512'],
        rows: cpuRows,
        targets: [],
        figures: {},
      },
      {
        id: 'real-latency-memory',
        title: '10b. Peak resident memory of each Parley service during scenario 10',
        setup: 'VmRSS sampled every 100 ms through both loads.',
        columns: ['service', 'peak RSS MB'],
        rows: Object.entries(peaks).map(([name, bytes]) => [name, mb(bytes)]),
        targets: [],
        figures: peaks,
      },
    ];
  } finally {
    await peer?.stop();
    await t.stop();
    await lgDb.drop();
  }
}

/**
 * Scenario 10c: replicas add capacity. With each responder replica limited to 16 turns at once,
 * 128 conversations are served by one replica, then by two: the second should about double the rate.
 */
export async function replicaScaling(): Promise<ScenarioResult> {
  const LIMIT = 16;
  const CONVERSATIONS = 128;
  const times: LlmTimes = { asked: new Map(), first: new Map() };
  const t = await startTestCluster({
    label: 'bench_scale',
    script: pacedScript(times),
    env: { ...DEPLOYMENT_SETTINGS, LOG_LEVEL: 'warn', PARLEY_RATE_LIMIT_PER_MINUTE: '1000000', PARLEY_MAX_CONCURRENT_TURNS: String(LIMIT) },
    readyTimeoutMs: 120_000,
  });
  try {
    const sessions: string[] = [];
    for (let i = 0; i < CONVERSATIONS; i++) sessions.push((await t.post('/v1/sessions', {})).body.sessionId as string);
    const run = async (label: string) => {
      t.llm.resetPeak();
      const { rate, turns } = await drive(CONVERSATIONS, async (c, i) => ({
        took: (await streamedTurn(t, sessions[c], `${label} conversation ${c} turn ${i}`)).done,
      }));
      return { rate, turn: latency(turns.map((e) => e.took)), llmAtOnce: t.llm.peakInFlight };
    };
    const one = await run('one replica');
    t.cluster.startReplica('responder', {});
    // the second replica pulls once it is up: its pull request waits at the server beside the first one's
    await waitForPullers(t, 2);
    const two = await run('two replicas');
    const gain = two.rate / one.rate;
    return {
      id: 'replica-scaling',
      title: `10c. Replicas add capacity: ${CONVERSATIONS} conversations, responders limited to ${LIMIT} turns each`,
      setup: `PARLEY_MAX_CONCURRENT_TURNS=${LIMIT}; the paced model of scenario 10 (${LLM_TURN_MS} ms a turn), ${CONVERSATIONS} conversations × ${TURNS} streamed stateful turns; one responder, then a second started beside it. The bound is replicas × ${LIMIT} ÷ ${(LLM_TURN_MS / 1000).toFixed(3)} s.`,
      columns: ['responders', 'turns/s', 'bound turns/s', 'p50 ms', 'p99 ms', 'LLM calls at once (peak)'],
      rows: [
        [1, one.rate.toFixed(1), (LIMIT / (LLM_TURN_MS / 1000)).toFixed(1), ms(one.turn.p50), ms(one.turn.p99), one.llmAtOnce],
        [2, two.rate.toFixed(1), ((2 * LIMIT) / (LLM_TURN_MS / 1000)).toFixed(1), ms(two.turn.p50), ms(two.turn.p99), two.llmAtOnce],
      ],
      targets: [{ target: 'two replicas serve about twice one (≥ 1.8×)', actual: `${gain.toFixed(2)}×`, met: gain >= 1.8 }],
      figures: { one, two, gain },
    };
  } finally {
    await t.stop();
  }
}

async function waitForPullers(t: TestCluster, n: number): Promise<void> {
  const nc = await connect({ servers: TEST_NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const info = await jsm.consumers.info(eventsStreamName(t.prefix), 'responder');
      if (info.num_waiting >= n) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${n} responders did not pull within a minute`);
  } finally {
    await nc.close();
  }
}

/**
 * Scenario 10d: memory stays bounded with 1,000 conversations in flight. Every structure a service
 * keeps per conversation or turn is capped (held messages, session folds, kept messages, reply
 * waiters, token counts); this samples each service's resident memory while 1,000 conversations
 * stream two turns each through one replica of each, more than the responder takes at once (the
 * rest wait in JetStream).
 */
export async function memoryAtScale(): Promise<ScenarioResult> {
  const CONVERSATIONS = 1_000;
  const times: LlmTimes = { asked: new Map(), first: new Map() };
  const t = await startTestCluster({
    label: 'bench_mem',
    script: pacedScript(times),
    env: { ...DEPLOYMENT_SETTINGS, LOG_LEVEL: 'warn', PARLEY_RATE_LIMIT_PER_MINUTE: '1000000' },
    readyTimeoutMs: 120_000,
  });
  try {
    const pids = t.cluster.pids() as Record<string, number>;
    const idle = sampleMemory(pids).stop();
    const sessions: string[] = [];
    for (let i = 0; i < CONVERSATIONS; i++) sessions.push((await t.post('/v1/sessions', {})).body.sessionId as string);
    const memory = sampleMemory(pids);
    let turns = 0;
    const started = performance.now();
    await Promise.all(
      sessions.map(async (sessionId, c) => {
        await new Promise((r) => setTimeout(r, (c * LLM_TURN_MS) / CONVERSATIONS));
        for (let i = 0; i < 2; i++) {
          await streamedTurn(t, sessionId, `conversation ${c} turn ${i}`);
          turns++;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const peaks = memory.stop();
    const worst = Math.max(...Object.values(peaks));
    return {
      id: 'memory-at-scale',
      title: '10d. Memory with 1,000 conversations in flight',
      setup: `${CONVERSATIONS} conversations × 2 streamed stateful turns against the paced model, started over one turn's time; one replica of each service at its defaults (${turns} turns in ${seconds.toFixed(0)} s). Resident memory sampled every 100 ms, and once idle before.`,
      columns: ['service', 'idle MB', 'peak MB'],
      rows: Object.keys(pids).map((name) => [name, mb(idle[name]), mb(peaks[name])]),
      targets: [
        {
          target: 'each service under 300 MB with 1,000 conversations in flight',
          actual: `${mb(worst)} MB at most`,
          met: worst < 300 * 2 ** 20,
        },
      ],
      figures: { idle, peaks, turns, seconds },
    };
  } finally {
    await t.stop();
  }
}
