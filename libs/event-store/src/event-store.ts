import { sql } from 'drizzle-orm';
import {
  EVENT_SCHEMA_VERSIONS,
  parseRecordedEvent,
  type NewEvent,
  type RecordedEvent,
} from '@parley/contracts';
import type { Db } from './database';
import { ConcurrencyError, DuplicateEventError, pgErrorOf, StreamNotFoundError } from './errors';

/**
 * What the caller knows about the stream: an exact version (optimistic concurrency),
 * `no_stream` (create it), `exists` (append at whatever version it has), or `any`.
 */
export type ExpectedVersion = number | 'no_stream' | 'exists' | 'any';

export interface StreamInfo {
  streamId: string;
  tenantId: string;
  version: number;
  createdAt: string;
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

const SELECT_EVENT = sql`select global_position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at from events`;

/** Parses a database row: the log is data from outside this process, like any other input. */
export function toRecorded(row: EventRowJson): RecordedEvent {
  return parseRecordedEvent({
    eventId: row.event_id,
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    streamId: row.stream_id,
    version: row.version,
    globalPosition: String(row.global_position),
    recordedAt: new Date(row.recorded_at).toISOString(),
    schemaVersion: row.schema_version,
  });
}

export class EventStore {
  constructor(private readonly db: Db) {}

  /**
   * Appends events atomically in one statement (one round trip): the stream row's version is
   * checked and bumped and the events inserted together, or nothing happens.
   */
  async append(streamId: string, tenantId: string, events: NewEvent[], expected: ExpectedVersion): Promise<RecordedEvent[]> {
    if (events.length === 0) return [];
    const n = events.length;
    const streamOp = (() => {
      if (expected === 'no_stream' || expected === 0)
        return sql`insert into streams (stream_id, tenant_id, version) values (${streamId}, ${tenantId}, ${n})
                   on conflict do nothing returning version - ${n} as base`;
      if (expected === 'any')
        return sql`insert into streams (stream_id, tenant_id, version) values (${streamId}, ${tenantId}, ${n})
                   on conflict (stream_id) do update set version = streams.version + ${n}, updated_at = now()
                   where streams.tenant_id = excluded.tenant_id
                   returning version - ${n} as base`;
      if (expected === 'exists')
        return sql`update streams set version = version + ${n}, updated_at = now()
                   where stream_id = ${streamId} and tenant_id = ${tenantId} returning version - ${n} as base`;
      return sql`update streams set version = version + ${n}, updated_at = now()
                 where stream_id = ${streamId} and tenant_id = ${tenantId} and version = ${expected}
                 returning version - ${n} as base`;
    })();
    const ids = events.map((e) => e.eventId);
    const types = events.map((e) => e.type);
    const schemaVersions = events.map((e) => EVENT_SCHEMA_VERSIONS[e.type]);
    const data = events.map((e) => JSON.stringify(e.data));
    const metadata = events.map((e) => JSON.stringify(e.metadata));
    let rows: EventRowJson[];
    try {
      const result = await this.db.execute(sql`
        with s as (${streamOp}),
        ins as (
          insert into events (event_id, stream_id, version, type, schema_version, data, metadata, tenant_id)
          select e.id, ${streamId}, s.base + e.ord, e.type, e.sv, e.data, e.meta, ${tenantId}
          from s, unnest(${sql.param(ids)}::uuid[], ${sql.param(types)}::text[], ${sql.param(schemaVersions)}::int[],
                      ${sql.param(data)}::jsonb[], ${sql.param(metadata)}::jsonb[])
               with ordinality as e(id, type, sv, data, meta, ord)
          returning global_position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at
        )
        select * from ins order by version`);
      rows = result.rows as unknown as EventRowJson[];
    } catch (error) {
      if (pgErrorOf(error).constraint === 'events_event_id_key')
        throw new DuplicateEventError(streamId, { cause: error });
      throw error;
    }
    if (rows.length === 0) {
      const info = await this.streamInfo(streamId);
      const actual = info && info.tenantId === tenantId ? info.version : null;
      if (actual === null && (expected === 'exists' || typeof expected === 'number')) throw new StreamNotFoundError(streamId);
      throw new ConcurrencyError(streamId, expected, actual);
    }
    return rows.map(toRecorded);
  }

  /** A stream's events in order, optionally only those after a version and up to another. */
  async readStream(streamId: string, range: { after?: number; upTo?: number } = {}): Promise<RecordedEvent[]> {
    const result = await this.db.execute(sql`${SELECT_EVENT}
      where stream_id = ${streamId} and version > ${range.after ?? 0} and version <= ${range.upTo ?? 2_147_483_647}
      order by version`);
    return (result.rows as unknown as EventRowJson[]).map(toRecorded);
  }

  async readEvent(eventId: string): Promise<RecordedEvent | null> {
    return (await this.readEvents([eventId])).get(eventId) ?? null;
  }

  /** Events by id, in one round trip; ids not in the log are absent from the map. */
  async readEvents(eventIds: string[]): Promise<Map<string, RecordedEvent>> {
    const result = await this.db.execute(sql`${SELECT_EVENT} where event_id = any(${sql.param(eventIds)}::uuid[])`);
    const events = (result.rows as unknown as EventRowJson[]).map(toRecorded);
    return new Map(events.map((e) => [e.eventId, e]));
  }

  async streamInfo(streamId: string): Promise<StreamInfo | null> {
    const result = await this.db.execute(
      sql`select stream_id, tenant_id, version, created_at from streams where stream_id = ${streamId}`,
    );
    const row = result.rows[0] as { stream_id: string; tenant_id: string; version: number; created_at: Date } | undefined;
    return row
      ? { streamId: row.stream_id, tenantId: row.tenant_id, version: row.version, createdAt: new Date(row.created_at).toISOString() }
      : null;
  }
}
