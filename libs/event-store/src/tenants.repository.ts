import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { resolveTenantSettings, TenantSettings, type ResolvedTenantSettings } from '@parley/contracts';
import type { Db } from './database';
import { newDataKey, open, seal } from './personal-data';
import { z } from 'zod';
import { Col, firstRowOf, onlyRowOf, rowsOf } from './rows';

type Executor = Pick<Db, 'execute'>;

/** Who an API key speaks for. */
export interface Caller {
  tenantId: string;
  keyId: string;
}

export interface ApiKeyInfo {
  keyId: string;
  tenantId: string;
  prefix: string;
  name: string | null;
  createdAt: string;
  revokedAt: string | null;
}

export interface TenantInfo {
  tenantId: string;
  /** What the tenant set itself; the rest comes from the deployment's defaults. */
  settings: TenantSettings;
  /** Whether the tenant keeps its own LLM provider key (never the key). */
  llmApiKey: boolean;
  createdAt: string;
  updatedAt: string;
  keys: number;
}

const KEY_PREFIX = 'pk_';
const hashOf = (key: string) => createHash('sha256').update(key, 'utf8').digest();

/**
 * Tenants, their settings and their API keys. Keys are stored as SHA-256 hashes only; lookups
 * and settings are cached for `ttlMs`, so a key costs one indexed query per few seconds, and a
 * revocation or a settings change takes effect within that time everywhere.
 */
export class TenantDirectory {
  private readonly settingsCache = new Map<string, { value: ResolvedTenantSettings; until: number }>();
  private readonly keyCache = new Map<string, { value: Caller | null; until: number }>();
  private readonly providerCache = new Map<string, { value: LlmProvider; until: number }>();

  constructor(
    private readonly db: Executor,
    private readonly defaults: ResolvedTenantSettings,
    /** How long what was read is trusted (`PARLEY_TENANT_CACHE_MS`). */
    private readonly ttlMs: number,
  ) {}

  /** A tenant's settings: its own choices over the deployment's defaults (unknown tenants get the defaults). */
  async settings(tenantId: string): Promise<ResolvedTenantSettings> {
    const cached = this.settingsCache.get(tenantId);
    if (cached && cached.until > Date.now()) return cached.value;
    const result = await this.db.execute(sql`select settings from tenants where tenant_id = ${tenantId}`);
    const row = firstRowOf(result, z.object({ settings: Col.json }), 'tenant settings');
    const own = TenantSettings.safeParse(row?.settings ?? {});
    const value = resolveTenantSettings(this.defaults, own.success ? own.data : {});
    this.settingsCache.set(tenantId, { value, until: Date.now() + this.ttlMs });
    return value;
  }

  /** Where the tenant's LLM calls go (its `llmBaseUrl` and sealed key), cached as its settings are. */
  async llmProvider(tenantId: string): Promise<LlmProvider> {
    const cached = this.providerCache.get(tenantId);
    if (cached && cached.until > Date.now()) return cached.value;
    const [settings, apiKey] = await Promise.all([this.settings(tenantId), tenantLlmApiKey(this.db, tenantId)]);
    const value = { baseUrl: settings.llmBaseUrl ?? null, apiKey };
    this.providerCache.set(tenantId, { value, until: Date.now() + this.ttlMs });
    return value;
  }

  /** Drops what is cached of a tenant (its settings or keys changed): the next request reads them. */
  forget(tenantId: string): void {
    this.settingsCache.delete(tenantId);
    this.providerCache.delete(tenantId);
    for (const [hash, entry] of this.keyCache) if (entry.value?.tenantId === tenantId) this.keyCache.delete(hash);
  }

  /** The caller an API key belongs to, or null for an unknown or revoked key. */
  async authenticate(key: string): Promise<Caller | null> {
    const hash = hashOf(key);
    const cacheKey = hash.toString('base64');
    const cached = this.keyCache.get(cacheKey);
    if (cached && cached.until > Date.now()) return cached.value;
    const result = await this.db.execute(sql`select key_id, tenant_id from api_keys where hash = ${hash} and revoked_at is null`);
    const row = firstRowOf(result, z.object({ key_id: Col.text, tenant_id: Col.text }), 'api key');
    const value = row ? { tenantId: row.tenant_id, keyId: row.key_id } : null;
    if (this.keyCache.size > 10_000) this.keyCache.clear(); // bounded: a flood of wrong keys cannot grow it
    this.keyCache.set(cacheKey, { value, until: Date.now() + this.ttlMs });
    return value;
  }
}

/** Creates the tenant if it does not exist. */
export async function ensureTenant(db: Executor, tenantId: string): Promise<void> {
  await db.execute(sql`insert into tenants (tenant_id) values (${tenantId}) on conflict do nothing`);
}

/** A new key for the tenant (created if need be). The key itself is returned once and never stored. */
export async function createApiKey(db: Db, tenantId: string, name: string | null = null): Promise<{ key: string; info: ApiKeyInfo }> {
  const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { key, info: await storeKey(db, tenantId, key, name) };
}

async function storeKey(db: Db, tenantId: string, key: string, name: string | null): Promise<ApiKeyInfo> {
  return db.transaction(async (tx) => {
    await ensureTenant(tx, tenantId);
    const result = await tx.execute(sql`
      insert into api_keys (key_id, tenant_id, hash, prefix, name) values (${randomUUID()}, ${tenantId}, ${hashOf(key)}, ${key.slice(0, 10)}, ${name})
      on conflict (hash) do nothing
      returning key_id, tenant_id, prefix, name, created_at, revoked_at`);
    const row = firstRowOf(result, KeyRow, 'new api key');
    if (!row) throw new Error('That API key already exists');
    return keyInfo(row);
  });
}

/**
 * Makes sure `key` is a live key of `tenantId` (for `PARLEY_DEV_API_KEY`): created on first use,
 * left alone afterwards. A key that belongs to another tenant, or was revoked, is refused.
 */
export async function ensureDevKey(db: Db, tenantId: string, key: string): Promise<void> {
  const result = await db.execute(sql`select tenant_id, revoked_at from api_keys where hash = ${hashOf(key)}`);
  const row = firstRowOf(result, z.object({ tenant_id: Col.text, revoked_at: Col.time.nullable() }), 'dev key');
  if (!row) {
    await storeKey(db, tenantId, key, 'PARLEY_DEV_API_KEY').catch(async (error: unknown) => {
      // another ingress instance seeded it at the same moment
      if (!(await db.execute(sql`select 1 from api_keys where hash = ${hashOf(key)} and tenant_id = ${tenantId}`)).rows.length) throw error;
    });
    return;
  }
  if (row.tenant_id !== tenantId) throw new Error(`PARLEY_DEV_API_KEY is a key of tenant ${row.tenant_id}, not ${tenantId}`);
  if (row.revoked_at) throw new Error('PARLEY_DEV_API_KEY was revoked; choose another key');
}

/** Revokes a key by id; returns false when there is no such key. Idempotent. */
export async function revokeApiKey(db: Executor, keyId: string): Promise<ApiKeyInfo | null> {
  const result = await db.execute(sql`
    update api_keys set revoked_at = coalesce(revoked_at, now()) where key_id = ${keyId}
    returning key_id, tenant_id, prefix, name, created_at, revoked_at`);
  const row = firstRowOf(result, KeyRow, 'revoked key');
  return row ? keyInfo(row) : null;
}

export async function listApiKeys(db: Executor, tenantId?: string): Promise<ApiKeyInfo[]> {
  const result = await db.execute(sql`
    select key_id, tenant_id, prefix, name, created_at, revoked_at from api_keys
    ${tenantId ? sql`where tenant_id = ${tenantId}` : sql``}
    order by tenant_id, created_at`);
  return rowsOf(result, KeyRow, 'api keys').map(keyInfo);
}

export async function listTenants(db: Executor): Promise<TenantInfo[]> {
  const result = await db.execute(sql`
    select t.tenant_id, t.settings, t.created_at, t.updated_at, (select count(*)::int from api_keys k where k.tenant_id = t.tenant_id and k.revoked_at is null) as keys,
      exists (select 1 from tenant_secrets s where s.tenant_id = t.tenant_id and s.llm_api_key is not null) as llm_api_key
    from tenants t order by t.tenant_id`);
  return rowsOf(result, TenantRow, 'tenants').map((r) => ({
    tenantId: r.tenant_id,
    settings: r.settings,
    llmApiKey: r.llm_api_key,
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
    keys: r.keys,
  }));
}

/**
 * Changes what a tenant sets for itself (creating it if need be): given fields replace the
 * stored ones, `null` removes one (back to the deployment default).
 */
export async function updateTenantSettings(db: Db, tenantId: string, patch: Record<string, unknown>): Promise<TenantSettings> {
  return db.transaction(async (tx) => {
    await ensureTenant(tx, tenantId);
    const current = onlyRowOf(
      await tx.execute(sql`select settings from tenants where tenant_id = ${tenantId} for update`),
      z.object({ settings: z.record(z.string(), z.unknown()) }),
      'tenant settings',
    );
    const merged = Object.fromEntries(Object.entries({ ...current.settings, ...patch }).filter(([, v]) => v !== null));
    const settings = TenantSettings.parse(merged);
    await tx.execute(
      sql`update tenants set settings = ${JSON.stringify(settings)}::jsonb, updated_at = now() where tenant_id = ${tenantId}`,
    );
    return settings;
  });
}

/** What `seal` binds a tenant's provider key to. */
const secretScope = (tenantId: string) => `tenant-${tenantId}`;

/**
 * Keeps (or, with null, removes) a tenant's own LLM provider key, sealed with a key of the
 * tenant's: the database never holds it in the clear, and nothing reads it back but the services
 * that call the LLM.
 */
export async function setTenantLlmApiKey(db: Db, tenantId: string, apiKey: string | null): Promise<void> {
  await db.transaction(async (tx) => {
    await ensureTenant(tx, tenantId);
    await tx.execute(
      sql`insert into tenant_secrets (tenant_id, key) values (${tenantId}, ${newDataKey()}) on conflict (tenant_id) do nothing`,
    );
    const { key } = onlyRowOf(
      await tx.execute(sql`select key from tenant_secrets where tenant_id = ${tenantId} for update`),
      z.object({ key: Col.bytea }),
      'tenant secret',
    );
    const sealed = apiKey === null ? null : seal(apiKey, key, secretScope(tenantId), 'llmApiKey');
    await tx.execute(sql`update tenant_secrets set llm_api_key = ${sealed}, updated_at = now() where tenant_id = ${tenantId}`);
  });
}

/** A tenant's own LLM provider key, opened; null when it keeps none. */
async function tenantLlmApiKey(db: Executor, tenantId: string): Promise<string | null> {
  const row = firstRowOf(
    await db.execute(sql`select key, llm_api_key from tenant_secrets where tenant_id = ${tenantId}`),
    z.object({ key: Col.bytea, llm_api_key: Col.text.nullable() }),
    'tenant secret',
  );
  if (!row?.llm_api_key) return null;
  const opened = open(row.llm_api_key, row.key, secretScope(tenantId), 'llmApiKey');
  return typeof opened === 'string' ? opened : null;
}

/** Where a tenant's LLM calls go: its own server and key, each null for the deployment's. */
export interface LlmProvider {
  baseUrl: string | null;
  apiKey: string | null;
}

/** A tenant as `listTenants` reads it (settings this code cannot read show as none, as `TenantDirectory` treats them). */
const TenantRow = z.object({
  tenant_id: Col.text,
  settings: Col.json.transform((settings): TenantSettings => {
    const parsed = TenantSettings.safeParse(settings);
    return parsed.success ? parsed.data : {};
  }),
  created_at: Col.time,
  updated_at: Col.time,
  keys: Col.int,
  llm_api_key: Col.bool,
});

const KeyRow = z.object({
  key_id: Col.text,
  tenant_id: Col.text,
  prefix: Col.text,
  name: Col.text.nullable(),
  created_at: Col.time,
  revoked_at: Col.time.nullable(),
});
type KeyRow = z.infer<typeof KeyRow>;

function keyInfo(row: KeyRow): ApiKeyInfo {
  return {
    keyId: row.key_id,
    tenantId: row.tenant_id,
    prefix: row.prefix,
    name: row.name,
    createdAt: new Date(row.created_at).toISOString(),
    revokedAt: row.revoked_at ? new Date(row.revoked_at).toISOString() : null,
  };
}
