import { sql } from 'drizzle-orm';
import { foldSession, initialSessionState, type SessionState, type Versioned } from '@parley/conversation';
import { sessionStreamId } from '@parley/contracts';
import type { Db } from './database';
import type { EventStore } from './event-store';

/** The session read model: folded state plus the stream version it reflects (its checkpoint). */
export class SessionProjectionRepository {
  constructor(private readonly db: Db) {}

  async load(streamId: string, db: Pick<Db, 'execute'> = this.db): Promise<Versioned<SessionState> | null> {
    const result = await db.execute(sql`select version, state from session_projections where stream_id = ${streamId}`);
    const row = result.rows[0] as { version: number; state: SessionState } | undefined;
    if (!row) return null;
    if (typeof row.version !== 'number' || typeof row.state?.status !== 'string')
      throw new Error(`session_projections row for ${streamId} is malformed`);
    return { version: row.version, state: row.state };
  }

  /** Writes the state only if it is newer than what is stored, so a slow writer never goes back in time. */
  async save(streamId: string, tenantId: string, projected: Versioned<SessionState>, db: Pick<Db, 'execute'> = this.db): Promise<void> {
    await db.execute(sql`
      insert into session_projections (stream_id, tenant_id, version, state)
      values (${streamId}, ${tenantId}, ${projected.version}, ${JSON.stringify(projected.state)}::jsonb)
      on conflict (stream_id) do update set version = excluded.version, state = excluded.state, updated_at = now()
      where session_projections.version < excluded.version`);
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
