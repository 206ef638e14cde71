import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { headers, type MsgHdrs } from '@nats-io/transport-node';
import type { StoredEvent } from '@parley/contracts';
import type { DeliveredMessage } from './bus';

/**
 * Trace context across a NATS hop (W3C `traceparent`). An event carries the context it was
 * appended in, in its metadata (the log keeps it, so the relay can publish it later) and in the
 * message's headers; a consumer continues the trace from there. With no tracing set up (no
 * `OTEL_EXPORTER_OTLP_ENDPOINT`) nothing is injected and the spans below are no-ops.
 */
const tracer = trace.getTracer('parley.messaging');

/** Headers of an event's message: its trace context, if it has one. */
export function traceHeaders(event: StoredEvent): MsgHdrs | undefined {
  const { traceparent } = event.metadata;
  if (!traceparent) return undefined;
  const h = headers();
  h.set('traceparent', traceparent);
  return h;
}

/** The trace context a message continues: its headers', else its event's metadata's. */
function parentOf(msg: DeliveredMessage, event: StoredEvent) {
  const carrier: Record<string, string> = {};
  const fromHeader = msg.headers?.get('traceparent');
  const traceparent = fromHeader || event.metadata.traceparent;
  if (traceparent) carrier.traceparent = traceparent;
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/**
 * Runs a message's whole handling in a consumer span (`<service> process <EventType>`), a child
 * of the context the event was appended in; what the handler appends continues the same trace.
 */
export function inConsumerSpan<T>(
  service: string,
  msg: DeliveredMessage,
  event: StoredEvent,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(
    `${service} process ${event.type}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'nats',
        'messaging.operation.type': 'process',
        'messaging.destination.name': msg.subject,
        'messaging.consumer.group.name': msg.info.consumer,
        'messaging.message.id': event.eventId,
        'parley.event.type': event.type,
        'parley.tenant.id': event.metadata.tenantId,
        'parley.delivery': msg.info.deliveryCount,
      },
    },
    parentOf(msg, event),
    async (span) => {
      try {
        return await work(span);
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'error' });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** The current trace context as a `traceparent` value, if a trace is being recorded. */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}
