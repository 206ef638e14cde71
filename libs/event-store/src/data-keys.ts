import { sql } from 'drizzle-orm';
import type { Db } from './database';
import { toRecordedEvent, type RecordedEvent, type StoredEvent } from '@parley/contracts';
import { openData, type KeyState } from './personal-data';
import { z } from 'zod';
import { Col, rowsOf } from './rows';

const KeyRow = z.object({ stream_id: Col.text, erased_at: Col.time.nullable(), key: Col.bytea.nullable() });

/** How long a cached key is trusted: an erasure in another process reaches this one within it, at the latest. */
export const DATA_KEY_CACHE_MS = 30_000;

/**
 * The keys of streams' personal data, cached per process. An erasure reaches the cache at once
 * through `forget` (every service hears of erasures on NATS) and, should that notice be lost,
 * within `DATA_KEY_CACHE_MS`, when the key is looked up again and found gone. No write can use a
 * stale key meanwhile: the database refuses every write of personal data once a stream is erased
 * (appends check `streams.erased_at`; read models are skipped by trigger).
 */
export class DataKeys {
  private readonly cache = new Map<string, { state: KeyState; at: number }>();

  constructor(
    private readonly maxEntries = 50_000,
    private readonly maxAgeMs = DATA_KEY_CACHE_MS,
  ) {}

  private cached(streamId: string): KeyState | undefined {
    const hit = this.cache.get(streamId);
    if (!hit) return undefined;
    if (Date.now() - hit.at < this.maxAgeMs) return hit.state;
    this.cache.delete(streamId);
    return undefined;
  }

  /** Drops the keys of erased streams (or any others) now. */
  forget(streamIds: readonly string[]): void {
    for (const id of streamIds) this.cache.delete(id);
  }

  async forStreams(db: Pick<Db, 'execute'>, streamIds: readonly string[]): Promise<Map<string, KeyState>> {
    const found = new Map<string, KeyState>();
    const missing: string[] = [];
    for (const id of new Set(streamIds)) {
      const cached = this.cached(id);
      if (cached) found.set(id, cached);
      else missing.push(id);
    }
    if (missing.length === 0) return found;
    const result = await db.execute(sql`
      select s.stream_id, s.erased_at, k.key from streams s left join data_keys k using (stream_id)
      where s.stream_id = any(${sql.param(missing)}::text[])`);
    for (const row of rowsOf(result, KeyRow, 'stream keys')) {
      const state: KeyState = row.erased_at ? { kind: 'erased' } : row.key ? { kind: 'key', key: row.key } : { kind: 'none' };
      found.set(row.stream_id, state);
      this.remember(row.stream_id, state);
    }
    for (const id of missing) if (!found.has(id)) found.set(id, { kind: 'none' }); // not created yet: not cached
    return found;
  }

  /** Loads the key state of every session stream at once (a rebuild opens them all). */
  async preloadSessions(db: Pick<Db, 'execute'>): Promise<void> {
    const result = await db.execute(sql`
      select s.stream_id, s.erased_at, k.key from streams s left join data_keys k using (stream_id) where s.stream_id like 'session-%'`);
    for (const row of rowsOf(result, KeyRow, 'session keys')) {
      this.remember(row.stream_id, row.erased_at ? { kind: 'erased' } : row.key ? { kind: 'key', key: row.key } : { kind: 'none' });
    }
  }

  /** Opens events whose streams' keys are all cached (after `preloadSessions`); an unknown stream's sealed fields stay erased. */
  openAll(stored: readonly StoredEvent[]): RecordedEvent[] {
    return stored.map((event) => {
      const { data, erased } = openData(event.type, event.data, event.streamId, this.cache.get(event.streamId)?.state ?? { kind: 'none' });
      return toRecordedEvent(event, data, erased);
    });
  }

  remember(streamId: string, state: KeyState): void {
    this.cache.delete(streamId); // re-inserted last: the oldest go first
    if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(streamId, { state, at: Date.now() });
  }
}
