import type { StoredEvent } from './events';
import { isSessionStream } from './streams';

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

/**
 * Who acts on an event — the last token of its subject, so that each service's consumer gets from
 * the server only the events it acts on (nats-server 2.9 allows one filter subject per consumer,
 * so the filter cannot list types): `route`, a user's message still to be routed (the router);
 * `answer`, a turn routed to the LLM, and a message ingress routed as it recorded it, of a
 * session or waited on (the responder: the message comes just before its routing, so the
 * responder has the turn without reading the log); `state`, any other event of a session (the
 * session projector: a turn's message and routing are folded with its outcome); `log`, the rest —
 * on the bus for `parley tail`, replay and whatever else subscribes, acted on by none of ours (a
 * sessionless message answered from the knowledge base as it was recorded — nobody waits on it —,
 * a knowledge base answer's routing, a sessionless turn's outcome, a user's memory).
 */
export type EventAudience = 'route' | 'answer' | 'state' | 'log';

export function audienceOf(event: Pick<StoredEvent, 'streamId' | 'type' | 'data' | 'metadata'>): EventAudience {
  if (event.type === 'UserMessageReceived') {
    if (!event.metadata.routed) return 'route';
    return isSessionStream(event.streamId) || event.metadata.replyTo ? 'answer' : 'log';
  }
  if (event.type === 'TurnRouted') return (event.data as { route?: unknown }).route === 'faq' ? 'log' : 'answer';
  return isSessionStream(event.streamId) ? 'state' : 'log';
}

/** `<prefix>.events.<partition>.<tenant>.<streamId>.<type>.<audience>` — partition, tenant, stream, type, and who acts on it. */
export const eventSubject = (prefix: string, partitions: number, event: Pick<StoredEvent, 'streamId' | 'type' | 'data' | 'metadata'>) =>
  `${prefix}.events.${partitionOf(event.streamId, partitions)}.${token(event.metadata.tenantId, 'tenant id')}.${token(event.streamId, 'stream id')}.${event.type}.${audienceOf(event)}`;

/** Every event of one stream (a core NATS subscription on it sees them as they are published). */
export const streamEventsSubject = (prefix: string, partitions: number, tenantId: string, streamId: string) =>
  `${prefix}.events.${partitionOf(streamId, partitions)}.${token(tenantId, 'tenant id')}.${token(streamId, 'stream id')}.>`;

/** Filter for one partition (or all) and the events for one audience (or all). */
export const eventFilter = (prefix: string, partition?: number, audience?: EventAudience) =>
  `${prefix}.events.${partition ?? '*'}.${audience ? `*.*.*.${audience}` : '>'}`;

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
