import { sql } from 'drizzle-orm';
import type { StoredEvent } from '@parley/contracts';
import type { Db } from './database';
import { toStored } from './event-store';
import { z } from 'zod';
import { Col, firstRowOf, onlyRowOf } from './rows';

/** A point in the log's total order (transaction id, then global position). */
export interface LogPosition {
  /** xid8 of the writing transaction, as text. */
  transactionId: string;
  /** Global position within that transaction. */
  globalPosition: string;
}

export const LOG_START: LogPosition = { transactionId: '0', globalPosition: '0' };

export interface LogBatch {
  /** As stored: personal fields sealed (the relay publishes them like that; others open them). */
  events: StoredEvent[];
  /** Position of the last event returned (or the `after` given, when none). */
  position: LogPosition;
}

const PositionRow = z.object({ transaction_id: Col.text, global_position: Col.bigint });

/**
 * Reads the whole log in a total order that never skips. `global_position` alone is not enough: a sequence value is
 * taken at insert time, so a transaction that started first and commits last holds a lower
 * position than events already read, and a `position > last` reader would skip it forever.
 * Ordering by (transaction id, position) and reading only transactions older than the oldest one
 * still in flight (`pg_snapshot_xmin`) makes every returned prefix final: nothing can later commit
 * before it. It is not guaranteed to be version order within a stream (a transaction can take its
 * id before it wins the stream's row lock), so readers fold by stream version, never by arrival.
 */
export async function readLogAfter(db: Pick<Db, 'execute'>, after: LogPosition, limit: number): Promise<LogBatch> {
  const result = await db.execute(sql`
    select global_position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at, transaction_id::text as transaction_id
    from events
    where (transaction_id, global_position) > (${after.transactionId}::xid8, ${after.globalPosition}::bigint)
      and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
    order by transaction_id, global_position
    limit ${limit}`);
  if (result.rows.length === 0) return { events: [], position: after };
  const events = result.rows.map(toStored);
  const last = onlyRowOf({ rows: result.rows.slice(-1) }, PositionRow, 'log batch');
  return { events, position: { transactionId: last.transaction_id, globalPosition: last.global_position } };
}

/**
 * How far a reader at `after` is behind the log: the committed events past it (counted up to
 * `cap`, so a reader far behind costs a bounded scan) and the age in seconds of the oldest (0 when
 * it is caught up).
 */
/** The newest position every reader can see now: reading after it shows only what commits later. */
export async function logHead(db: Pick<Db, 'execute'>): Promise<LogPosition> {
  const result = await db.execute(sql`
    select transaction_id::text as transaction_id, global_position::text as global_position from events
    where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
    order by transaction_id desc, global_position desc limit 1`);
  const row = firstRowOf(result, PositionRow, 'log head');
  return row ? { transactionId: row.transaction_id, globalPosition: row.global_position } : LOG_START;
}

export async function lagAfter(db: Pick<Db, 'execute'>, after: LogPosition, cap = 100_000): Promise<{ events: number; seconds: number }> {
  const result = await db.execute(sql`
    select count(*)::int as events, coalesce(extract(epoch from now() - min(recorded_at)), 0)::float8 as seconds
    from (select recorded_at from events
          where (transaction_id, global_position) > (${after.transactionId}::xid8, ${after.globalPosition}::bigint)
            and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          limit ${cap}) behind`);
  const row = onlyRowOf(result, z.object({ events: Col.int, seconds: z.number() }), 'log lag');
  return { events: row.events, seconds: Math.max(0, row.seconds) };
}

/** Named checkpoints of log readers, written by the reader after its effects are durable. */
export class LogCheckpoints {
  constructor(private readonly db: Pick<Db, 'execute'>) {}

  async load(name: string): Promise<LogPosition> {
    const result = await this.db.execute(
      sql`select transaction_id::text as transaction_id, global_position::text as global_position from log_checkpoints where name = ${name}`,
    );
    const row = firstRowOf(result, PositionRow, 'log checkpoint');
    return row ? { transactionId: row.transaction_id, globalPosition: row.global_position } : LOG_START;
  }

  async save(name: string, position: LogPosition): Promise<void> {
    await this.db.execute(sql`
      insert into log_checkpoints (name, transaction_id, global_position)
      values (${name}, ${position.transactionId}::xid8, ${position.globalPosition}::bigint)
      on conflict (name) do update set transaction_id = excluded.transaction_id,
        global_position = excluded.global_position, updated_at = now()`);
  }
}
