/**
 * `npm run bench [-- <scenario>...]`: runs the benchmark scenarios against the local Postgres (a
 * database of its own, dropped afterwards), prints each table and writes the figures with the
 * machine's description to `bench/results/` and `docs/benchmarks.md`.
 */
import { join } from 'node:path';
import { connectDatabase, migrateDatabase, type Database } from '@parley/event-store';
import { createTestDatabase } from '@parley/testing';
import { describeMachine, render, save, type ScenarioResult } from './report';
import { appends } from './scenarios/appends';
import { baselineComparison, BenchSetupError } from './scenarios/baseline';
import { conversations } from './scenarios/conversations';
import { memoryAtScale, realLatency, replicaScaling } from './scenarios/real-latency';
import { rebuild } from './scenarios/rebuild';
import { stateLoad } from './scenarios/state-load';
import { timeToFirstToken } from './scenarios/time-to-first-token';

const ROOT = join(__dirname, '..', '..', '..');
/** Groups of scenarios, by the name `npm run bench -- <name>` selects them with. */
const SCENARIOS: Record<string, (database: Database, root: string) => Promise<ScenarioResult[]>> = {
  conversations: (_, root) => conversations(root),
  appends: (database) => appends(database),
  'state-load': async (database, root) => [await stateLoad(database, root)],
  rebuild: (database) => rebuild(database),
  'time-to-first-token': async () => [await timeToFirstToken()],
  'real-latency': async () => [...(await realLatency()), await replicaScaling(), await memoryAtScale()],
  /** Only when named, with PARLEY_BENCH_BASELINE: this build against another. */
  baseline: async (_, root) => [await baselineComparison(root)],
};

/** Scenarios a plain `npm run bench` leaves out. */
const ON_REQUEST = new Set(['baseline']);

/** The order of the results in docs/benchmarks.md: the scenario numbers. */
const RESULT_ORDER = [
  'stateful-turns',
  'cpu-per-turn',
  'single-turn',
  'long-conversations',
  'stateless-faq',
  'appends',
  'state-load',
  'rebuild',
  'time-to-first-token',
  'storage-per-turn',
  'service-memory',
  'real-latency',
  'real-latency-cpu',
  'real-latency-memory',
  'replica-scaling',
  'memory-at-scale',
  'baseline-comparison',
];

async function main(): Promise<number> {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !(n in SCENARIOS));
  if (unknown.length) {
    console.error(`Unknown scenario ${unknown.join(', ')}; scenarios: ${Object.keys(SCENARIOS).join(', ')}`);
    return 2;
  }
  const startedAt = new Date();
  const db = await createTestDatabase('bench');
  let database: Database | undefined;
  try {
    await migrateDatabase(db.url);
    database = await connectDatabase(db.url);
    const machine = await describeMachine(db.url);
    console.log(
      `Parley bench on ${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB, Node ${machine.node}, PostgreSQL ${machine.postgres}\n`,
    );
    const results: ScenarioResult[] = [];
    for (const name of names.length ? names : Object.keys(SCENARIOS).filter((n) => !ON_REQUEST.has(n))) {
      const started = performance.now();
      for (const result of await SCENARIOS[name](database, ROOT)) {
        console.log(render(result) + '\n');
        results.push(result);
      }
      console.log(`(${name}: ${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
    }
    console.log(`Figures written to ${save(ROOT, machine, results, startedAt, RESULT_ORDER)} and docs/benchmarks.md`);
    return 0;
  } finally {
    await database?.close();
    await db.drop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof BenchSetupError ? `bench: ${error.message}` : error instanceof Error ? error.stack : error);
    process.exit(1);
  },
);
