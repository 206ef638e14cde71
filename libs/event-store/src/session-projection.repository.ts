import { sql, type SQL } from 'drizzle-orm';
import type { RecordedEvent } from '@parley/contracts';
import { sessionStreamId } from '@parley/contracts';
import {
  foldSession,
  initialSessionState,
  SESSION_FOLD_VERSION,
  SessionFolder,
  type SessionState,
  type Versioned,
} from '@parley/conversation';
import type { Db } from './database';
import { DataKeys } from './data-keys';
import { EventStore, toStored } from './event-store';
import { z } from 'zod';
import { Col, firstRowOf, onlyRowOf } from './rows';

type Executor = Pick<Db, 'execute'>;

/** The session read model: folded state plus the stream version it reflects (its checkpoint). */
export class SessionProjectionRepository {
  constructor(private readonly db: Db) {}

  /** The stored fold, or null when there is none or it was made by another version of the fold. */
  async load(streamId: string, db: Executor = this.db): Promise<Versioned<SessionState> | null> {
    const result = await db.execute(sql`select version, fold_version, state from session_projections where stream_id = ${streamId}`);
    const row = firstRowOf(
      result,
      z.object({ version: Col.int, fold_version: Col.int, state: z.looseObject({ status: z.string() }) }),
      'session projection',
    );
    if (!row || row.fold_version !== SESSION_FOLD_VERSION) return null;
    // a fold of this version of the code: its shape is the one this code writes
    return { version: row.version, state: row.state as unknown as SessionState };
  }

  /**
   * Writes the state only if it is newer than what is stored (or was made by another fold), so a
   * slow writer never goes back in time. State and checkpoint are one row: one atomic write.
   */
  async save(
    streamId: string,
    tenantId: string,
    projected: Versioned<SessionState>,
    lastEventAt: string,
    db: Executor = this.db,
  ): Promise<void> {
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

/**
 * A process's recent session folds. Each is a fold of its stream's log up to its version, which
 * stays true whoever writes what afterwards, so a load reads only the events past it: one query
 * instead of the row and then the tail. Bounded in entries and in age: a fold holds the session's
 * text in memory (like the process's cached keys, it can outlive an erasure elsewhere by that
 * long; nothing can be written with it, as appends to an erased stream are refused).
 *
 * A process that sees a session's events as they are committed (from the bus, or its own appends)
 * can `advance` a fold with them: versions are dense, so a fold advanced only by the next version
 * each time is still exactly the log up to its version, and a load `upTo` a version it covers
 * needs no query at all. An event past a gap marks the fold as behind: the next load reads.
 */
export class SessionStates {
  private readonly folds = new Map<string, { folded: Versioned<SessionState>; at: number; behind: boolean }>();

  constructor(
    private readonly store: EventStore,
    private readonly projections: SessionProjectionRepository,
    private readonly limits: { maxEntries: number; maxAgeMs: number } = { maxEntries: 1_000, maxAgeMs: 60_000 },
  ) {}

  /**
   * The session's current state and the events read past the fold it started from (the turn being
   * handled is usually among them). `keep: false` leaves the cache as it was: a caller that must
   * first make the fold durable (the projector) remembers it afterwards.
   */
  async load(
    streamId: string,
    options: { keep?: boolean; upTo?: number } = {},
  ): Promise<{ folded: Versioned<SessionState>; tail: RecordedEvent[] }> {
    const cached = this.cached(streamId);
    // the caller knows the log up to `upTo`, the fold covers it, and no later event is known of
    if (cached && options.upTo !== undefined && cached.version >= options.upTo && !this.folds.get(streamId)!.behind)
      return { folded: cached, tail: [] };
    const base = cached ?? (await this.projections.load(streamId)) ?? { state: initialSessionState(), version: 0 };
    const tail = await this.store.readStream(streamId, { after: base.version });
    const folded = tail.length ? foldSession(tail, base) : base;
    if (options.keep !== false) this.remember(streamId, folded);
    return { folded, tail };
  }

  /** Forgets the folds of erased streams: they hold the sessions' text. */
  forget(streamIds: readonly string[]): void {
    for (const id of streamIds) this.folds.delete(id);
  }

  /** The cached fold, if there is a fresh one. */
  cached(streamId: string): Versioned<SessionState> | null {
    const hit = this.folds.get(streamId);
    if (!hit) return null;
    if (Date.now() - hit.at < this.limits.maxAgeMs) return hit.folded;
    this.folds.delete(streamId);
    return null;
  }

  remember(streamId: string, folded: Versioned<SessionState>): void {
    const known = this.folds.get(streamId);
    if (known && known.folded.version > folded.version) return; // never go back
    this.folds.delete(streamId); // re-inserted last: the map's order is least recently used first
    if (this.folds.size >= this.limits.maxEntries) this.folds.delete(this.folds.keys().next().value as string);
    this.folds.set(streamId, { folded, at: Date.now(), behind: false });
  }

  /**
   * Folds a committed event of the stream into the kept fold when it is the next version; one
   * further on marks the fold as behind (the events between are unknown here). True when the
   * fold now covers the event.
   */
  advance(event: RecordedEvent): boolean {
    const hit = this.folds.get(event.streamId);
    if (!hit || this.cached(event.streamId) === null) return false;
    if (event.version <= hit.folded.version) return true;
    if (event.version > hit.folded.version + 1) {
      hit.behind = true;
      return false;
    }
    let folded: Versioned<SessionState>;
    try {
      folded = foldSession([event], hit.folded);
    } catch {
      this.folds.delete(event.streamId); // a fold that cannot take the event: the next load reads the log
      return false;
    }
    const behind = hit.behind;
    this.remember(event.streamId, folded);
    this.folds.get(event.streamId)!.behind = behind;
    return true;
  }
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
