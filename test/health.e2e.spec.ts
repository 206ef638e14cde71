/**
 * Health an orchestrator can act on, through a real Postgres outage: the services (as processes)
 * reach Postgres through a TCP proxy the test cuts and restores. While it is gone, ingress's
 * `/readyz` says `503 NOT_READY` naming postgres, a turn is refused with a retryable 503 (nothing
 * crashes), and a worker's own `/readyz` reports its database; once it is back every probe is
 * ready again and turns are answered. And a knowledge base imported while it runs: the router
 * trains it by itself, and says so until it is ready.
 */
import { join } from 'node:path';
import { repoRoot, runCli, startTestCluster, TcpProxy, TEST_POSTGRES_URL, waitFor, type TestCluster } from '@parley/testing';

jest.setTimeout(150_000);

describe('health through a Postgres outage', () => {
  let t: TestCluster;
  let proxy: TcpProxy;
  let sessionId: string;
  const env: Record<string, string> = { PARLEY_METRICS_PORT: 'auto' };

  const probe = async (url: string) => {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  /** The URL a worker said it serves its metrics and health on. */
  const workerBase = (service: string) => {
    const line = t.cluster.logs.find((l) => l.startsWith(`[${service}] `) && l.includes('metrics on http://'));
    return /metrics on (http:\/\/[^/\s"]+)\/metrics/.exec(line ?? '')![1];
  };

  beforeAll(async () => {
    const postgres = new URL(TEST_POSTGRES_URL);
    proxy = await TcpProxy.start({ host: postgres.hostname, port: Number(postgres.port || 5432) });
    t = await startTestCluster({
      label: 'health',
      env,
      // every service reaches the test database (made before they start) through the proxy
      beforeStart: async (db) => {
        const url = new URL(db.url);
        url.host = `127.0.0.1:${proxy.port}`;
        env.DATABASE_URL = url.toString();
      },
    });
    sessionId = (await t.post('/v1/sessions', { userId: 'health-user' })).body.sessionId;
  });
  afterAll(async () => {
    proxy?.restore();
    await t?.stop();
    await proxy?.close();
  });

  it('is ready with every dependency and worker up', async () => {
    expect(await probe(`${t.baseUrl}/readyz`)).toMatchObject({ status: 200, body: { status: 'ready' } });
    expect((await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'first', mode: 'stateful' })).status).toBe(200);
  });

  it('says 503 NOT_READY naming postgres while it is gone, and refuses turns with a retryable 503', async () => {
    proxy.cut();
    const notReady = await waitFor(
      async () => {
        const res = await probe(`${t.baseUrl}/readyz`);
        return res.status === 503 && res;
      },
      { what: 'ingress /readyz to say 503', timeoutMs: 15_000 },
    );
    expect(notReady.body.error).toMatchObject({ code: 'NOT_READY', details: { missing: expect.arrayContaining(['postgres']) } });
    const turn = await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'while down', mode: 'stateful' });
    expect(turn.status).toBe(503);
    expect(turn.body.error).toMatchObject({ code: 'SERVICE.UNAVAILABLE', details: { dependency: 'postgres' } });
    // a worker checks its database every 5 s: its own probe reports it
    const worker = await waitFor(
      async () => {
        const res = await probe(`${workerBase('router')}/readyz`);
        return res.status === 503 && res;
      },
      { what: "the router's /readyz to say 503", timeoutMs: 15_000 },
    );
    expect(worker.body.error).toMatchObject({ code: 'NOT_READY', message: expect.stringContaining('postgres not answering') });
  });

  it('is ready again once Postgres is back, and answers turns; no service exited', async () => {
    // ingress says `ready` only when every worker answers it over NATS: none exited
    proxy.restore();
    await waitFor(async () => (await probe(`${t.baseUrl}/readyz`)).body.status === 'ready', {
      what: 'ingress ready again',
      timeoutMs: 30_000,
    });
    await waitFor(async () => (await probe(`${workerBase('router')}/readyz`)).status === 200, {
      what: 'the router ready again',
      timeoutMs: 15_000,
    });
    const turn = await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'after the outage', mode: 'stateful' });
    expect(turn.status).toBe(200);
  });

  it("says the router is training a tenant's first knowledge base, imported while it runs, until it is ready", async () => {
    // no knowledge base at the start: the router is ready at once; then one is imported beside it
    const demo = join(repoRoot(), 'data/demo-bank');
    expect(
      (
        await runCli(['kb', 'import', join(demo, 'questions.csv'), '--answers', join(demo, 'answers.json')], {
          DATABASE_URL: env.DATABASE_URL,
        })
      ).code,
    ).toBe(0);
    // the router notices it by itself (no turn asks), trains, and says so meanwhile
    const training = await waitFor(
      async () => {
        const res = await probe(`${t.baseUrl}/readyz`);
        return (
          (res.body.failing as string[] | undefined)?.find((line) =>
            line.startsWith('router: training the first knowledge base of tenant default'),
          ) ?? false
        );
      },
      { what: 'ingress to say the router trains', timeoutMs: 20_000, intervalMs: 250 },
    );
    expect(training).toContain('its turns wait until it is ready');
    await waitFor(async () => (await probe(`${t.baseUrl}/readyz`)).body.status === 'ready', {
      what: 'ready once trained',
      timeoutMs: 120_000,
    });
    // the router answers from it (ingress, which answers sessionless FAQ turns itself, trains its own copy in the background)
    const session = (await t.post('/v1/sessions', {})).body.sessionId;
    const answer = await t.post(`/v1/sessions/${session}/turns`, { text: 'How do I activate my card?' });
    expect(answer.body.route).toMatchObject({ reason: 'faq-confident', intent: 'activate_my_card' });
  });
});
