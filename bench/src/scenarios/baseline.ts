import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { startTestCluster, type TestCluster } from '@parley/testing';
import { DEPLOYMENT_SETTINGS } from '../deployment';
import { pidsNamed, ratio, runLoad, runLoadsInTurns, sampleCpu, x } from '../load';
import type { ScenarioResult } from '../report';
import { newSessions, parleyTurn, row } from './conversations';

/** What the bench was asked to run cannot run as set up: said in a line, without a stack. */
export class BenchSetupError extends Error {
  override readonly name = 'BenchSetupError';
}

const REPLY = 'Thanks, I have noted that. Is there anything else I can help you with today?';

/** The commit a checkout is at, or what it says when it cannot tell. */
function commitOf(root: string): string {
  try {
    return execFileSync('git', ['-C', root, 'log', '-1', '--format=%h of %cs'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown commit';
  }
}

/**
 * This build against another (`PARLEY_BENCH_BASELINE`: a checkout of an earlier commit, built with
 * `npm ci && npm run build`), in the same run and on the same machine: scenario 1's load — 64
 * sessions, 16 stateful turns in flight, an instant scripted LLM — the two taking turns in rounds,
 * so a slower spell of the machine falls on both alike. Says whether a change cost speed or CPU
 * beyond noise, as a refactoring must show.
 */
export async function baselineComparison(root: string): Promise<ScenarioResult> {
  const setting = process.env.PARLEY_BENCH_BASELINE;
  if (!setting)
    throw new BenchSetupError('The baseline scenario compares with another build: set PARLEY_BENCH_BASELINE to a checkout of it');
  const baseline = resolve(setting);
  if (!existsSync(join(baseline, 'dist', 'apps', 'ingress', 'src', 'main.js')))
    throw new BenchSetupError(`${baseline} has no build: run "npm ci && npm run build" there first`);
  const SESSIONS = 64;
  const WORKERS = 16;
  const WARMUP = 4;
  const MEASURED = 48;
  const ROUNDS = 6;
  const start = (label: string, from: string) =>
    startTestCluster({
      label,
      root: from,
      script: () => ({ text: REPLY }),
      env: { ...DEPLOYMENT_SETTINGS, LOG_LEVEL: 'warn', PARLEY_RATE_LIMIT_PER_MINUTE: '1000000' },
      readyTimeoutMs: 120_000,
    });
  const clusters: TestCluster[] = [];
  try {
    const now = await start('bench_now', root);
    clusters.push(now);
    const then = await start('bench_then', baseline);
    clusters.push(then);
    const [nowSessions, thenSessions] = [await newSessions(now, SESSIONS), await newSessions(then, SESSIONS)];
    const perSession = SESSIONS / WORKERS;
    const text = (w: number, i: number) => `turn ${i} of worker ${w}: where is my card?`;
    const turn = (t: TestCluster, sessions: string[]) => (w: number, i: number) =>
      parleyTurn(t, sessions[w + WORKERS * (i % perSession)], text(w, i));
    const steps = { now: turn(now, nowSessions), then: turn(then, thenSessions) };
    await runLoad(WORKERS, WARMUP, steps.now);
    await runLoad(WORKERS, WARMUP, steps.then);
    // each round's CPU goes to its build: its services, and the NATS server and Postgres they share
    const processes = (t: TestCluster) => () => [
      ...Object.values(t.cluster.pids() as Record<string, number>),
      ...pidsNamed('nats-server'),
      ...pidsNamed('postgres'),
    ];
    const cpu = { now: 0, then: 0 };
    const runs = await runLoadsInTurns(
      ROUNDS,
      WORKERS,
      MEASURED,
      { now: (w, i) => steps.now(w, i + WARMUP), then: (w, i) => steps.then(w, i + WARMUP) },
      (build) => {
        const sample = sampleCpu({ [build]: processes(build === 'now' ? now : then) });
        return () => (cpu[build] += sample.stop()[build]);
      },
    );
    const measured = WORKERS * MEASURED;
    const perTurn = (ms: number) => (ms / measured).toFixed(2);
    const rate = ratio(runs.now.perSecond, runs.then.perSecond);
    return {
      id: 'baseline-comparison',
      title: 'This build against a baseline build, same run',
      setup: `${SESSIONS} sessions, ${WORKERS} stateful turns in flight, ${measured} measured turns each, the builds taking turns in ${ROUNDS} rounds; instant scripted LLM; services as processes over NATS and Postgres. This build: ${commitOf(root)}. Baseline: ${commitOf(baseline)}. CPU: the build's services, the NATS server and Postgres during its rounds.`,
      columns: ['build', 'turns/s', 'p50 ms', 'p99 ms', 'turns', 'CPU ms per turn'],
      rows: [
        [...row('this build', runs.now), perTurn(cpu.now)],
        [...row('baseline', runs.then), perTurn(cpu.then)],
      ],
      targets: [{ target: 'no regression beyond noise (≥ 0.9× the baseline turns/s)', actual: x(rate), met: rate >= 0.9 }],
      figures: { now: runs.now, then: runs.then, cpuMs: cpu, turns: measured },
    };
  } finally {
    for (const t of clusters) await t.stop();
  }
}
