import { sql } from 'drizzle-orm';
import { bigint, bigserial, customType, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

/** Postgres xid8: the id of the transaction that wrote a row, for commit-order catch-up. */
const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' });

/** One row per stream: its current version, so an append checks and bumps it in one statement. */
export const streams = pgTable('streams', {
  streamId: text('stream_id').primaryKey(),
  tenantId: text('tenant_id').notNull(),
  version: integer('version').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
});

/** The append-only log. UPDATE and DELETE are rejected by a trigger (see the migrations). */
export const events = pgTable(
  'events',
  {
    globalPosition: bigserial('global_position', { mode: 'bigint' }).primaryKey(),
    eventId: uuid('event_id').notNull(),
    streamId: text('stream_id').notNull(),
    version: integer('version').notNull(),
    type: text('type').notNull(),
    schemaVersion: integer('schema_version').notNull(),
    data: jsonb('data').notNull(),
    metadata: jsonb('metadata').notNull(),
    tenantId: text('tenant_id').notNull(),
    recordedAt: timestamp('recorded_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    transactionId: xid8('transaction_id').notNull().default(sql`pg_current_xact_id()`),
  },
  (t) => [
    uniqueIndex('events_event_id_key').on(t.eventId),
    uniqueIndex('events_stream_version_key').on(t.streamId, t.version),
    index('events_tx_position_idx').on(t.transactionId, t.globalPosition),
  ],
);

/**
 * Read model: a session's folded state, the stream version it reflects (its checkpoint), the
 * version of the fold that produced it (rows from another fold are ignored), and the time of the
 * last folded event (not of the write, so a rebuild reproduces rows exactly).
 */
export const sessionProjections = pgTable('session_projections', {
  streamId: text('stream_id').primaryKey(),
  tenantId: text('tenant_id').notNull(),
  version: integer('version').notNull(),
  foldVersion: integer('fold_version').notNull().default(1),
  state: jsonb('state').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
});

/** Where a log reader (the relay, a rebuild) has got to, in commit order. */
export const logCheckpoints = pgTable('log_checkpoints', {
  name: text('name').primaryKey(),
  transactionId: xid8('transaction_id').notNull(),
  globalPosition: bigint('global_position', { mode: 'bigint' }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
});

export type EventRow = typeof events.$inferSelect;
