import { connect, type NatsConnection } from '@nats-io/transport-node';
import { MessagingError, MessagingErrorCodes } from './errors';

export type { NatsConnection };

/**
 * Connects to NATS, failing fast with a clear message when the server is unreachable at startup;
 * once connected, the client reconnects on its own for as long as the process lives.
 */
export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  try {
    return await connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: 5_000 });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new MessagingError(MessagingErrorCodes.Unavailable, `Cannot reach NATS at ${url}: ${reason}`, { cause: error });
  }
}
