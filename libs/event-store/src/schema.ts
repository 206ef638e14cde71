import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

/** Postgres xid8: the id of the transaction that wrote a row, for commit-order catch-up. */
const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' });
const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });

/**
 * One row per stream: its current version, so an append checks and bumps it in one statement;
 * the user whose personal data it holds; and when that data was erased (no append after that).
 */
export const streams = pgTable(
  'streams',
  {
    streamId: text('stream_id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    version: integer('version').notNull(),
    userId: text('user_id'),
    erasedAt: timestamp('erased_at', { withTimezone: true, mode: 'string' }),
    /** Set when the stream was closed (a session expired): no more appends that require it open. */
    closedAt: timestamp('closed_at', { withTimezone: true, mode: 'string' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [index('streams_user_idx').on(t.tenantId, t.userId)],
);

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
    transactionId: xid8('transaction_id')
      .notNull()
      .default(sql`pg_current_xact_id()`),
  },
  (t) => [
    uniqueIndex('events_event_id_key').on(t.eventId),
    uniqueIndex('events_stream_version_key').on(t.streamId, t.version),
    index('events_tx_position_idx').on(t.transactionId, t.globalPosition),
    // one outcome per turn, whoever records it (the responder, a give-up, a superseded turn): a second is refused
    uniqueIndex('events_one_outcome_per_turn')
      .on(t.streamId, sql`(${t.data} ->> 'turnId')`)
      .where(sql`${t.type} in ('AssistantReplied', 'TurnFailed')`),
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

/** The key sealing a stream's personal data. Deleting the row is the erasure (crypto-shredding). */
export const dataKeys = pgTable(
  'data_keys',
  {
    streamId: text('stream_id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    userId: text('user_id'),
    key: bytea('key').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [index('data_keys_user_idx').on(t.tenantId, t.userId)],
);

/** Tombstones: users whose data was erased; nothing may be written for them again. */
export const erasedUsers = pgTable(
  'erased_users',
  {
    tenantId: text('tenant_id').notNull(),
    userId: text('user_id').notNull(),
    erasedAt: timestamp('erased_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    streams: integer('streams').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.userId] })],
);

/**
 * A tenant's FAQ knowledge base, one row per version (never updated): an FAQ answer records the
 * version that gave it, so a replay can show what the knowledge base said then.
 */
export const knowledgeBases = pgTable(
  'knowledge_bases',
  {
    tenantId: text('tenant_id').notNull(),
    version: integer('version').notNull(),
    source: text('source').notNull(),
    entries: jsonb('entries').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.version] })],
);

/** Where a log reader (the relay, a rebuild) has got to, in commit order. */
export const logCheckpoints = pgTable('log_checkpoints', {
  name: text('name').primaryKey(),
  transactionId: xid8('transaction_id').notNull(),
  globalPosition: bigint('global_position', { mode: 'bigint' }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
});

export type EventRow = typeof events.$inferSelect;

/**
 * Tenants: the teams sharing a Parley deployment. `settings` holds what a tenant overrides of the
 * deployment's defaults (routing policy, thresholds, budgets; see `TenantSettings`).
 */
export const tenants = pgTable('tenants', {
  tenantId: text('tenant_id').primaryKey(),
  settings: jsonb('settings')
    .notNull()
    .default(sql`'{}'::jsonb`),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
});

/**
 * API keys. Only the SHA-256 of a key is stored (keys are 256-bit random secrets, so a fast hash
 * is enough); `prefix` is its first characters, to recognise it in listings.
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    keyId: uuid('key_id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.tenantId),
    hash: bytea('hash').notNull(),
    prefix: text('prefix').notNull(),
    name: text('name'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'string' }),
  },
  (t) => [uniqueIndex('api_keys_hash_key').on(t.hash), index('api_keys_tenant_idx').on(t.tenantId)],
);

/**
 * A knowledge base version's trained FAQ matcher, so a restarted router (or ingress) is ready at
 * once instead of training again. `format` is the trainer's and serializer's version: a model of
 * another format is ignored and trained afresh.
 */
export const knowledgeBaseModels = pgTable(
  'knowledge_base_models',
  {
    tenantId: text('tenant_id').notNull(),
    version: integer('version').notNull(),
    format: integer('format').notNull(),
    model: bytea('model').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.version, t.format] })],
);

/**
 * Answered turns and tokens per tenant and kind of answer (`faq`, `stateless`, `stateful`),
 * counted as they are recorded — in the same statement as the answer — so reading a tenant's usage
 * costs the same at any size of log. Each kind is spread over a few rows (`shard`), so concurrent
 * answers of one tenant do not queue on one row's lock; a read sums them.
 */
export const tenantUsage = pgTable(
  'tenant_usage',
  {
    tenantId: text('tenant_id').notNull(),
    kind: text('kind').notNull(),
    shard: integer('shard').notNull(),
    turns: bigint('turns', { mode: 'number' }).notNull().default(0),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull().default(0),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.kind, t.shard] })],
);

/**
 * Messages no handler could process, when the bus is the embedded mode's in-process one (with
 * JetStream they are kept in the `<PREFIX>_DLQ` stream). `payload` is the message as it was
 * published: an event in its stored form, personal fields sealed, so erasure reaches it too.
 */
export const deadLetters = pgTable('dead_letters', {
  seq: bigserial('seq', { mode: 'number' }).primaryKey(),
  service: text('service').notNull(),
  consumer: text('consumer').notNull(),
  subject: text('subject').notNull(),
  reason: text('reason').notNull(),
  deliveries: integer('deliveries').notNull(),
  failedAt: timestamp('failed_at', { withTimezone: true, mode: 'string' }).notNull(),
  payload: text('payload').notNull(),
  /** `parley dlq retry` asked for it again: the running bus publishes it and removes the row. */
  retryRequestedAt: timestamp('retry_requested_at', { withTimezone: true, mode: 'string' }),
});

/**
 * A tenant's own LLM provider key (`parley tenants set --llm-api-key-file`), sealed (AES-256-GCM)
 * with a key of the tenant's own: never stored, logged or printed in the clear.
 */
export const tenantSecrets = pgTable('tenant_secrets', {
  tenantId: text('tenant_id')
    .primaryKey()
    .references(() => tenants.tenantId, { onDelete: 'cascade' }),
  key: bytea('key').notNull(),
  llmApiKey: text('llm_api_key'),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
});

/** Each tenant's secret for hashing callers' numbers (`caller_users`): without it a hash says nothing. */
export const callerKeys = pgTable('caller_keys', {
  tenantId: text('tenant_id').primaryKey(),
  key: bytea('key').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
});

/**
 * Voice callers who are users (tenant setting `callerUsers`): the HMAC of the caller's number under
 * the tenant's key, never the number, and the user id it names (`caller-<uuid>`). Erasing the user
 * deletes the row: the next call from the number is a new user.
 */
export const callerUsers = pgTable(
  'caller_users',
  {
    tenantId: text('tenant_id').notNull(),
    callerHash: text('caller_hash').notNull(),
    userId: text('user_id').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.callerHash] }), index('caller_users_user_idx').on(t.tenantId, t.userId)],
);
