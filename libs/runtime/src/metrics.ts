import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The Prometheus metrics of one process. Names follow Prometheus conventions (`_total` counters,
 * `_seconds` histograms, base units); labels are bounded sets — a tenant, a route's pattern, a
 * mode, a reason, an error code — never a session, turn or user id. Every service has the same
 * metrics; each fills the ones its work touches. `service` is on every series.
 */
export class Metrics {
  readonly registry = new Registry();

  /** Answered turns by how they were routed and how they ended (`answered`, or an error code). */
  readonly turns: Counter<'tenant' | 'mode' | 'route' | 'reason' | 'outcome'>;
  /** From a turn request to its whole answer, as ingress saw it. */
  readonly turnSeconds: Histogram<'mode' | 'route'>;
  /** From a streamed turn request to the first piece of its answer. */
  readonly firstTokenSeconds: Histogram<'mode'>;
  /** One LLM call (answers and summaries), by how it ended. */
  readonly llmSeconds: Histogram<'purpose' | 'outcome'>;
  readonly llmErrors: Counter<'code'>;
  /** Tokens the LLM was given and wrote, by tenant and purpose (`reply`, `summary`). */
  readonly tokens: Counter<'tenant' | 'purpose' | 'direction'>;
  /** From an event's commit to the moment a handler starts on it. */
  readonly queueWaitSeconds: Histogram<'type'>;
  /** Messages handled, by type and result (`ok`, `retried`: nak'ed for a later delivery, `dead-lettered`). */
  readonly messages: Counter<'type' | 'result'>;
  readonly deadLetters: Counter<'reason'>;
  /** JetStream: what waits for this service's durable consumer, and what it redelivered. */
  readonly consumerPending: Gauge<'consumer'>;
  readonly consumerAckPending: Gauge<'consumer'>;
  readonly consumerRedelivered: Gauge<'consumer'>;
  /** The relay: events committed and not yet relayed, how long the oldest has waited, and events it set aside. */
  readonly relayLagEvents: Gauge;
  readonly relayLagSeconds: Gauge;
  readonly relaySetAside: Counter;
  /** HTTP requests (ingress): by method, route pattern and status; 429 and 503 show there. */
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpSeconds: Histogram<'method' | 'route'>;
  /** Turns held open by ingress, and refused past its limit. */
  readonly openTurns: Gauge;

  constructor(readonly service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
    const r = [this.registry];
    const latency = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32];
    this.turns = new Counter({
      name: 'parley_turns_total',
      help: 'Turns answered or failed, by tenant, mode, route, reason and outcome',
      labelNames: ['tenant', 'mode', 'route', 'reason', 'outcome'],
      registers: r,
    });
    this.turnSeconds = new Histogram({
      name: 'parley_turn_duration_seconds',
      help: 'From a turn request to its whole answer (ingress)',
      labelNames: ['mode', 'route'],
      buckets: latency,
      registers: r,
    });
    this.firstTokenSeconds = new Histogram({
      name: 'parley_time_to_first_token_seconds',
      help: 'From a streamed turn request to the first piece of its answer (ingress)',
      labelNames: ['mode'],
      buckets: latency,
      registers: r,
    });
    this.llmSeconds = new Histogram({
      name: 'parley_llm_call_duration_seconds',
      help: 'One LLM call, answers and summaries',
      labelNames: ['purpose', 'outcome'],
      buckets: latency,
      registers: r,
    });
    this.llmErrors = new Counter({
      name: 'parley_llm_errors_total',
      help: 'LLM calls that failed, by code',
      labelNames: ['code'],
      registers: r,
    });
    this.tokens = new Counter({
      name: 'parley_llm_tokens_total',
      help: 'Tokens given to (prompt) and written by (completion) the LLM, by tenant and purpose',
      labelNames: ['tenant', 'purpose', 'direction'],
      registers: r,
    });
    this.queueWaitSeconds = new Histogram({
      name: 'parley_queue_wait_seconds',
      help: "From an event's commit to the start of its handling",
      labelNames: ['type'],
      buckets: [0.001, ...latency],
      registers: r,
    });
    this.messages = new Counter({
      name: 'parley_messages_total',
      help: 'Bus messages handled, by event type and result',
      labelNames: ['type', 'result'],
      registers: r,
    });
    this.deadLetters = new Counter({
      name: 'parley_dead_letters_total',
      help: 'Messages stored in the dead-letter stream',
      labelNames: ['reason'],
      registers: r,
    });
    this.consumerPending = new Gauge({
      name: 'parley_consumer_pending_messages',
      help: "Messages waiting in JetStream for this service's consumer",
      labelNames: ['consumer'],
      registers: r,
    });
    this.consumerAckPending = new Gauge({
      name: 'parley_consumer_ack_pending_messages',
      help: 'Messages handed out and not yet acknowledged, all replicas',
      labelNames: ['consumer'],
      registers: r,
    });
    this.consumerRedelivered = new Gauge({
      name: 'parley_consumer_redelivered_messages',
      help: 'Messages the server is redelivering (a crash, a nak)',
      labelNames: ['consumer'],
      registers: r,
    });
    this.relayLagEvents = new Gauge({
      name: 'parley_relay_lag_events',
      help: 'Events committed but not yet relayed to JetStream (counted up to 100000)',
      registers: r,
    });
    this.relayLagSeconds = new Gauge({
      name: 'parley_relay_lag_seconds',
      help: 'Age of the oldest committed event not yet relayed (0 when caught up)',
      registers: r,
    });
    this.relaySetAside = new Counter({
      name: 'parley_relay_set_aside_total',
      help: 'Events the relay could not publish and dead-lettered',
      registers: r,
    });
    this.httpRequests = new Counter({
      name: 'parley_http_requests_total',
      help: 'HTTP requests, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers: r,
    });
    this.httpSeconds = new Histogram({
      name: 'parley_http_request_duration_seconds',
      help: 'HTTP request duration, by method and route pattern',
      labelNames: ['method', 'route'],
      buckets: latency,
      registers: r,
    });
    this.openTurns = new Gauge({ name: 'parley_open_turns', help: 'Turn requests this ingress holds open', registers: r });
  }

  /** One LLM call that ended (see `OpenAiCompatibleLlm`'s `observe`). */
  llmCall(call: {
    purpose: string;
    tenantId?: string;
    seconds: number;
    errorCode: string | null;
    usage: { promptTokens: number; completionTokens: number } | null;
  }): void {
    this.llmSeconds.observe({ purpose: call.purpose, outcome: call.errorCode ?? 'ok' }, call.seconds);
    if (call.errorCode) this.llmErrors.inc({ code: call.errorCode });
    if (!call.usage) return;
    const labels = { tenant: call.tenantId ?? 'unknown', purpose: call.purpose };
    this.tokens.inc({ ...labels, direction: 'prompt' }, call.usage.promptTokens);
    this.tokens.inc({ ...labels, direction: 'completion' }, call.usage.completionTokens);
  }

  private readonly refreshers: (() => Promise<void>)[] = [];

  /** Runs before each scrape (bounded by 2 s): for values read from elsewhere (a consumer's state, the relay's lag). */
  onScrape(refresh: () => Promise<void>): void {
    this.refreshers.push(refresh);
  }

  /** The text a Prometheus scrape gets. */
  async text(): Promise<{ contentType: string; body: string }> {
    const refreshed = Promise.allSettled(this.refreshers.map((refresh) => refresh()));
    await Promise.race([refreshed, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * A worker's own small HTTP server: `/metrics` for Prometheus, `/healthz` (the process is up) and
 * `/readyz` (it can do its work: `ready()` names a problem, or null). Listens on `port`; with
 * `fallback`, a port that is taken (a second replica on one host) gives way to any free one.
 */
export async function serveMetrics(
  metrics: Metrics,
  port: number,
  host: string,
  ready: () => Promise<string | null>,
  fallback: boolean,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const send = (status: number, type: string, body: string) => res.writeHead(status, { 'content-type': type }).end(body);
    if (req.method !== 'GET')
      return send(405, 'application/json', JSON.stringify({ error: { code: 'ROUTE.NOT_FOUND', message: 'GET only' } }));
    if (path === '/metrics') {
      void metrics.text().then(
        ({ contentType, body }) => send(200, contentType, body),
        () => send(500, 'text/plain', 'metrics failed'),
      );
      return;
    }
    if (path === '/healthz') return send(200, 'application/json', JSON.stringify({ status: 'ok', service: metrics.service }));
    if (path === '/readyz') {
      void ready().then((problem) =>
        problem
          ? send(503, 'application/json', JSON.stringify({ error: { code: 'NOT_READY', message: problem } }))
          : send(200, 'application/json', JSON.stringify({ status: 'ready' })),
      );
      return;
    }
    send(404, 'application/json', JSON.stringify({ error: { code: 'ROUTE.NOT_FOUND', message: `No route GET ${path}` } }));
  });
  const listen = (p: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, host, () => {
        server.off('error', reject);
        resolve((server.address() as { port: number }).port);
      });
    });
  try {
    return { server, port: await listen(port) };
  } catch (error) {
    if (!fallback || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    return { server, port: await listen(0) };
  }
}
