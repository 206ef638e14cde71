import { MessagingErrorCodes } from './errors';

/** The codes of "Postgres did not answer" (the event store's) and "NATS did not answer". */
const UNREACHABLE = new Set<unknown>(['EVENT_STORE.UNAVAILABLE', MessagingErrorCodes.Unavailable]);

/** Postgres or NATS did not answer (refused, not found, timed out, starting up): worth trying again. */
export const isUnreachable = (error: unknown) => error instanceof Error && UNREACHABLE.has((error as { code?: unknown }).code);

/**
 * Runs `connect` until it reaches its server, for at most `waitSeconds` (`PARLEY_CONNECT_WAIT_SECONDS`):
 * a container started beside its database (docker compose, Kubernetes) waits for it instead of
 * failing at once. Tries again after 0.25 s, doubling to at most 2 s; says once what it waits for
 * and gives the last error when the time is up. Other errors (a wrong password, a missing database)
 * are not retried. With 0 it tries once, as a developer at a terminal wants.
 */
export async function withConnectWait<T>(waitSeconds: number, connect: () => Promise<T>, note: (line: string) => void): Promise<T> {
  const deadline = Date.now() + waitSeconds * 1000;
  let delay = 250;
  let told = false;
  for (;;) {
    try {
      return await connect();
    } catch (error) {
      if (!isUnreachable(error) || Date.now() + delay > deadline) throw error;
      if (!told) note(`${(error as Error).message}; trying again for up to ${waitSeconds} s (PARLEY_CONNECT_WAIT_SECONDS)`);
      told = true;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 2_000);
    }
  }
}
