/** Stream ids in the event log. */
export const SESSION_STREAM_PREFIX = 'session-';
/** Turns without a session live alone in a `turn-<id>` stream. */
export const TURN_STREAM_PREFIX = 'turn-';

/** A user's memory lives in `user-<base64url(tenant, userId)>`: any user id, per tenant, as a valid subject token. */
export const USER_STREAM_PREFIX = 'user-';

export const sessionStreamId = (sessionId: string) => `${SESSION_STREAM_PREFIX}${sessionId}`;
export const userStreamId = (tenantId: string, userId: string) =>
  `${USER_STREAM_PREFIX}${Buffer.from(`${tenantId}\u0000${userId}`, 'utf8').toString('base64url')}`;
export const turnStreamId = (turnId: string) => `${TURN_STREAM_PREFIX}${turnId}`;
export const isSessionStream = (streamId: string) => streamId.startsWith(SESSION_STREAM_PREFIX);
export const sessionIdOf = (streamId: string) => streamId.slice(SESSION_STREAM_PREFIX.length);

/** Until tenants and API keys land, every caller is this tenant. */
export const DEFAULT_TENANT = 'default';

/**
 * What a log line says of the work it was written in: the request, tenant, session and turn. Never
 * the text of a conversation. It is passed to the logger explicitly (as the fields of a line), not
 * kept in an AsyncLocalStorage: on Node 20 that switches on promise hooks, and they cost every
 * service about 15% of its CPU per turn (measured with the bench's stateful load).
 */
export interface LogContext {
  requestId?: string;
  tenantId?: string;
  sessionId?: string;
  turnId?: string;
}

/** The ids a line about this event names: its tenant, its session (for a session's event) and its turn. */
export function logIdsOf(event: {
  streamId: string;
  data: unknown;
  metadata: { tenantId: string; correlationId?: string | null };
}): LogContext {
  const turnId = (event.data as { turnId?: unknown } | null)?.turnId;
  return {
    tenantId: event.metadata.tenantId,
    ...(isSessionStream(event.streamId) ? { sessionId: sessionIdOf(event.streamId) } : {}),
    ...(typeof turnId === 'string' ? { turnId } : event.metadata.correlationId ? { turnId: event.metadata.correlationId } : {}),
  };
}
