/**
 * What a log line or a dead letter may say of an error: what failed and why, never the data it
 * failed on. Logs and dead letters outlive an erasure, so nothing personal may reach them — and
 * errors carry data: drizzle's wrapper prints the query's parameters (a whole session's state),
 * Postgres quotes the value it refused, `JSON.parse` quotes the text it could not read.
 */
export function describeError(error: unknown): string {
  for (let current: unknown = error, depth = 0; current && typeof current === 'object' && depth < 8; depth++) {
    const e = current as { name?: unknown; code?: unknown; severity?: unknown; message?: unknown; cause?: unknown; issues?: unknown };
    const message = typeof e.message === 'string' ? e.message : '';
    // the driver's error: its code and the first clause of its message (values come after a colon or in quotes)
    if (typeof e.severity === 'string' && typeof e.code === 'string') return `postgres ${e.code}: ${withoutData(message.split(':')[0])}`;
    // drizzle's wrapper, whose message holds the query and its parameters: what it wraps says why
    if (message.startsWith('Failed query:') && e.cause) {
      current = e.cause;
      continue;
    }
    if (Array.isArray(e.issues)) {
      const issues = (e.issues as { path?: unknown[]; code?: unknown }[])
        .slice(0, 5)
        .map((i) => `${(i.path ?? []).join('.') || '(root)'} ${String(i.code)}`);
      return `invalid data: ${issues.join('; ')}`;
    }
    if (e.name === 'SyntaxError') return 'SyntaxError: not valid JSON';
    const name = typeof e.name === 'string' ? e.name : 'Error';
    const code = typeof e.code === 'string' && /^[A-Z][A-Z_]*(\.[A-Z_]+)*$/.test(e.code) ? ` ${e.code}` : '';
    return `${name}${code}: ${withoutData(message)}`;
  }
  return typeof error === 'string' ? withoutData(error) : 'unknown error';
}

/** Drops quoted parts (where messages put values) and bounds the length. */
function withoutData(text: string): string {
  const cut = text.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '…');
  return cut.length > 300 ? `${cut.slice(0, 297)}...` : cut;
}

const POSTGRES_DOWN = /^(08\d{3}|57P0[1-3]|53300)$/;
const SOCKET_DOWN = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH)$/;
const NATS_DOWN = new Set([
  'ClosedConnectionError',
  'DrainingConnectionError',
  'ConnectionError',
  'RequestError',
  'TimeoutError',
  'NoResponders',
  'JetStreamNotEnabled',
  'JetStreamError',
  'JetStreamStatusError',
]);

/**
 * Which dependency an error says is down — PostgreSQL (connection lost, refused, shutting down,
 * out of connections) or NATS (connection closed, a request timed out or found no responders) —
 * or null when it is something else. Callers answer these as "retry shortly", not as a bug.
 */
export function unavailableDependency(error: unknown): 'postgres' | 'nats' | null {
  for (let current: unknown = error, depth = 0; current && typeof current === 'object' && depth < 8; depth++) {
    const e = current as { name?: unknown; code?: unknown; severity?: unknown; message?: unknown; cause?: unknown };
    const message = typeof e.message === 'string' ? e.message : '';
    if (e.code === 'EVENT_STORE.UNAVAILABLE' || e.code === 'EVENT_STORE.REFUSED') return 'postgres';
    if (e.code === 'MESSAGING.UNAVAILABLE') return 'nats';
    if (typeof e.severity === 'string' && typeof e.code === 'string' && POSTGRES_DOWN.test(e.code)) return 'postgres';
    if (
      /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
        message,
      )
    )
      return 'postgres';
    if (typeof e.name === 'string' && NATS_DOWN.has(e.name)) return 'nats';
    if (typeof e.code === 'string' && SOCKET_DOWN.test(e.code)) return 'postgres'; // NATS reconnects on its own: a socket error reaching a request is the database's pool
    current = e.cause;
  }
  return null;
}
