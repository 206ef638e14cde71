import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Db } from './database';
import { z } from 'zod';
import { Col, firstRowOf, onlyRowOf } from './rows';

/**
 * A phone number as callers' ids compare it: digits, with a leading `+` kept; spaces, dashes,
 * dots and brackets dropped. Null for anything else (letters, too short or too long to be one).
 */
export function normalizedNumber(number: string): string | null {
  const compact = number.trim().replace(/[\s().-]/g, '');
  return /^\+?\d{3,20}$/.test(compact) ? compact : null;
}

/**
 * Maps a voice caller's number to a Parley user id, for tenants that opted in (`callerUsers`).
 * The number is never stored: its HMAC under a random key of the tenant's own is. The user id is
 * new (`caller-<uuid>`), so it says nothing about the number either, and after the user is erased
 * (which deletes the mapping) the next call from the number is a new user, not the erased one.
 */
export class CallerUsers {
  constructor(private readonly db: Pick<Db, 'execute'>) {}

  /** The user the caller is, made on their first call. `number` must be normalized (`normalizedNumber`). */
  async userFor(tenantId: string, number: string): Promise<string> {
    const hash = createHmac('sha256', await this.keyOf(tenantId))
      .update(number)
      .digest('hex');
    for (let attempt = 0; ; attempt++) {
      // two first calls at once agree on one user: the second insert does nothing and reads the first's
      const result = await this.db.execute(sql`
        with made as (
          insert into caller_users (tenant_id, caller_hash, user_id) values (${tenantId}, ${hash}, ${`caller-${randomUUID()}`})
          on conflict (tenant_id, caller_hash) do nothing returning user_id)
        select user_id from made union all select user_id from caller_users where tenant_id = ${tenantId} and caller_hash = ${hash} limit 1`);
      const row = firstRowOf(result, z.object({ user_id: Col.text }), 'caller user');
      // none: the other call's row committed after this statement's snapshot; it is there now
      if (row) return row.user_id;
      if (attempt === 4) throw new Error('could not map the caller to a user');
    }
  }

  private async keyOf(tenantId: string): Promise<Buffer> {
    await this.db.execute(
      sql`insert into caller_keys (tenant_id, key) values (${tenantId}, ${randomBytes(32)}) on conflict (tenant_id) do nothing`,
    );
    const result = await this.db.execute(sql`select key from caller_keys where tenant_id = ${tenantId}`);
    return onlyRowOf(result, z.object({ key: Col.bytea }), 'caller key').key;
  }
}
