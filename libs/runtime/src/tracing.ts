import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

export interface Tracing {
  /** Sends the spans still buffered and stops. */
  shutdown(): Promise<void>;
}

/**
 * Traces, when `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector: spans are batched and sent as
 * OTLP/HTTP JSON to `<endpoint>/v1/traces`, W3C trace context is what crosses process borders
 * (HTTP headers, NATS headers, event metadata), and the active span follows async work. Without
 * an endpoint nothing is set up: the spans the code starts are the API's no-ops.
 * The batch processor reads the standard `OTEL_BSP_*` variables (e.g. its 5 s schedule delay).
 */
export function startTracing(endpoint: string | undefined, service: string, instanceId: string): Tracing | null {
  if (!endpoint) return null;
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'service.namespace': 'parley', 'service.instance.id': instanceId }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` }))],
  });
  provider.register();
  return { shutdown: () => provider.shutdown() };
}
