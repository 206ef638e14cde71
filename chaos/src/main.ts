/**
 * `npm run chaos [-- --short | --minutes N]`: Parley under steady load from retrying clients
 * while each service is killed (SIGKILL) and restarted, the NATS server (one of the run's own) is
 * killed and restarted, and Postgres backends are terminated; then it checks that nothing a client
 * was told is lost, doubled, out of order or wrong, prints a table of faults, turns, recovery times
 * and invariants, and exits 1 if any invariant fails. `--short` (what `.ci/run` runs) goes through
 * every fault once; `--minutes N` keeps going round them for N minutes.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { eventsStreamName, SETTINGS } from '@parley/contracts';
import { CLUSTER_SERVICES, readiness, startTestCluster, waitFor, type ClusterService } from '@parley/testing';
import { connectDatabase } from '@parley/event-store';
import { sendTurn, type TurnRecord } from './clients';
import { checkInvariants } from './invariants';
import { OwnNatsServer } from './nats-server';

interface Fault {
  name: string;
  /** Does the damage; resolves when whatever was hit is started again. */
  inflict: () => Promise<void>;
}

interface FaultResult {
  fault: string;
  atSeconds: number;
  /** From the fault until /readyz answers 200 again. */
  readyMs: number;
  /** From the fault until a turn sent after it is answered. */
  answeringMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const table = (columns: string[], rows: (string | number)[][]) => {
  const cells = [columns, ...rows.map((r) => r.map(String))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(columns), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map((r) => line(r.map(String)))].join('\n');
};

function parseArgs(argv: string[]): { minutes: number | null; sessions: number } {
  const short = argv.includes('--short');
  const at = argv.indexOf('--minutes');
  const minutes = at >= 0 ? Number(argv[at + 1]) : null;
  if (at >= 0 && !(minutes! > 0)) throw new Error('--minutes needs a positive number');
  const unknown = argv.filter((a, i) => a !== '--short' && a !== '--minutes' && i !== at + 1);
  if (unknown.length) throw new Error(`unknown arguments: ${unknown.join(' ')} (use --short or --minutes N)`);
  return { minutes: short ? null : minutes, sessions: short ? 12 : 24 };
}

async function main(): Promise<number> {
  const { minutes, sessions: SESSIONS } = parseArgs(process.argv.slice(2));
  const nats = await OwnNatsServer.start();
  const t = await startTestCluster({
    label: 'chaos',
    script: (request) => {
      const last = String(request.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '');
      return { text: `answer to: ${last}`, delayMs: 60 };
    },
    env: {
      NATS_URL: nats.url,
      LOG_LEVEL: 'warn',
      PARLEY_ACK_WAIT_MS: '5000', // a killed worker's messages come back after 5 s
      PARLEY_RATE_LIMIT_PER_MINUTE: '1000000',
    },
  });
  const database = await connectDatabase(t.db.url, { max: 2 });
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const started = Date.now();
  try {
    const sessions: string[] = [];
    for (let i = 0; i < SESSIONS; i++) sessions.push((await t.post('/v1/sessions', {})).body.sessionId);
    const turns: TurnRecord[] = [];
    let stopping = false;
    const load = Promise.all(
      sessions.map(async (sessionId, session) => {
        for (let index = 0; !stopping; index++) {
          const text = `chaos session ${session} turn ${index}`;
          turns.push(
            await sendTurn(
              { baseUrl: () => t.baseUrl, apiKey: t.apiKey, giveUpAfterMs: 90_000 },
              { session, sessionId, index, text, idempotencyKey: `chaos-${session}-${index}`, sentAt: Date.now() },
            ),
          );
          await sleep(20);
        }
      }),
    );

    const restartService = (service: ClusterService): Fault => ({
      name: `${service} killed (SIGKILL), restarted after 1 s`,
      inflict: async () => {
        await t.cluster.kill(service);
        await sleep(1_000);
        t.cluster.startService(service);
      },
    });
    const faults: Fault[] = [
      ...CLUSTER_SERVICES.map(restartService),
      { name: 'NATS server killed (SIGKILL), restarted after 2 s', inflict: () => nats.restart(2_000) },
      {
        name: 'every Postgres backend of the database terminated',
        inflict: async () => {
          await database.pool.query(
            'select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
          );
        },
      },
    ];

    const results: FaultResult[] = [];
    const readyz = async () => (await readiness(t.baseUrl)).ready;
    await sleep(3_000); // steady first
    for (let round = 0; ; round++) {
      for (const fault of faults) {
        const at = Date.now();
        await fault.inflict();
        await waitFor(readyz, { what: `ready after: ${fault.name}`, timeoutMs: 90_000, intervalMs: 100 });
        const readyMs = Date.now() - at;
        await waitFor(() => turns.some((turn) => turn.status === 200 && turn.sentAt > at), {
          what: `a turn answered after: ${fault.name}`,
          timeoutMs: 90_000,
          intervalMs: 50,
        });
        const answering = turns
          .filter((turn) => turn.status === 200 && turn.sentAt > at)
          .reduce((min, turn) => Math.min(min, turn.doneAt), Infinity);
        results.push({ fault: fault.name, atSeconds: Math.round((at - started) / 1000), readyMs, answeringMs: answering - at });
        process.stdout.write(`  ${fault.name}: ready again after ${readyMs} ms\n`);
        await sleep(2_000);
      }
      if (minutes === null || Date.now() - started > minutes * 60_000) break;
    }
    stopping = true;
    await load;

    // quiet: every consumer has caught up, every session's row is written
    await waitFor(
      async () => {
        const jsm = await jetstreamManager(nc);
        for (const durable of ['router', 'responder', 'session-projector']) {
          const info = await jsm.consumers.info(eventsStreamName(t.prefix), durable);
          if (info.num_pending || info.num_ack_pending) return false;
        }
        return true;
      },
      { what: 'the consumers to catch up', timeoutMs: 60_000, intervalMs: 250 },
    ).catch(() => undefined); // the invariant below reports what is left
    await sleep(1_500); // the projector's quiet interval (200 ms in test clusters), with room

    const invariants = await checkInvariants({
      database,
      nc,
      prefix: t.prefix,
      sessions,
      turns,
      llmRequests: t.llm.requests,
      systemPrompt: SETTINGS.PARLEY_SYSTEM_PROMPT.default,
    });
    const answered = turns.filter((turn) => turn.status === 200);
    const retried = turns.filter((turn) => turn.attempts > 1);
    const slowest = Math.max(...answered.map((turn) => turn.doneAt - turn.sentAt));
    console.log(`\nParley chaos run: ${SESSIONS} sessions of retrying clients, ${Math.round((Date.now() - started) / 1000)} s\n`);
    console.log(
      table(
        ['fault', 'at s', 'ready again ms', 'answering again ms'],
        results.map((r) => [r.fault, r.atSeconds, r.readyMs, r.answeringMs]),
      ),
    );
    console.log();
    console.log(
      table(
        ['turns sent', 'answered (200)', 'given up', 'sent more than once', 'slowest answered ms'],
        [[turns.length, answered.length, turns.length - answered.length, retried.length, slowest]],
      ),
    );
    console.log();
    console.log(
      table(
        ['invariant', 'holds', 'seen'],
        invariants.map((i) => [i.name, i.ok ? 'yes' : 'NO', i.detail]),
      ),
    );
    const givenUp = turns.length - answered.length;
    if (givenUp) console.log(`\n${givenUp} turn(s) were never answered within 90 s of retrying`);
    return invariants.every((i) => i.ok) && givenUp === 0 ? 0 : 1;
  } finally {
    await nc.close().catch(() => undefined);
    await database.close();
    await t.stop();
    await nats.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
  },
);
