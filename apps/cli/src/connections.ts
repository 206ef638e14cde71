import { connectDatabase, type Database } from '@parley/event-store';
import { connectNats, withConnectWait, type NatsConnection } from '@parley/messaging';

let waitSeconds = 0;

/**
 * Every connection this command opens waits up to `seconds` for its server
 * (`PARLEY_CONNECT_WAIT_SECONDS`): a command run in a container started beside its database —
 * compose's `kb import` after `migrate` — rides out a slow or restarting Postgres or NATS instead of
 * failing on the first refused or timed-out connection. 0 (a developer at a terminal) tries once.
 */
export function waitForServers(seconds: number): void {
  waitSeconds = seconds;
}

const note = (line: string) => process.stderr.write(`parley: ${line}\n`);

/** Runs `connect` until its server answers, for as long as `waitForServers` says. */
export function waitingForServer<T>(connect: () => Promise<T>): Promise<T> {
  return withConnectWait(waitSeconds, connect, note);
}

/** The event store's database, waited for as `waitForServers` says. */
export const openDatabase = (url: string, options: { max?: number } = {}): Promise<Database> =>
  waitingForServer(() => connectDatabase(url, options));

/** A NATS connection, waited for as `waitForServers` says. */
export const openNats = (url: string): Promise<NatsConnection> => waitingForServer(() => connectNats(url, 'parley-cli'));
