import { sql, type SQL } from 'drizzle-orm';
import { SESSION_FOLD_VERSION, SessionFolder, type SessionState, type Versioned } from '@parley/conversation';
import { z } from 'zod';
import type { Db } from './database';
import { DataKeys } from './data-keys';
import { toStored } from './event-store';
import { Col, onlyRowOf } from './rows';

export interface RebuildProgress {
  events: number;
  total: number;
}

export interface RebuildResult {
  events: number;
  sessions: number;
  seconds: number;
}

/** Events read from the rebuild's cursor per round trip. */
const REBUILD_FETCH = 10_000;

/**
 * Drops and refolds every session read model from the log, in one repeatable-read transaction:
 * the table is locked against the projector's writes before the snapshot is taken, so the rebuild
 * folds every event committed before it started, and the projector, whose writes resume
 * afterwards, folds any later one (it always folds from its row's version onwards).
 */
export async function rebuildSessionProjections(db: Db, onProgress?: (progress: RebuildProgress) => void): Promise<RebuildResult> {
  const started = performance.now();
  return db.transaction(
    async (tx) => {
      // before any statement that takes the snapshot: no projector write can fall between the two
      await tx.execute(sql`lock table session_projections in exclusive mode`);
      await tx.execute(sql`delete from session_projections`);
      const total = onlyRowOf(
        await tx.execute(sql`select count(*)::int as n from events where stream_id like 'session-%'`),
        z.object({ n: Col.int }),
        'session events',
      ).n;
      // every session's key up front (one query), so opening events never waits on the connection
      const keys = new DataKeys(Number.MAX_SAFE_INTEGER);
      await keys.preloadSessions(tx);
      // the whole snapshot through a cursor, one session after another in version order (the
      // unique (stream, version) index gives that order): each session's row is written as soon as
      // its last event is folded, while the next events are read and folded
      await tx.execute(sql`declare rebuild_events no scroll cursor for
        select global_position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at
        from events where stream_id like 'session-%' order by stream_id, version`);
      // real promises: drizzle's query runs on every `then`, so awaiting one after `catch` would run it twice
      const run = (statement: SQL) => {
        const done = Promise.resolve(tx.execute(statement));
        done.catch(() => undefined); // awaited later; a failure must not go unhandled meanwhile
        return done;
      };
      const fetch = () => run(sql`fetch forward ${sql.raw(String(REBUILD_FETCH))} from rebuild_events`);
      type Row = { streamId: string; tenantId: string; folded: Versioned<SessionState>; at: string };
      let pending: Row[] = [];
      const writes: Promise<unknown>[] = [];
      const write = () => {
        if (pending.length === 0) return;
        // one parameter per value: a jsonb[] array parameter would be escaped character by character
        const values = pending.map(
          (r) =>
            sql`(${r.streamId}, ${r.tenantId}, ${r.folded.version}, ${SESSION_FOLD_VERSION}, ${JSON.stringify(r.folded.state)}::jsonb, ${r.at}::timestamptz)`,
        );
        writes.push(
          run(
            sql`insert into session_projections (stream_id, tenant_id, version, fold_version, state, updated_at) values ${sql.join(values, sql`, `)}`,
          ),
        );
        pending = [];
      };
      let current = null as (Omit<Row, 'folded'> & { folder: SessionFolder }) | null;
      let sessions = 0;
      const finish = () => {
        if (!current) return;
        pending.push({ streamId: current.streamId, tenantId: current.tenantId, folded: current.folder.result(), at: current.at });
        sessions++;
        if (pending.length >= 500) write();
      };
      let events = 0;
      let next = fetch(); // the next batch is read while this one is opened and folded
      for (;;) {
        const { rows } = await next;
        if (rows.length === 0) break;
        next = fetch();
        for (const event of keys.openAll(rows.map(toStored))) {
          if (event.streamId !== current?.streamId) {
            finish();
            current = { streamId: event.streamId, tenantId: event.metadata.tenantId, at: event.recordedAt, folder: new SessionFolder() };
          }
          current.folder.add(event);
          current.tenantId = event.metadata.tenantId;
          current.at = event.recordedAt;
        }
        events += rows.length;
        onProgress?.({ events, total });
      }
      finish();
      write();
      await Promise.all(writes);
      return { events, sessions, seconds: (performance.now() - started) / 1000 };
    },
    { isolationLevel: 'repeatable read' },
  );
}
