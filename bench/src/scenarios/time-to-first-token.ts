import { startTestCluster } from '@parley/testing';
import { DEPLOYMENT_SETTINGS } from '../deployment';
import { timeToFirst, hasContentChunk } from '../http-stream';
import { latency, ms, type Latency } from '../measure';
import type { ScenarioResult } from '../report';

const REPLY = 'Your new card is on its way and should arrive within five working days.';
const N = 300;
const WARMUP = 30;

/**
 * Scenario 7: time to first token through Parley's streaming APIs against calling the same
 * scripted LLM directly, one request at a time. What Parley adds is the difference of medians:
 * recording the turn, routing it and the hops between the services before the LLM is called,
 * and relaying the first piece back.
 */
export async function timeToFirstToken(): Promise<ScenarioResult> {
  const start = (label: string, embedded: boolean) =>
    startTestCluster({
      label,
      embedded,
      script: () => ({ text: REPLY }),
      env: { ...DEPLOYMENT_SETTINGS, LOG_LEVEL: 'warn', PARLEY_RATE_LIMIT_PER_MINUTE: '1000000' },
    });
  const t = await start('bench_ttft', false);
  let e: Awaited<ReturnType<typeof start>> | undefined;
  try {
    // the embedded mode's way: every service in one process, on the in-process bus (same Postgres)
    e = await start('bench_ttft_emb', true);
    const auth = { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' };
    const embeddedAuth = { authorization: `Bearer ${e.apiKey}`, 'content-type': 'application/json' };
    const { sessionId } = (await t.post('/v1/sessions', {})).body as { sessionId: string };
    const { sessionId: embeddedSession } = (await e.post('/v1/sessions', {})).body as { sessionId: string };
    const eBase = e.baseUrl;
    let i = 0;
    const question = () => `Where is my card? (${i++})`;
    const chat = (stream: boolean) => JSON.stringify({ model: 'parley', stream, messages: [{ role: 'user', content: question() }] });
    const paths: [string, () => Promise<number>][] = [
      [
        'scripted LLM, direct',
        () =>
          timeToFirst(
            `${t.llm.url}/chat/completions`,
            { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat(true) },
            hasContentChunk,
          ),
      ],
      [
        'Parley POST /v1/turns (stateless, SSE)',
        () =>
          timeToFirst(
            `${t.baseUrl}/v1/turns`,
            { method: 'POST', headers: { ...auth, accept: 'text/event-stream' }, body: JSON.stringify({ text: question() }) },
            (s) => s.includes('event: delta'),
          ),
      ],
      [
        'Parley session turn (stateful, SSE)',
        () =>
          timeToFirst(
            `${t.baseUrl}/v1/sessions/${sessionId}/turns`,
            {
              method: 'POST',
              headers: { ...auth, accept: 'text/event-stream' },
              body: JSON.stringify({ text: question(), mode: 'stateful' }),
            },
            (s) => s.includes('event: delta'),
          ),
      ],
      [
        'Parley /v1/chat/completions (stream)',
        () => timeToFirst(`${t.baseUrl}/v1/chat/completions`, { method: 'POST', headers: auth, body: chat(true) }, hasContentChunk),
      ],
      [
        'Parley embedded POST /v1/turns (stateless, SSE)',
        () =>
          timeToFirst(
            `${eBase}/v1/turns`,
            { method: 'POST', headers: { ...embeddedAuth, accept: 'text/event-stream' }, body: JSON.stringify({ text: question() }) },
            (s) => s.includes('event: delta'),
          ),
      ],
      [
        'Parley embedded session turn (stateful, SSE)',
        () =>
          timeToFirst(
            `${eBase}/v1/sessions/${embeddedSession}/turns`,
            {
              method: 'POST',
              headers: { ...embeddedAuth, accept: 'text/event-stream' },
              body: JSON.stringify({ text: question(), mode: 'stateful' }),
            },
            (s) => s.includes('event: delta'),
          ),
      ],
    ];
    // the paths take turns, one request each per round, so the baseline and every path see the machine alike
    for (let w = 0; w < WARMUP; w++) for (const [, run] of paths) await run();
    const samples = paths.map((): number[] => []);
    for (let n = 0; n < N; n++) for (const [index, [, run]] of paths.entries()) samples[index].push(await run());
    const measured: [string, Latency][] = paths.map(([name], index) => [name, latency(samples[index])]);
    const direct = measured[0][1];
    const added = (l: Latency) => l.p50 - direct.p50;
    // the target is the deployment's: the embedded rows are beside it, not in it
    const worst = Math.max(
      ...measured
        .slice(1)
        .filter(([name]) => !name.includes('embedded'))
        .map(([, l]) => added(l)),
    );
    return {
      id: 'time-to-first-token',
      title: '7. Time to first token through the streaming APIs',
      setup: `${N} requests per path after ${WARMUP} warm-up, one at a time, the paths taking turns (one request of each per round), against a scripted LLM that streams at once; Parley's services as separate processes over NATS and Postgres, and (embedded) the same services in one process on the in-process bus, on the same Postgres.`,
      columns: ['path', 'p50 ms', 'p99 ms', 'added at p50 ms'],
      rows: measured.map(([name, l], index) => [name, ms(l.p50), ms(l.p99), index === 0 ? '-' : ms(added(l))]),
      targets: [{ target: 'added time to first token ≤ 5 ms at the median', actual: `${ms(worst)} ms (worst path)`, met: worst <= 5 }],
      figures: Object.fromEntries(measured.map(([name, l]) => [name, { ...l, addedP50: added(l) }])),
    };
  } finally {
    await e?.stop();
    await t.stop();
  }
}
