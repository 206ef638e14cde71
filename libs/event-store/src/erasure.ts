import { sql } from 'drizzle-orm';
import type { Db } from './database';
import { z } from 'zod';
import { Col, rowsOf } from './rows';

export interface ErasureResult {
  userId: string;
  /** Streams whose data became unreadable now (0 when the user was erased before). */
  streams: number;
  /** Those streams: every process drops what it cached of them. */
  streamIds: string[];
}

/**
 * Erases a user without rewriting history (crypto-shredding): records the tombstone, marks their
 * streams erased (no more appends), destroys the streams' keys (their sealed events, in Postgres
 * and on JetStream, become unreadable for good) and deletes their read models. The tables are
 * locked against concurrent key creation and projection writes for the instant this takes, so a
 * write racing the erasure either lands before it (and is erased) or is refused after it.
 */
export async function eraseUser(db: Db, tenantId: string, userId: string): Promise<ErasureResult> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`lock table data_keys, session_projections in share row exclusive mode`);
    await tx.execute(sql`insert into erased_users (tenant_id, user_id, streams) values (${tenantId}, ${userId}, 0) on conflict do nothing`);
    const erased = await tx.execute(sql`
      update streams set erased_at = now() where tenant_id = ${tenantId} and user_id = ${userId} and erased_at is null
      returning stream_id`);
    const streamIds = rowsOf(erased, z.object({ stream_id: Col.text }), 'erased streams').map((r) => r.stream_id);
    await tx.execute(sql`delete from data_keys where tenant_id = ${tenantId} and user_id = ${userId}`);
    await tx.execute(sql`delete from session_projections where stream_id = any(${sql.param(streamIds)}::text[])`);
    // a caller who was this user is a stranger on their next call
    await tx.execute(sql`delete from caller_users where tenant_id = ${tenantId} and user_id = ${userId}`);
    await tx.execute(
      sql`update erased_users set streams = streams + ${streamIds.length} where tenant_id = ${tenantId} and user_id = ${userId}`,
    );
    return { userId, streams: streamIds.length, streamIds };
  });
}
