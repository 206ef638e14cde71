import type { EventType } from './events';

/**
 * NATS names. Every name starts with a prefix (PARLEY_NATS_PREFIX) so several clusters, or
 * several test files, share one NATS server without seeing each other's messages.
 */
const TOKEN = /^[A-Za-z0-9_-]+$/;

function token(value: string, what: string): string {
  if (!TOKEN.test(value)) throw new Error(`${what} "${value}" is not a valid NATS subject token`);
  return value;
}

export function assertValidPrefix(prefix: string): string {
  return token(prefix, 'NATS prefix');
}

/** JetStream stream holding every event: `<PREFIX>_EVENTS`. */
export const eventsStreamName = (prefix: string) => `${prefix.toUpperCase()}_EVENTS`;

/** Subjects the events stream captures. */
export const eventsStreamSubjects = (prefix: string) => [`${prefix}.events.>`];

/** `<prefix>.events.<tenant>.<streamId>.<type>` — the subject carries tenant and stream. */
export const eventSubject = (prefix: string, tenantId: string, streamId: string, type: EventType) =>
  `${prefix}.events.${token(tenantId, 'tenant id')}.${token(streamId, 'stream id')}.${type}`;

/** Filter for one event type across tenants and streams, or every event. */
export const eventFilter = (prefix: string, type?: EventType) =>
  type ? `${prefix}.events.*.*.${type}` : `${prefix}.events.>`;

/** Core NATS subject where one ingress instance receives the answers to its turns. */
export const replySubject = (prefix: string, instanceId: string) =>
  `${prefix}.replies.${token(instanceId, 'instance id')}`;

/** Core NATS request subject each service answers to prove it is alive and connected. */
export const healthSubject = (prefix: string, service: string) => `${prefix}.health.${token(service, 'service')}`;
