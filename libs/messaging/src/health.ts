import type { NatsConnection } from '@nats-io/transport-node';
import { healthSubject } from '@parley/contracts';

/** Asks each service for a health reply; returns the ones that did not answer in time. */
export async function missingServices(nc: NatsConnection, prefix: string, services: readonly string[], timeoutMs = 1_000): Promise<string[]> {
  const answers = await Promise.all(
    services.map((service) =>
      nc.request(healthSubject(prefix, service), '', { timeout: timeoutMs }).then(
        () => null,
        () => service,
      ),
    ),
  );
  return answers.filter((s): s is string => s !== null);
}
