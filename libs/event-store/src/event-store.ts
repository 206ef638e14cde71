import { createHash } from 'node:crypto';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Pool } from 'pg';
import {
  EVENT_SCHEMA_VERSIONS,
  EventMetadata,
  parseStoredEvent,
  toRecordedEvent,
  type EventType,
  type NewEvent,
  type RecordedEvent,
  type StoredEvent,
} from '@parley/contracts';
import { isIdle, type UsageIncrement } from '@parley/conversation';
import type { Db } from './database';
import { DataKeys } from './data-keys';
import {
  ConcurrencyError,
  DuplicateEventError,
  EventStoreError,
  EventStoreErrorCodes,
  EventTooLargeError,
  OutcomeRecordedError,
  pgErrorOf,
  StreamErasedError,
  StreamInactiveError,
  StreamNotFoundError,
  UserErasedError,
} from './errors';
import { hasPersonalFields, hasSealedFields, newDataKey, openData, sealData, type KeyState } from './personal-data';
import { z } from 'zod';
import { Col, firstRowOf, rowsOf } from './rows';

const dialect = new PgDialect();
const tracer = trace.getTracer('parley.event-store');
const statementNames = new Map<string, string>();

/** The pool behind a pool-backed database; null inside a transaction (or for another executor). */
function poolOf(db: Pick<Db, 'execute'>): Pool | null {
  const client = (db as { $client?: Pool }).$client;
  return client && typeof client.query === 'function' && !('rollback' in db) ? client : null;
}

/**
 * Runs a statement as a named prepared statement — parsed and planned once per connection, not on
 * every call — when `db` is a pool-backed database; inside a transaction, as a plain query.
 */
async function query(db: Pick<Db, 'execute'>, statement: SQL | { text: string; values: unknown[] }): Promise<unknown[]> {
  const pool = poolOf(db);
  const { text, values } =
    'text' in statement ? statement : (({ sql: text, params }) => ({ text, values: params }))(dialect.sqlToQuery(statement));
  if (!pool) {
    // the text's $n markers become drizzle parameters again
    const parts = text.split(/\$(\d+)/);
    return (await db.execute(sql.join(parts.map((part, i) => (i % 2 ? sql.param(values[Number(part) - 1]) : sql.raw(part)))))).rows;
  }
  let name = statementNames.get(text);
  if (!name) {
    name = `parley_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return (await pool.query({ name, text, values })).rows;
}

/** Builds a statement's parameter list as its text is written: `p(value)` gives the next `$n`. */
function parameters(): { values: unknown[]; p: (value: unknown) => string } {
  const values: unknown[] = [];
  return { values, p: (value) => `$${values.push(value)}` };
}

/**
 * What the caller knows about the stream: an exact version (optimistic concurrency),
 * `no_stream` (create it), `exists` (append at whatever version it has), or `any`.
 */
export type ExpectedVersion = number | 'no_stream' | 'exists' | 'any';

export interface AppendOptions {
  /**
   * Creating a stream that will hold personal data: give it a key of its own, owned by this user
   * (null for an anonymous session). Refused for a user who was erased.
   */
  newKey?: { userId: string | null };
  /**
   * Append only if the stream is not closed and had an event within this many seconds (checked
   * in the same statement); otherwise StreamInactiveError.
   */
  activeWithinSeconds?: number;
  /** Close the stream with this append (e.g. a session's expiry): later `activeWithinSeconds` appends are refused. */
  close?: boolean;
  /** When each event was first recorded (importing from another environment); default: now. */
  recordedAt?: readonly string[];
  /** What the appended answer counts for in the tenant's usage, counted in the same statement. */
  usage?: UsageIncrement;
}

/** Rows each kind of a tenant's usage is spread over (see `tenant_usage`). */
export const USAGE_SHARDS = 8;

export interface StreamInfo {
  streamId: string;
  tenantId: string;
  version: number;
  createdAt: string;
  userId: string | null;
  erased: boolean;
  updatedAt: string;
  closed: boolean;
}

export interface EventRowJson {
  global_position: string;
  event_id: string;
  stream_id: string;
  version: number;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: unknown;
  recorded_at: Date | string;
}

const StreamRow = z.object({
  stream_id: Col.text,
  tenant_id: Col.text,
  version: Col.int,
  created_at: Col.time,
  updated_at: Col.time,
  closed_at: Col.time.nullable(),
  user_id: Col.text.nullable(),
  erased_at: Col.time.nullable(),
});

const SELECT_EVENT = sql`select global_position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at from events`;

/**
 * The columns of an event row, checked (cheaply: every read of the log comes through here) before
 * they are trusted; a row that is not one fails by name.
 */
function eventRow(raw: unknown): EventRowJson {
  const r = raw as Partial<Record<keyof EventRowJson, unknown>> | null;
  const ok =
    r !== null &&
    typeof r === 'object' &&
    typeof r.event_id === 'string' &&
    typeof r.stream_id === 'string' &&
    typeof r.version === 'number' &&
    typeof r.type === 'string' &&
    typeof r.schema_version === 'number' &&
    (typeof r.global_position === 'string' || typeof r.global_position === 'number') &&
    (typeof r.recorded_at === 'string' || r.recorded_at instanceof Date);
  if (!ok)
    throw new EventStoreError(
      EventStoreErrorCodes.UnexpectedRow,
      'an event row lacks a column of the events table, or holds one of another type',
    );
  return r as EventRowJson;
}

/**
 * Parses a database row into the stored (sealed) form: the log is input like any other. The
 * columns' types already hold most of the envelope (a uuid, integers, text, a time); the type's
 * name and the metadata are checked here, and a row failing either goes through the full parse
 * for its error.
 */
export function toStored(input: unknown): StoredEvent {
  const row = eventRow(input);
  const raw = {
    eventId: row.event_id,
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    streamId: row.stream_id,
    version: row.version,
    globalPosition: String(row.global_position),
    recordedAt: new Date(row.recorded_at).toISOString(),
    schemaVersion: row.schema_version,
  };
  const metadata = EventMetadata.safeParse(row.metadata);
  if (!Object.hasOwn(EVENT_SCHEMA_VERSIONS, row.type) || !metadata.success) return parseStoredEvent(raw);
  return { ...raw, type: row.type as EventType, metadata: metadata.data };
}

/**
 * Most bytes an event may take on the wire (its stored JSON): NATS's default `max_payload` (1 MiB)
 * less room for the subject and headers. Services lower it to what their NATS server allows.
 */
export const MAX_EVENT_BYTES = 1024 * 1024 - 8 * 1024;

export interface EventStoreOptions {
  /** Most bytes an event may take once stored and sealed (default `MAX_EVENT_BYTES`). */
  maxEventBytes?: number;
}

export class EventStore {
  /** The stored (sealed) form of the events this store handed out, for publishing them as they are stored. */
  private readonly wire = new WeakMap<RecordedEvent, StoredEvent>();
  private readonly maxEventBytes: number;

  constructor(
    private readonly db: Pick<Db, 'execute'>,
    private readonly keys = new DataKeys(),
    options: EventStoreOptions = {},
  ) {
    this.maxEventBytes = options.maxEventBytes ?? MAX_EVENT_BYTES;
  }

  /**
   * Appends events atomically in one statement (one round trip): the stream row's version is
   * checked and bumped and the events inserted together, or nothing happens. Personal fields are
   * sealed with the stream's key before they leave the process.
   */
  async append(
    streamId: string,
    tenantId: string,
    events: NewEvent[],
    expected: ExpectedVersion,
    options: AppendOptions = {},
  ): Promise<RecordedEvent[]> {
    if (events.length === 0) return [];
    // a span of its own, whose context the events carry (`traceparent`): their consumers continue the trace
    return tracer.startActiveSpan(
      'append',
      {
        kind: SpanKind.CLIENT,
        attributes: { 'db.system.name': 'postgresql', 'db.operation.name': 'append', 'parley.events': events.map((e) => e.type).join(',') },
      },
      async (span) => {
        try {
          const carrier: Record<string, string> = {};
          propagation.inject(context.active(), carrier);
          // this append's context, not one copied along with the metadata of the event that caused it
          const traced = carrier.traceparent
            ? events.map((e) => ({ ...e, metadata: { ...e.metadata, traceparent: carrier.traceparent } }))
            : events;
          return await this.appendTraced(streamId, tenantId, traced, expected, options);
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'error' });
          throw error;
        } finally {
          span.end();
        }
      },
    );
  }

  private async appendTraced(
    streamId: string,
    tenantId: string,
    events: NewEvent[],
    expected: ExpectedVersion,
    options: AppendOptions,
  ): Promise<RecordedEvent[]> {
    const n = events.length;
    let keyState: KeyState;
    if (options.newKey) keyState = { kind: 'key', key: newDataKey() };
    else if (expected === 'no_stream' || expected === 0)
      keyState = { kind: 'none' }; // a new stream without a key of its own
    // nothing to seal (a routing decision, an expiry): no key needed; an erased stream still refuses the append below
    else if (!events.some((e) => hasPersonalFields(e.type))) keyState = { kind: 'none' };
    else {
      keyState = (await this.keys.forStreams(this.db, [streamId])).get(streamId)!;
      if (keyState.kind === 'erased') throw await this.refusal(streamId, tenantId, new StreamErasedError(streamId));
    }
    const key = keyState.kind === 'key' ? keyState.key : null;
    const userId = options.newKey?.userId ?? null;
    // the statement's text depends only on the kind of append, so it is prepared once per kind
    const { values, p } = parameters();
    const [stream, tenant, count] = [p(streamId), p(tenantId), `${p(n)}::int`];
    const active =
      options.activeWithinSeconds === undefined
        ? ''
        : ` and closed_at is null and updated_at > now() - ${p(options.activeWithinSeconds)}::int * interval '1 second'`;
    const close = options.close ? ', closed_at = now()' : '';
    let streamOp: string;
    if (expected === 'no_stream' || expected === 0)
      streamOp = `insert into streams (stream_id, tenant_id, version, user_id) values (${stream}, ${tenant}, ${count}, ${p(userId)}::text)
                  on conflict do nothing returning version - ${count} as base`;
    else if (expected === 'any')
      streamOp = `insert into streams (stream_id, tenant_id, version, user_id) values (${stream}, ${tenant}, ${count}, ${p(userId)}::text)
                  on conflict (stream_id) do update set version = streams.version + ${count}, updated_at = now()
                  where streams.tenant_id = excluded.tenant_id and streams.erased_at is null
                  returning version - ${count} as base`;
    else
      streamOp = `update streams set version = version + ${count}, updated_at = now()${close}
                  where stream_id = ${stream} and tenant_id = ${tenant}${expected === 'exists' ? '' : ` and version = ${p(expected)}::int`} and erased_at is null${active}
                  returning version - ${count} as base`;
    const keyOp = options.newKey
      ? `, k as (insert into data_keys (stream_id, tenant_id, user_id, key) select ${stream}, ${tenant}, ${p(userId)}::text, ${p(key)}::bytea from s returning 1)`
      : '';
    const { usage } = options;
    const usageOp = usage
      ? `, u as (insert into tenant_usage (tenant_id, kind, shard, turns, prompt_tokens, completion_tokens)
              select ${tenant}, ${p(usage.kind)}, ${p(Math.floor(Math.random() * USAGE_SHARDS))}::int, ${p(usage.turns)}::bigint, ${p(usage.promptTokens)}::bigint, ${p(usage.completionTokens)}::bigint from s
              on conflict (tenant_id, kind, shard) do update set turns = tenant_usage.turns + excluded.turns,
                prompt_tokens = tenant_usage.prompt_tokens + excluded.prompt_tokens, completion_tokens = tenant_usage.completion_tokens + excluded.completion_tokens
              returning 1)`
      : '';
    const sealed = events.map((e) => sealData(e.type, e.data, streamId, key));
    this.checkSizes(streamId, events, sealed);
    // data and metadata go as one JSON array each, picked by position (no array literal to escape)
    const text = `
      with s as (${streamOp})${keyOp}${usageOp}
      insert into events (event_id, stream_id, version, type, schema_version, data, metadata, tenant_id, recorded_at)
      select e.id, ${stream}, s.base + e.ord, e.type, e.sv, ${p(JSON.stringify(sealed))}::jsonb -> (e.ord::int - 1),
             ${p(JSON.stringify(events.map((e) => e.metadata)))}::jsonb -> (e.ord::int - 1), ${tenant}, coalesce(e.at, now())
      from s, unnest(${p(events.map((e) => e.eventId))}::uuid[], ${p(events.map((e) => e.type))}::text[],
                     ${p(events.map((e) => EVENT_SCHEMA_VERSIONS[e.type]))}::int[], ${p(events.map((_, i) => options.recordedAt?.[i] ?? null))}::timestamptz[])
           with ordinality as e(id, type, sv, at, ord)
      order by e.ord
      returning global_position, version, recorded_at`;
    let rows: { global_position: string; version: number; recorded_at: Date | string }[];
    try {
      rows = (await query(this.db, { text, values })) as typeof rows;
    } catch (error) {
      const pg = pgErrorOf(error);
      if (pg.constraint === 'events_event_id_key') throw new DuplicateEventError(streamId, { cause: error });
      if (pg.constraint === 'events_one_outcome_per_turn') throw new OutcomeRecordedError(streamId, { cause: error });
      if (pg.code === 'P0002' && userId) throw new UserErasedError(userId);
      throw error;
    }
    if (rows.length === 0) {
      const info = await this.streamInfo(streamId);
      // another tenant's stream is not found, whatever became of it: its erasure is not ours to see
      if (info && info.tenantId !== tenantId && expected !== 'no_stream' && expected !== 0 && expected !== 'any')
        throw new StreamNotFoundError(streamId);
      if (info?.erased) throw new StreamErasedError(streamId);
      if (info && options.activeWithinSeconds !== undefined && info.tenantId === tenantId) {
        const idle = isIdle(info.updatedAt, Date.now(), options.activeWithinSeconds);
        if (info.closed || idle) throw new StreamInactiveError(streamId, info.closed ? 'closed' : 'idle', info.updatedAt);
      }
      const actual = info && info.tenantId === tenantId ? info.version : null;
      if (actual === null && (expected === 'exists' || typeof expected === 'number')) throw new StreamNotFoundError(streamId);
      throw new ConcurrencyError(streamId, expected, actual);
    }
    if (options.newKey) this.keys.remember(streamId, keyState);
    rows.sort((a, b) => a.version - b.version);
    // the events as the caller wrote them (already open), paired with their stored (sealed) form
    return rows.map((row, i) => {
      const { eventId, type, metadata } = events[i];
      const stored: StoredEvent = {
        eventId,
        type,
        data: sealed[i],
        metadata,
        streamId,
        version: row.version,
        globalPosition: String(row.global_position),
        recordedAt: new Date(row.recorded_at).toISOString(),
        schemaVersion: EVENT_SCHEMA_VERSIONS[type],
      };
      return this.track(stored, events[i].data);
    });
  }

  /**
   * Refuses, before anything is written, an event whose stored form the bus could not carry. The
   * envelope's fixed fields are counted at their longest (a global position of 19 digits, a
   * timestamp), so what is checked is what the relay will publish.
   */
  private checkSizes(streamId: string, events: readonly NewEvent[], sealed: readonly unknown[]): void {
    const envelope = 200 + 2 * streamId.length;
    events.forEach((event, i) => {
      const bytes =
        envelope + Buffer.byteLength(JSON.stringify(sealed[i])) + Buffer.byteLength(JSON.stringify(event.metadata)) + event.type.length;
      if (bytes > this.maxEventBytes) throw new EventTooLargeError(streamId, event.type, bytes, this.maxEventBytes);
    });
  }

  /** Forgets what this process cached of erased streams (their keys): later reads show them erased. */
  forget(streamIds: readonly string[]): void {
    this.keys.forget(streamIds);
  }

  /** `refusal` for a stream of this tenant; for another tenant's, not found (its state is not ours to see). */
  private async refusal(streamId: string, tenantId: string, refusal: Error): Promise<Error> {
    const info = await this.streamInfo(streamId);
    return info && info.tenantId === tenantId ? refusal : new StreamNotFoundError(streamId);
  }

  /** The stored (sealed) form of events this store returned: what goes on the bus. */
  sealed(events: readonly RecordedEvent[]): StoredEvent[] {
    return events.map((event) => {
      const stored = this.wire.get(event);
      if (!stored) throw new Error(`Event ${event.eventId} was not read or written by this store`);
      return stored;
    });
  }

  /** Opens stored events (from the log or the bus) with their streams' keys. */
  async open(stored: readonly StoredEvent[]): Promise<RecordedEvent[]> {
    if (stored.length === 0) return [];
    // only streams with sealed data need their key looked up (a stateless turn's stream has none)
    const keys = await this.keys.forStreams(
      this.db,
      stored.filter((e) => hasSealedFields(e.type, e.data)).map((e) => e.streamId),
    );
    return stored.map((event) => {
      const { data, erased } = openData(event.type, event.data, event.streamId, keys.get(event.streamId) ?? { kind: 'none' });
      return this.track(event, data, erased);
    });
  }

  private track(stored: StoredEvent, openData: unknown, erased = false): RecordedEvent {
    const recorded = toRecordedEvent(stored, openData, erased);
    this.wire.set(recorded, stored);
    return recorded;
  }

  /** A stream's events in version order: those after `after`, up to `upTo`, of `types`, at most `limit`. */
  async readStream(
    streamId: string,
    range: { after?: number; upTo?: number; types?: readonly EventType[]; limit?: number } = {},
  ): Promise<RecordedEvent[]> {
    const result = {
      rows: await query(
        this.db,
        sql`${SELECT_EVENT}
      where stream_id = ${streamId} and version > ${range.after ?? 0} and version <= ${range.upTo ?? 2_147_483_647}
      ${range.types ? sql`and type = any(${sql.param(range.types)}::text[])` : sql``}
      order by version ${range.limit !== undefined ? sql`limit ${range.limit}` : sql``}`,
      ),
    };
    return this.open(result.rows.map(toStored));
  }

  async readEvent(eventId: string): Promise<RecordedEvent | null> {
    return (await this.readEvents([eventId])).get(eventId) ?? null;
  }

  /** Events by id, in one round trip; ids not in the log are absent from the map. */
  async readEvents(eventIds: string[]): Promise<Map<string, RecordedEvent>> {
    const result = { rows: await query(this.db, sql`${SELECT_EVENT} where event_id = any(${sql.param(eventIds)}::uuid[])`) };
    const events = await this.open(result.rows.map(toStored));
    return new Map(events.map((e) => [e.eventId, e]));
  }

  /** The outcome (`AssistantReplied` or `TurnFailed`) of a turn, if the log holds one (there is at most one). */
  async outcomeOf(streamId: string, turnId: string): Promise<RecordedEvent<'AssistantReplied' | 'TurnFailed'> | null> {
    const rows = await query(
      this.db,
      sql`${SELECT_EVENT}
      where stream_id = ${streamId} and type in ('AssistantReplied', 'TurnFailed') and (data ->> 'turnId') = ${turnId}`,
    );
    const [outcome] = await this.open(rows.map(toStored));
    return (outcome as RecordedEvent<'AssistantReplied' | 'TurnFailed'> | undefined) ?? null;
  }

  /** Whether the tenant holds any stream of this user (a session or memory, erased or not). */
  async userKnown(tenantId: string, userId: string): Promise<boolean> {
    const result = await this.db.execute(sql`select 1 from streams where tenant_id = ${tenantId} and user_id = ${userId} limit 1`);
    return result.rows.length > 0;
  }

  /** The user's most recently active session stream (not erased), if any. */
  async latestSessionOf(tenantId: string, userId: string): Promise<StreamInfo | null> {
    const result = await this.db.execute(sql`
      select stream_id from streams
      where tenant_id = ${tenantId} and user_id = ${userId} and stream_id like 'session-%' and erased_at is null
      order by updated_at desc limit 1`);
    const row = firstRowOf(result, z.object({ stream_id: Col.text }), 'latest session');
    return row ? this.streamInfo(row.stream_id) : null;
  }

  /** A tenant's streams in the order they were created, optionally only those changed since a time. */
  async tenantStreams(tenantId: string, since?: Date): Promise<string[]> {
    const rows = await this.db.execute(sql`
      select stream_id from streams where tenant_id = ${tenantId}
        ${since ? sql`and updated_at >= ${since.toISOString()}` : sql``}
      order by created_at, stream_id`);
    return rowsOf(rows, z.object({ stream_id: Col.text }), 'tenant streams').map((r) => r.stream_id);
  }

  /** Marks a stream closed (an imported session that had expired where it came from). */
  async markClosed(streamId: string): Promise<void> {
    await this.db.execute(sql`update streams set closed_at = coalesce(closed_at, now()) where stream_id = ${streamId}`);
  }

  async streamInfo(streamId: string): Promise<StreamInfo | null> {
    const result = await this.db.execute(
      sql`select stream_id, tenant_id, version, created_at, updated_at, closed_at, user_id, erased_at from streams where stream_id = ${streamId}`,
    );
    const row = firstRowOf(result, StreamRow, 'stream');
    return row
      ? {
          streamId: row.stream_id,
          tenantId: row.tenant_id,
          version: row.version,
          createdAt: new Date(row.created_at).toISOString(),
          userId: row.user_id,
          erased: row.erased_at !== null,
          updatedAt: new Date(row.updated_at).toISOString(),
          closed: row.closed_at !== null,
        }
      : null;
  }
}
