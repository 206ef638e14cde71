import { sql } from 'drizzle-orm';
import { sessionStreamId } from '@parley/contracts';
import { foldSession, initialSessionState, SESSION_FOLD_VERSION, type SessionState, type Versioned } from '@parley/conversation';
import type { Db } from './database';
import { EventStore } from './event-store';
import { z } from 'zod';
import { Col, firstRowOf } from './rows';

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
