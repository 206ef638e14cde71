import type { CoreBus } from './bus';
import { HealthReply, healthSubject } from '@parley/contracts';

/** What each service said when asked for its health: its reply, or null when it did not answer in time. */
export async function askServices(
  nc: CoreBus,
  prefix: string,
  services: readonly string[],
  timeoutMs = 1_000,
): Promise<Map<string, HealthReply | null>> {
  const answers = await Promise.all(
    services.map((service) =>
      nc.request(healthSubject(prefix, service), '', { timeout: timeoutMs }).then(
        (msg) => {
          const reply = HealthReply.safeParse(safeJson(msg.string()));
          return [service, reply.success ? reply.data : { service, instanceId: '?' }] as const;
        },
        () => [service, null] as const,
      ),
    ),
  );
  return new Map(answers);
}

/** Asks each service for a health reply; returns the ones that did not answer in time. */
export async function missingServices(nc: CoreBus, prefix: string, services: readonly string[], timeoutMs = 1_000): Promise<string[]> {
  return [...(await askServices(nc, prefix, services, timeoutMs))].filter(([, reply]) => reply === null).map(([service]) => service);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
