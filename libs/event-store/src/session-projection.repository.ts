import { sql } from 'drizzle-orm';
import type { RecordedEvent } from '@parley/contracts';
import { isSessionStream, sessionStreamId } from '@parley/contracts';
import { evolveSession, foldSession, initialSessionState, SESSION_FOLD_VERSION, type SessionState, type Versioned } from '@parley/conversation';
import type { Db } from './database';
import { DataKeys } from './data-keys';
import { EventStore } from './event-store';
import { LOG_START, readLogAfter, type LogPosition } from './log-reader';

type Executor = Pick<Db, 'execute'>;

/** The session read model: folded state plus the stream version it reflects (its checkpoint). */
export class SessionProjectionRepository {
  constructor(private readonly db: Db) {}

  /** The stored fold, or null when there is none or it was made by another version of the fold. */
  async load(streamId: string, db: Executor = this.db): Promise<Versioned<SessionState> | null> {
    const result = await db.execute(
      sql`select version, fold_version, state from session_projections where stream_id = ${streamId}`,
    );
    const row = result.rows[0] as { version: number; fold_version: number; state: SessionState } | undefined;
    if (!row || row.fold_version !== SESSION_FOLD_VERSION) return null;
    if (typeof row.version !== 'number' || typeof row.state?.status !== 'string')
      throw new Error(`session_projections row for ${streamId} is malformed`);
    return { version: row.version, state: row.state };
  }

  /**
   * Writes the state only if it is newer than what is stored (or was made by another fold), so a
   * slow writer never goes back in time. State and checkpoint are one row: one atomic write.
   */
  async save(streamId: string, tenantId: string, projected: Versioned<SessionState>, lastEventAt: string, db: Executor = this.db): Promise<void> {
    await db.execute(sql`
      insert into session_projections (stream_id, tenant_id, version, fold_version, state, updated_at)
      values (${streamId}, ${tenantId}, ${projected.version}, ${SESSION_FOLD_VERSION}, ${JSON.stringify(projected.state)}::jsonb, ${lastEventAt})
      on conflict (stream_id) do update
        set version = excluded.version, fold_version = excluded.fold_version, state = excluded.state, updated_at = excluded.updated_at
      where session_projections.version < excluded.version or session_projections.fold_version <> excluded.fold_version`);
  }
}

/**
 * Loads a session's current state: the projection plus every event the projection has not
 * folded yet. Read-your-writes by construction: whatever the log holds is in the result, however
 * far behind the projector is.
 */
export async function loadSessionState(
  store: EventStore,
  projections: SessionProjectionRepository,
  sessionId: string,
): Promise<Versioned<SessionState>> {
  const streamId = sessionStreamId(sessionId);
  const projected = (await projections.load(streamId)) ?? { state: initialSessionState(), version: 0 };
  const tail = await store.readStream(streamId, { after: projected.version });
  return foldSession(tail, projected);
}

export interface RebuildProgress {
  events: number;
  total: number;
}

export interface RebuildResult {
  events: number;
  sessions: number;
  seconds: number;
}

/**
 * Drops and refolds every session read model from the log, in one transaction: the table is
 * locked against the projector's writes meanwhile, which resume afterwards and fold any event the
 * rebuild did not see (the projector always folds from its row's version onwards).
 */
export async function rebuildSessionProjections(db: Db, onProgress?: (progress: RebuildProgress) => void): Promise<RebuildResult> {
  const started = performance.now();
  return db.transaction(async (tx) => {
    await tx.execute(sql`lock table session_projections in exclusive mode`);
    await tx.execute(sql`delete from session_projections`);
    const total = Number(((await tx.execute(sql`select count(*)::int as n from events`)).rows[0] as { n: number }).n);
    // each session is folded as its events arrive (in version order; the log's order is by
    // transaction, so an event that arrives early waits for its predecessor): memory holds one
    // state per session, not the log
    const folds = new Map<string, { folded: Versioned<SessionState>; tenantId: string; at: string; early: Map<number, RecordedEvent> }>();
    // every session's key up front (one query), so opening a batch never waits on the connection
    const keys = new DataKeys(Number.MAX_SAFE_INTEGER);
    await keys.preloadSessions(tx);
    const store = new EventStore(tx, keys);
    let events = 0;
    // the next batch is read while this one is opened and folded
    const prefetch = (after: LogPosition) => {
      const read = readLogAfter(tx, after, 5_000);
      read.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
      return read;
    };
    let next = prefetch(LOG_START);
    for (;;) {
      const batch = await next;
      if (batch.events.length === 0) break;
      next = prefetch(batch.position);
      for (const event of await store.open(batch.events.filter((e) => isSessionStream(e.streamId)))) {
        let entry = folds.get(event.streamId);
        if (!entry) {
          entry = { folded: { state: initialSessionState(), version: 0 }, tenantId: event.metadata.tenantId, at: event.recordedAt, early: new Map() };
          folds.set(event.streamId, entry);
        }
        entry.early.set(event.version, event);
        for (let next = entry.early.get(entry.folded.version + 1); next; next = entry.early.get(entry.folded.version + 1)) {
          entry.early.delete(next.version);
          entry.folded = { state: evolveSession(entry.folded.state, next), version: next.version };
          entry.tenantId = next.metadata.tenantId;
          entry.at = next.recordedAt;
        }
      }
      events += batch.events.length;
      onProgress?.({ events, total });
    }
    const rows = [...folds.entries()].map(([streamId, entry]) => {
      // a version missing from the log cannot happen (appends are atomic); fold what is there regardless
      const rest = [...entry.early.values()].sort((a, b) => a.version - b.version);
      const folded = rest.length ? foldSession(rest, entry.folded) : entry.folded;
      return { streamId, tenantId: entry.tenantId, folded, at: rest.at(-1)?.recordedAt ?? entry.at };
    });
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await tx.execute(sql`
        insert into session_projections (stream_id, tenant_id, version, fold_version, state, updated_at)
        select s, t, v, ${SESSION_FOLD_VERSION}, st, u
        from unnest(${sql.param(chunk.map((r) => r.streamId))}::text[], ${sql.param(chunk.map((r) => r.tenantId))}::text[],
                    ${sql.param(chunk.map((r) => r.folded.version))}::int[], ${sql.param(chunk.map((r) => JSON.stringify(r.folded.state)))}::jsonb[],
                    ${sql.param(chunk.map((r) => r.at))}::timestamptz[]) as x(s, t, v, st, u)`);
    }
    return { events, sessions: rows.length, seconds: (performance.now() - started) / 1000 };
  });
}
