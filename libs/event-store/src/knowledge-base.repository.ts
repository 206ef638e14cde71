import { sql } from 'drizzle-orm';
import { Pool } from 'pg';
import { KnowledgeBaseEntry, type KnowledgeBaseEntry as Entry } from '@parley/contracts';
import { z } from 'zod';
import type { Db } from './database';
import { pgErrorOf } from './errors';
import { Col, firstRowOf, onlyRowOf, rowsOf } from './rows';

export interface KnowledgeBaseVersion {
  tenantId: string;
  version: number;
  source: string;
  createdAt: string;
  entries: Entry[];
}

const Entries = z.array(KnowledgeBaseEntry);

/** Versioned knowledge bases: publishing adds a version, nothing is changed in place. */
const VersionRow = z.object({ tenant_id: Col.text, version: Col.int, source: Col.text, created_at: Col.time });

/** Any constant: the advisory lock under which one process at a time trains a knowledge base version. */
const TRAINING_LOCK = 1_415_177_203; // int4: the two-key form of the lock

export class KnowledgeBaseRepository {
  constructor(private readonly db: Pick<Db, 'execute'>) {}

  /** The tenants that have a knowledge base. */
  async tenants(): Promise<string[]> {
    const result = await this.db.execute(sql`select distinct tenant_id from knowledge_bases`);
    return rowsOf(result, z.object({ tenant_id: Col.text }), 'knowledge base tenants').map((row) => row.tenant_id);
  }

  /**
   * Runs `work` while holding the database-wide lock on training this tenant's version: processes
   * that start together (a router and an ingress, or replicas) train it once — the others wait,
   * then find the stored model. The lock is a session lock on a connection of its own (no
   * transaction stays open meanwhile, which would hold back the relay); it goes with the connection
   * if the process dies. Without a pool (a bare client) `work` just runs.
   */
  async whileTraining<T>(tenantId: string, version: number, work: () => Promise<T>): Promise<T> {
    // drizzle's database over a pool (`connectDatabase`) carries it as `$client`
    const pool = (this.db as { $client?: unknown }).$client;
    if (!(pool instanceof Pool)) return work();
    const key = hash32(`${tenantId}\u0000${version}`);
    const client = await pool.connect();
    try {
      await client.query('select pg_advisory_lock($1, $2)', [TRAINING_LOCK, key]);
      try {
        return await work();
      } finally {
        await client.query('select pg_advisory_unlock($1, $2)', [TRAINING_LOCK, key]).catch(() => undefined);
      }
    } finally {
      client.release();
    }
  }

  /** Stores the entries as the tenant's next version. */
  async publish(tenantId: string, entries: Entry[], source: string): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.db.execute(sql`
          insert into knowledge_bases (tenant_id, version, source, entries)
          select ${tenantId}, coalesce(max(version), 0) + 1, ${source}, ${JSON.stringify(entries)}::jsonb
          from knowledge_bases where tenant_id = ${tenantId}
          returning version`);
        return onlyRowOf(result, z.object({ version: Col.int }), 'knowledge base publish').version;
      } catch (error) {
        // two publishers raced for the same version number: take the next one
        if (pgErrorOf(error).code !== '23505' || attempt >= 5) throw error;
      }
    }
  }

  async latest(tenantId: string): Promise<KnowledgeBaseVersion | null> {
    return this.read(sql`where tenant_id = ${tenantId} order by version desc limit 1`);
  }

  async get(tenantId: string, version: number): Promise<KnowledgeBaseVersion | null> {
    return this.read(sql`where tenant_id = ${tenantId} and version = ${version}`);
  }

  /** The trained model stored for a version, in a format, if there is one. */
  async model(tenantId: string, version: number, format: number): Promise<Buffer | null> {
    const result = await this.db.execute(sql`
      select model from knowledge_base_models where tenant_id = ${tenantId} and version = ${version} and format = ${format}`);
    const row = firstRowOf(result, z.object({ model: Col.bytea }), 'knowledge base model');
    return row ? row.model : null;
  }

  /** Stores a version's trained model (once: a model trained again meanwhile is the same). */
  async saveModel(tenantId: string, version: number, format: number, model: Buffer): Promise<void> {
    await this.db.execute(sql`
      insert into knowledge_base_models (tenant_id, version, format, model) values (${tenantId}, ${version}, ${format}, ${model})
      on conflict do nothing`);
  }

  /** Every version, newest first, without the entries. */
  async versions(tenantId: string): Promise<Omit<KnowledgeBaseVersion, 'entries'>[]> {
    const result = await this.db.execute(sql`
      select tenant_id, version, source, created_at from knowledge_bases where tenant_id = ${tenantId} order by version desc`);
    return rowsOf(result, VersionRow, 'knowledge base versions').map((r) => ({
      tenantId: r.tenant_id,
      version: r.version,
      source: r.source,
      createdAt: new Date(r.created_at).toISOString(),
    }));
  }

  private async read(where: ReturnType<typeof sql>): Promise<KnowledgeBaseVersion | null> {
    const result = await this.db.execute(sql`select tenant_id, version, source, created_at, entries from knowledge_bases ${where}`);
    const row = firstRowOf(result, VersionRow.extend({ entries: Col.json }), 'knowledge base version');
    if (!row) return null;
    return {
      tenantId: row.tenant_id,
      version: row.version,
      source: row.source,
      createdAt: new Date(row.created_at).toISOString(),
      entries: Entries.parse(row.entries),
    };
  }
}

/** FNV-1a, as a signed 32-bit integer (an advisory lock key). */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h | 0;
}
