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

/**
 * The partition of a stream: FNV-1a of its id, mod the partition count. Every event of a stream
 * lands in one partition, and each service reads each partition through a consumer with one
 * message in flight, so a session's events are handled in order even across replicas
 * (nats-server 2.9 has no multi-filter consumers or subject transforms to do this for us).
 */
export function partitionOf(streamId: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < streamId.length; i++) {
    hash ^= streamId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

/** `<prefix>.events.<partition>.<tenant>.<streamId>.<type>` — the subject carries partition, tenant and stream. */
export const eventSubject = (prefix: string, partitions: number, tenantId: string, streamId: string, type: EventType) =>
  `${prefix}.events.${partitionOf(streamId, partitions)}.${token(tenantId, 'tenant id')}.${token(streamId, 'stream id')}.${type}`;

/** The stream and event type an event subject names (its last two tokens), or null for another subject. */
export function eventOfSubject(subject: string): { streamId: string; type: string } | null {
  const tokens = subject.split('.');
  return tokens.length >= 5 && tokens.at(-5) === 'events' ? { streamId: tokens.at(-2)!, type: tokens.at(-1)! } : null;
}

/** Every event of one stream (a core NATS subscription on it sees them as they are published). */
export const streamEventsSubject = (prefix: string, partitions: number, tenantId: string, streamId: string) =>
  `${prefix}.events.${partitionOf(streamId, partitions)}.${token(tenantId, 'tenant id')}.${token(streamId, 'stream id')}.*`;

/** Filter for one partition (or all) and one event type (or all). */
export const eventFilter = (prefix: string, partition?: number, type?: EventType) =>
  `${prefix}.events.${partition ?? '*'}.${type ? `*.*.${type}` : '>'}`.replace('.*.>', '.>');

/** JetStream stream holding messages no handler could process: `<PREFIX>_DLQ`. */
export const deadLetterStreamName = (prefix: string) => `${prefix.toUpperCase()}_DLQ`;

/** `<prefix>.dlq.<service>`: where a service puts what it gave up on. */
export const deadLetterSubject = (prefix: string, service: string) => `${prefix}.dlq.${token(service, 'service')}`;

/** Core NATS subject on which every responder listens for `TurnControlMessage`s. */
export const turnControlSubject = (prefix: string) => `${prefix}.control.turns`;

/** Core NATS subject where one ingress instance receives the answers to its turns. */
export const replySubject = (prefix: string, instanceId: string) =>
  `${prefix}.replies.${token(instanceId, 'instance id')}`;

/** Core NATS request subject each service answers to prove it is alive and connected. */
export const healthSubject = (prefix: string, service: string) => `${prefix}.health.${token(service, 'service')}`;
