import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { Client, Pool } from 'pg';
import { EventStoreError, EventStoreErrorCodes } from './errors';
import * as schema from './schema';

export type Db = NodePgDatabase<typeof schema>;

export interface Database {
  db: Db;
  pool: Pool;
  close(): Promise<void>;
}

/** Migrations ship beside the compiled code (the build copies them), so this works from src and dist. */
const MIGRATIONS = join(__dirname, '..', 'migrations');
/** Any constant: serialises concurrent migrators (several services start at once). */
const MIGRATION_LOCK = 4_151_772_001;

const redact = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

/** SQLSTATEs of a server that is starting, stopping or out of connections: worth trying again. */
const TRANSIENT = /^(08\d{3}|57P0[1-3]|53300)$/;

/**
 * Why a connection failed: unreachable (refused, timed out, starting up: worth waiting for) or
 * refused by a server that answered (a wrong password, no such database: it will not change).
 */
function unavailable(url: string, cause: unknown): EventStoreError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const { severity, code } = (cause ?? {}) as { severity?: unknown; code?: unknown };
  if (typeof severity === 'string' && typeof code === 'string' && !TRANSIENT.test(code))
    return new EventStoreError(EventStoreErrorCodes.Refused, `PostgreSQL at ${redact(url)} refused the connection: ${reason}`, { cause });
  return new EventStoreError(EventStoreErrorCodes.Unavailable, `Cannot reach PostgreSQL at ${redact(url)}: ${reason}`, { cause });
}

/** Opens a pool and proves it works, so a bad DATABASE_URL fails at startup with a clear message. */
export async function connectDatabase(url: string, options: { max?: number } = {}): Promise<Database> {
  const pool = new Pool({ connectionString: url, max: options.max ?? 10, connectionTimeoutMillis: 5_000 });
  pool.on('error', () => undefined); // an idle client's error surfaces on its next query instead of crashing
  try {
    await pool.query('select 1');
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw unavailable(url, error);
  }
  return { db: drizzle(pool, { schema }), pool, close: () => pool.end() };
}

/**
 * Takes a session-level advisory lock on this connection if nobody holds it (false otherwise). It
 * is held until the connection ends: a process that dies lets another take it.
 */
export async function tryAdvisoryLock(client: Pick<Client, 'query'>, key: number): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [key]);
  return rows[0].locked;
}

/** A connection of its own holding an advisory lock, for as long as it is open. */
export interface LockedConnection {
  db: Db;
  close(): Promise<void>;
}

/**
 * Opens a connection of its own and takes the advisory lock `key` on it: null (the connection
 * closed again) when another holds it. The lock goes with the connection, so a process that dies
 * lets another take over (a relay's leadership, say). Errors of the connection surface on its
 * next query.
 */
export async function lockedConnection(url: string, key: number): Promise<LockedConnection | null> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  const close = () => client.end().catch(() => undefined);
  try {
    await client.connect();
    if (!(await tryAdvisoryLock(client, key))) {
      await close();
      return null;
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { db: drizzle(client, { schema }), close };
}

/** Resolves once the database answers a query; fails with why it did not (the caller bounds how long it waits). */
export async function probeDatabase(db: Pick<Db, 'execute'>): Promise<void> {
  await db.execute(sql`select 1`);
}

/** Whether the database answers a query (a health check's; the caller bounds how long it waits). */
export function pingDatabase(db: Pick<Db, 'execute'>): Promise<boolean> {
  return probeDatabase(db).then(
    () => true,
    () => false,
  );
}

/** Creates the database named in the URL if it does not exist yet. */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) throw new EventStoreError(EventStoreErrorCodes.Unavailable, `DATABASE_URL ${redact(url)} names no database`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    throw unavailable(url, error);
  }
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount) return false;
    await client.query(`create database "${name.replace(/"/g, '""')}"`);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === '42P04') return false; // created concurrently
    throw error;
  } finally {
    await client.end();
  }
}

/** Applies pending migrations under an advisory lock; safe to run from every service at startup. */
export async function migrateDatabase(url: string): Promise<void> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    throw unavailable(url, error);
  }
  try {
    await client.query('set client_min_messages = warning');
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS });
  } finally {
    await client.end();
  }
}
