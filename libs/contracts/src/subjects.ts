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
 * Shards of the event subjects. A stream's events always carry the same shard token (FNV-1a of its
 * id), so a subscriber that wants to split the events by conversation can filter on it. Parley's
 * own consumers do not: they take every shard (`*`) and keep each session in order themselves
 * (see `JetStreamTransport`). The count is fixed, as it is part of every subject.
 */
export const SUBJECT_SHARDS = 16;

/** The shard token of a stream's subjects. */
export function shardOf(streamId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < streamId.length; i++) {
    hash ^= streamId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % SUBJECT_SHARDS;
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

/** `<prefix>.events.<shard>.<tenant>.<streamId>.<type>.<audience>` — shard, tenant, stream, type, and who acts on it. */
export const eventSubject = (prefix: string, event: Pick<StoredEvent, 'streamId' | 'type' | 'data' | 'metadata'>) =>
  `${prefix}.events.${shardOf(event.streamId)}.${token(event.metadata.tenantId, 'tenant id')}.${token(event.streamId, 'stream id')}.${event.type}.${audienceOf(event)}`;

/** Every event of one stream (a core NATS subscription on it sees them as they are published). */
export const streamEventsSubject = (prefix: string, tenantId: string, streamId: string) =>
  `${prefix}.events.${shardOf(streamId)}.${token(tenantId, 'tenant id')}.${token(streamId, 'stream id')}.>`;

/** Filter for the events for one audience (or all), of one shard (or all). */
export const eventFilter = (prefix: string, audience?: EventAudience, shard?: number) =>
  `${prefix}.events.${shard ?? '*'}.${audience ? `*.*.*.${audience}` : '>'}`;

/** JetStream stream holding messages no handler could process: `<PREFIX>_DLQ`. */
export const deadLetterStreamName = (prefix: string) => `${prefix.toUpperCase()}_DLQ`;

/** `<prefix>.dlq.<service>`: where a service puts what it gave up on. */
export const deadLetterSubject = (prefix: string, service: string) => `${prefix}.dlq.${token(service, 'service')}`;

/** Core NATS subject on which every process hears of erasures, to drop what it cached of the streams. */
export const erasedSubject = (prefix: string) => `${prefix}.control.erased`;

/** Core NATS subject on which a change to a tenant's settings or keys is announced to every process. */
export const tenantChangedSubject = (prefix: string) => `${prefix}.control.tenant-changed`;

/** Core NATS subject on which every responder listens for `TurnControlMessage`s. */
export const turnControlSubject = (prefix: string) => `${prefix}.control.turns`;

/** Core NATS subject where one ingress instance receives the answers to its turns. */
export const replySubject = (prefix: string, instanceId: string) => `${prefix}.replies.${token(instanceId, 'instance id')}`;

/** Core NATS request subject each service answers to prove it is alive and connected. */
export const healthSubject = (prefix: string, service: string) => `${prefix}.health.${token(service, 'service')}`;
