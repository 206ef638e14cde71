/**
 * `npm run soak [-- --minutes N]` (default 5): a steady load of stateful conversations through the
 * services, sampling every 10 s each service's resident memory and responsiveness (the time it
 * takes to answer a health request: its event loop's lag, plus a NATS round trip), the consumers'
 * backlog and the database's size. After a warm-up third, nothing may keep growing: memory and lag
 * in the last third no more than 20% above the middle third (the database grows with the log, by a
 * steady amount per turn). Prints the samples and the verdict; exits 1 on growth.
 */
import { readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { eventsStreamName, healthSubject } from '@parley/contracts';
import { connectDatabase } from '@parley/event-store';
import { startTestCluster } from '@parley/testing';
import { sendTurn } from './clients';
import { OwnNatsServer } from './nats-server';

const SERVICES = ['ingress', 'router', 'responder', 'session-projector', 'relay'] as const;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

interface Sample {
  at: number;
  turns: number;
  rss: Record<string, number>;
  lagMs: Record<string, number>;
  pending: number;
  databaseMb: number;
}

async function main(): Promise<number> {
  const at = process.argv.indexOf('--minutes');
  const minutes = at >= 0 ? Number(process.argv[at + 1]) : 5;
  if (!(minutes > 0)) throw new Error('--minutes needs a positive number');
  const nats = await OwnNatsServer.start();
  const t = await startTestCluster({
    label: 'soak',
    script: (request) => ({ text: `noted: ${String(request.messages.at(-1)?.content ?? '').slice(0, 40)}`, delayMs: 150 }),
    env: {
      NATS_URL: nats.url,
      LOG_LEVEL: 'warn',
      PARLEY_RATE_LIMIT_PER_MINUTE: '1000000',
      PARLEY_TENANT_CACHE_MS: '5000',
      PARLEY_PROJECTION_QUIET_MS: '30000',
    },
  });
  const database = await connectDatabase(t.db.url, { max: 1 });
  const nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  const pids = t.cluster.pids() as Record<string, number>;
  const samples: Sample[] = [];
  let turns = 0;
  let stopping = false;
  try {
    // 32 conversations, each a new session every 50 turns (sessions come and go, as calls do)
    const load = Promise.all(
      Array.from({ length: 32 }, async (_, c) => {
        for (let n = 0; !stopping; n++) {
          const { sessionId } = (await t.post('/v1/sessions', { userId: `soak-${c}` })).body;
          for (let i = 0; i < 50 && !stopping; i++) {
            const result = await sendTurn(
              { baseUrl: () => t.baseUrl, apiKey: t.apiKey, giveUpAfterMs: 60_000 },
              {
                session: c,
                sessionId,
                index: i,
                text: `conversation ${c}.${n} turn ${i}: I would like to change my delivery address`,
                idempotencyKey: `soak-${c}-${n}-${i}`,
                sentAt: Date.now(),
              },
            );
            if (result.status === 200) turns++;
          }
        }
      }),
    );
    const started = Date.now();
    while (Date.now() - started < minutes * 60_000) {
      await sleep(10_000);
      const lagMs: Record<string, number> = {};
      for (const service of SERVICES) {
        const t0 = performance.now();
        await nc.request(healthSubject(t.prefix, service), '', { timeout: 5_000 }).catch(() => undefined);
        lagMs[service] = performance.now() - t0;
      }
      let pending = 0;
      for (const durable of ['router', 'responder', 'session-projector']) {
        const info = await jsm.consumers.info(eventsStreamName(t.prefix), durable);
        pending += info.num_pending + info.num_ack_pending;
      }
      const size = await database.pool.query<{ mb: number }>('select pg_database_size(current_database()) / 1048576.0 as mb');
      samples.push({
        at: Math.round((Date.now() - started) / 1000),
        turns,
        rss: Object.fromEntries(Object.entries(pids).map(([s, pid]) => [s, rssMb(pid)])),
        lagMs,
        pending,
        databaseMb: Number(size.rows[0].mb),
      });
      const last = samples.at(-1)!;
      process.stdout.write(`  ${last.at} s: ${turns} turns, responder ${last.rss.responder.toFixed(0)} MB, backlog ${pending}\n`);
    }
    stopping = true;
    await load;
  } finally {
    await nc.close();
    await database.close();
    await t.stop();
    await nats.stop();
  }

  const third = Math.floor(samples.length / 3);
  const middle = samples.slice(third, 2 * third);
  const end = samples.slice(2 * third);
  const growth: string[] = [];
  const lines: string[] = [];
  for (const service of SERVICES) {
    const [m, e] = [mean(middle.map((s) => s.rss[service])), mean(end.map((s) => s.rss[service]))];
    const [lm, le] = [mean(middle.map((s) => s.lagMs[service])), mean(end.map((s) => s.lagMs[service]))];
    lines.push(`| ${service} | ${m.toFixed(0)} | ${e.toFixed(0)} | ${lm.toFixed(1)} | ${le.toFixed(1)} |`);
    if (e > m * 1.2 + 5) growth.push(`${service} memory ${m.toFixed(0)} → ${e.toFixed(0)} MB`);
    if (le > lm * 1.2 + 5) growth.push(`${service} lag ${lm.toFixed(1)} → ${le.toFixed(1)} ms`);
  }
  const backlog = [mean(middle.map((s) => s.pending)), mean(end.map((s) => s.pending))];
  if (backlog[1] > backlog[0] * 1.2 + 20) growth.push(`backlog ${backlog[0].toFixed(0)} → ${backlog[1].toFixed(0)}`);
  const rate = (samples.at(-1)!.turns - samples[0].turns) / Math.max(1, samples.at(-1)!.at - samples[0].at);
  const perTurnKb = ((samples.at(-1)!.databaseMb - samples[0].databaseMb) * 1024) / Math.max(1, samples.at(-1)!.turns - samples[0].turns);
  console.log(
    `\nParley soak: ${minutes} min, ${samples.at(-1)?.turns ?? 0} turns (${rate.toFixed(1)}/s), database +${perTurnKb.toFixed(1)} KB a turn\n`,
  );
  console.log('| service | RSS middle third MB | RSS last third MB | health round trip middle ms | last ms |');
  console.log('|---|---|---|---|---|');
  console.log(lines.join('\n'));
  console.log(`| consumer backlog | ${backlog[0].toFixed(0)} | ${backlog[1].toFixed(0)} | | |`);
  console.log(growth.length ? `\nGrowing after warm-up: ${growth.join('; ')}` : '\nNothing grows after the warm-up.');
  return growth.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
  },
);
