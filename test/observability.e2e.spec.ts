/**
 * What an operator sees of a running cluster (the services as processes): JSON log lines that
 * name the request, tenant, session and turn; Prometheus metrics on ingress and on each worker's
 * own port; one trace per turn across the processes, exported over OTLP to a collector (a small
 * one of our own here); and health answers that say what is missing.
 */
import { randomBytes } from 'node:crypto';
import { OtlpReceiver, startTestCluster, waitFor, type Cluster, type ClusterService, type TestCluster } from '@parley/testing';

jest.setTimeout(90_000);

const METRICS_TOKEN = 'metrics-token-for-the-test';

/** The URL a worker said it serves its metrics on (the port may be any free one under `auto`). */
function metricsBase(cluster: Cluster, service: ClusterService): string {
  const line = cluster.logs.find((l) => l.startsWith(`[${service}] `) && l.includes('metrics on http://'));
  const url = /metrics on (http:\/\/[^/\s"]+)\/metrics/.exec(line ?? '')?.[1];
  if (!url) throw new Error(`${service} did not say where its metrics are`);
  return url;
}

/** A sample's value from Prometheus text: the line whose name and labels include all of `labels`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const line = text
    .split('\n')
    .find(
      (l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)),
    );
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The JSON lines a service wrote (its stdout and stderr, as the harness collected them). */
function jsonLines(cluster: Cluster, service: ClusterService): Record<string, any>[] {
  return cluster.logs
    .filter((l) => l.startsWith(`[${service}] `))
    .map((l) => l.slice(service.length + 3))
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);
}

describe('observability', () => {
  let t: TestCluster;
  let otlp: OtlpReceiver;
  const scrape = async (url: string, headers: Record<string, string> = {}) => {
    const res = await fetch(url, { headers });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };

  beforeAll(async () => {
    otlp = await OtlpReceiver.start();
    t = await startTestCluster({
      label: 'observability',
      script: (request) =>
        JSON.stringify(request.messages).includes('please fail') ? { status: 400 } : { text: 'Noted, a table for two.' },
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_BSP_SCHEDULE_DELAY: '100', PARLEY_METRICS_TOKEN: METRICS_TOKEN },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await otlp?.close();
  });

  it("one stateful turn is one trace: the client's, through ingress, routing, the bus, the responder and its LLM call", async () => {
    const session = await t.post('/v1/sessions', { userId: 'trace-user' });
    const traceId = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    const turn = await t.post(
      `/v1/sessions/${session.body.sessionId}/turns`,
      { text: 'I need a table for two', mode: 'stateful' },
      { traceparent: `00-${traceId}-${clientSpan}-01` },
    );
    expect(turn.status).toBe(200);

    const spans = () => otlp.trace(traceId);
    // each process exports its spans in its own batches: wait for every one this test reads
    const arrived = () => {
      const seen = spans();
      return (
        seen.some((s) => s.name.startsWith('chat ')) &&
        seen.some((s) => s.service === 'responder' && s.name === 'append') &&
        seen.some((s) => s.service === 'responder' && s.name === 'responder process TurnRouted') &&
        seen.some((s) => s.service === 'ingress' && s.kind === 2) &&
        seen.some(
          (s) =>
            (s.service === 'ingress' && s.name === 'route' && s.attributes['parley.route.mode']) ||
            s.name === 'router process UserMessageReceived',
        )
      );
    };
    await waitFor(arrived, { what: 'the spans of every process', timeoutMs: 20_000 });
    const all = spans();
    const byId = new Map(all.map((s) => [s.spanId, s]));
    const server = all.find((s) => s.service === 'ingress' && s.kind === 2)!;
    expect(server).toMatchObject({ name: 'POST /v1/sessions/:sessionId/turns', parentSpanId: clientSpan });
    expect(server.attributes).toMatchObject({
      'http.response.status_code': 200,
      'parley.tenant.id': 'default',
      'parley.session.id': session.body.sessionId,
      'parley.turn.id': turn.body.turnId,
    });
    // routed by ingress as it recorded the message, or by the router reading the session
    const routing = all.find(
      (s) =>
        (s.service === 'ingress' && s.name === 'route' && s.attributes['parley.route.mode']) ||
        s.name === 'router process UserMessageReceived',
    );
    expect(routing?.attributes).toMatchObject({ 'parley.route.mode': 'stateful', 'parley.route.reason': 'client-forced-stateful' });
    const responding = all.find((s) => s.service === 'responder' && s.name === 'responder process TurnRouted')!;
    expect(responding.kind).toBe(5);
    // the responder's span continues from the append that recorded the routing (ingress's or the router's)
    const routedBy = byId.get(responding.parentSpanId!)!;
    expect(routedBy.name).toBe('append');
    expect(routedBy.service).toBe(routing!.service);
    const chat = all.find((s) => s.name.startsWith('chat '))!;
    expect(chat).toMatchObject({ service: 'responder', kind: 3, parentSpanId: responding.spanId });
    expect(chat.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'parley.llm.purpose': 'reply',
    });
    expect(chat.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    // every span leads back to the client's: one tree
    for (const span of all) {
      let at = span;
      for (let hops = 0; at.parentSpanId && byId.has(at.parentSpanId) && hops < 20; hops++) at = byId.get(at.parentSpanId)!;
      expect([span.name, at.parentSpanId]).toEqual([span.name, clientSpan]);
    }
    // spans never carry what was said
    expect(JSON.stringify(all)).not.toContain('table for two');
  });

  it('logs JSON lines with the request, tenant, session and turn ids, one access line per request, and no errors on a healthy start', async () => {
    const session = await t.post('/v1/sessions', {});
    const requestId = `req-${randomBytes(4).toString('hex')}`;
    const turn = await t.post(`/v1/sessions/${session.body.sessionId}/turns`, { text: 'hello there' }, { 'x-request-id': requestId });
    expect(turn.status).toBe(200);
    await waitFor(() => jsonLines(t.cluster, 'ingress').some((l) => l.requestId === requestId && l.msg === 'request'), {
      what: 'the access line',
    });
    const access = jsonLines(t.cluster, 'ingress').find((l) => l.requestId === requestId && l.msg === 'request')!;
    expect(access).toMatchObject({
      level: 'info',
      service: 'ingress',
      component: 'http',
      method: 'POST',
      route: '/v1/sessions/:sessionId/turns',
      status: 200,
      tenantId: 'default',
      sessionId: session.body.sessionId,
      turnId: turn.body.turnId,
    });
    expect(typeof access.ms).toBe('number');
    expect(typeof access.instance).toBe('string');
    expect(typeof access.traceId).toBe('string'); // tracing is on here: the line names its trace
    // a bad request is an access line too, with its status
    expect((await t.post('/v1/sessions', { userId: 42 })).status).toBe(400);
    await waitFor(
      () => jsonLines(t.cluster, 'ingress').some((l) => l.msg === 'request' && l.route === '/v1/sessions' && l.status === 400),
      { what: 'the 400 access line' },
    );

    for (const service of ['ingress', 'router', 'session-projector', 'responder', 'relay'] as const) {
      const lines = t.cluster.logs.filter((l) => l.startsWith(`[${service}] `));
      expect(lines.length).toBeGreaterThan(0);
      // every line is a JSON object with level, time, service and instance; none is an error
      for (const line of jsonLines(t.cluster, service))
        expect(line).toMatchObject({ level: expect.any(String), time: expect.any(String), service, instance: expect.any(String) });
      expect(lines.filter((l) => !l.slice(service.length + 3).startsWith('{'))).toEqual([]);
      expect(jsonLines(t.cluster, service).filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
    }
    // nothing the user said is in any log line
    expect(t.cluster.logs.join('\n')).not.toContain('hello there');
  });

  it("serves Prometheus metrics on ingress (behind PARLEY_METRICS_TOKEN) and on each worker's port", async () => {
    const session = await t.post('/v1/sessions', {});
    expect((await t.post(`/v1/sessions/${session.body.sessionId}/turns`, { text: 'a table for two', mode: 'stateful' })).status).toBe(200);
    expect((await t.post(`/v1/sessions/${session.body.sessionId}/turns`, { text: 'please fail', mode: 'stateful' })).body.error.code).toBe(
      'LLM.UPSTREAM',
    );
    // the worker's line about it names the tenant, session and turn (passed explicitly: no async context)
    const warned = await waitFor(
      () => jsonLines(t.cluster, 'responder').find((l) => l.level === 'warn' && l.sessionId === session.body.sessionId),
      { what: "the responder's warning" },
    );
    expect(warned).toMatchObject({ tenantId: 'default', turnId: expect.any(String), component: 'TurnResponder' });
    expect(warned.msg).toContain('LLM.UPSTREAM');
    expect((await t.post('/v1/sessions', { userId: 42 })).status).toBe(400);

    expect((await scrape(`${t.baseUrl}/metrics`)).status).toBe(401);
    expect((await scrape(`${t.baseUrl}/metrics`, { authorization: 'Bearer not-the-token-at-all' })).status).toBe(401);
    const ingress = await scrape(`${t.baseUrl}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(ingress.status).toBe(200);
    expect(ingress.type).toContain('text/plain');
    const turns = { tenant: 'default', mode: 'stateful', route: 'llm', reason: 'client-forced-stateful', service: 'ingress' };
    expect(sample(ingress.text, 'parley_turns_total', { ...turns, outcome: 'answered' })).toBeGreaterThanOrEqual(1);
    expect(sample(ingress.text, 'parley_turns_total', { ...turns, outcome: 'LLM.UPSTREAM' })).toBe(1);
    expect(sample(ingress.text, 'parley_turn_duration_seconds_count', { mode: 'stateful', route: 'llm' })).toBeGreaterThanOrEqual(1);
    expect(
      sample(ingress.text, 'parley_http_requests_total', { method: 'POST', route: '/v1/sessions', status: '400' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(ingress.text, 'parley_open_turns')).toBe(0);
    // ids are never labels
    expect(ingress.text).not.toContain(session.body.sessionId);

    const responder = await scrape(`${metricsBase(t.cluster, 'responder')}/metrics`);
    expect(responder.status).toBe(200);
    expect(
      sample(responder.text, 'parley_llm_call_duration_seconds_count', { purpose: 'reply', outcome: 'ok', service: 'responder' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(responder.text, 'parley_llm_errors_total', { code: 'LLM.UPSTREAM' })).toBe(1);
    expect(
      sample(responder.text, 'parley_llm_tokens_total', { tenant: 'default', purpose: 'reply', direction: 'completion' }),
    ).toBeGreaterThan(0);
    expect(sample(responder.text, 'parley_queue_wait_seconds_count', { type: 'TurnRouted' })).toBeGreaterThanOrEqual(2);
    expect(sample(responder.text, 'parley_messages_total', { type: 'TurnRouted', result: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(sample(responder.text, 'parley_consumer_pending_messages', { consumer: 'responder' })).toBe(0);
    expect(sample(responder.text, 'process_resident_memory_bytes')).toBeGreaterThan(0);

    const projector = await scrape(`${metricsBase(t.cluster, 'session-projector')}/metrics`);
    expect(
      sample(projector.text, 'parley_messages_total', { type: 'AssistantReplied', result: 'ok', service: 'session-projector' }),
    ).toBeGreaterThanOrEqual(1);
    await waitFor(async () => sample((await scrape(`${metricsBase(t.cluster, 'relay')}/metrics`)).text, 'parley_relay_lag_events') === 0, {
      what: 'the relay caught up',
    });

    for (const service of ['router', 'session-projector', 'responder', 'relay'] as const) {
      const base = metricsBase(t.cluster, service);
      expect([service, (await scrape(`${base}/healthz`)).status]).toEqual([service, 200]);
      expect([service, JSON.parse((await scrape(`${base}/readyz`)).text)]).toEqual([service, { status: 'ready' }]);
    }
  });
});
