import { randomUUID } from 'node:crypto';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger as Pino } from 'pino';
import type { LogContext, Metrics } from '@parley/runtime';

/** A client's own request id is kept (and echoed) when it is a sane one; else one is made. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

const tracer = trace.getTracer('parley.ingress');
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

type Traced = FastifyRequest & { logContext?: LogContext; startedAt?: bigint; span?: Span };

/**
 * The request's log context: its id from the start, the tenant once the key is checked, the
 * session and turn once known (what handles the request adds them to this object).
 */
export const logContextOf = (request: FastifyRequest): LogContext => ((request as Traced).logContext ??= {});

/** The route's pattern (`/v1/sessions/:sessionId/turns`), never its ids; `unmatched` for a 404. */
const routeOf = (request: FastifyRequest) => request.routeOptions.url ?? 'unmatched';

/**
 * Every request gets an id (`x-request-id`, the client's if it sent a sane one), and everything it
 * logs carries it — with the tenant once the key is checked, and the session and turn once known.
 * When it is answered: one access line (method, route pattern, status, milliseconds and those ids),
 * the HTTP metrics, and the end of its server span — a child of the client's `traceparent`, if it
 * sent one, and the parent of everything the request does (the append, and through the events'
 * trace context, the router's and the responder's work).
 */
export function traceRequests(fastify: FastifyInstance, log: Pino, metrics: Metrics): void {
  fastify.addHook('onRequest', (request: Traced, reply, done) => {
    const given = request.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    void reply.header('x-request-id', requestId);
    request.startedAt = process.hrtime.bigint();
    logContextOf(request).requestId = requestId;
    if (PROBES.has(routeOf(request))) return done(); // no trace per probe
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const span = tracer.startSpan(
      `${request.method} ${routeOf(request)}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': request.method, 'http.route': routeOf(request), 'parley.request_id': requestId },
      },
      parent,
    );
    request.span = span;
    context.with(trace.setSpan(parent, span), done);
  });
  fastify.addHook('onResponse', (request: Traced, reply, done) => {
    const seconds = request.startedAt ? Number(process.hrtime.bigint() - request.startedAt) / 1e9 : 0;
    const route = routeOf(request);
    const status = reply.statusCode;
    metrics.httpRequests.inc({ method: request.method, route, status: String(status) });
    metrics.httpSeconds.observe({ method: request.method, route }, seconds);
    const span = request.span;
    if (span) {
      const { tenantId, sessionId, turnId } = request.logContext ?? {};
      span.setAttributes({
        'http.response.status_code': status,
        ...(tenantId ? { 'parley.tenant.id': tenantId } : {}),
        ...(sessionId ? { 'parley.session.id': sessionId } : {}),
        ...(turnId ? { 'parley.turn.id': turnId } : {}),
      });
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    // probes and scrapes come every few seconds: their lines are debug
    log[PROBES.has(route) ? 'debug' : 'info'](
      { component: 'http', ...request.logContext, method: request.method, route, status, ms: Math.round(seconds * 10_000) / 10 },
      'request',
    );
    done();
  });
}
