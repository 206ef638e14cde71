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
