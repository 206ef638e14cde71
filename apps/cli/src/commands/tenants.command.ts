import { openDatabase } from '../connections';
import { TenantSettings, type ResolvedTenantSettings } from '@parley/contracts';
import { readFile } from 'node:fs/promises';
import {
  createApiKey,
  listApiKeys,
  listTenants,
  revokeApiKey,
  setTenantLlmApiKey,
  updateTenantSettings,
  type Database,
} from '@parley/event-store';
import { z } from 'zod';
import { CliError } from '../cli-error';
import { style } from '../output';

async function withDatabase<T>(url: string, run: (database: Database) => Promise<T>): Promise<T> {
  const database = await openDatabase(url, { max: 1 });
  try {
    return await run(database);
  } finally {
    await database.close();
  }
}

export async function keysCreate(url: string, tenantId: string, name: string | undefined, json: boolean): Promise<string> {
  return withDatabase(url, async ({ db }) => {
    const { key, info } = await createApiKey(db, tenantId, name ?? null);
    if (json) return JSON.stringify({ key, ...info }, null, 2);
    return [
      `Created key ${info.keyId} for tenant ${tenantId}${name ? ` (${name})` : ''}.`,
      '',
      `  ${style.bold(key)}`,
      '',
      style.dim('It is shown only now: Parley stores its hash. Send it as "Authorization: Bearer <key>".'),
    ].join('\n');
  });
}

export async function keysList(url: string, tenantId: string | undefined, json: boolean): Promise<string> {
  return withDatabase(url, async ({ db }) => {
    const keys = await listApiKeys(db, tenantId);
    if (json) return JSON.stringify(keys, null, 2);
    if (!keys.length) return tenantId ? `Tenant ${tenantId} has no API keys` : 'No API keys';
    return keys
      .map(
        (k) =>
          `${k.keyId}  ${k.tenantId.padEnd(16)} ${k.prefix}…  ${k.revokedAt ? style.red(`revoked ${k.revokedAt}`) : style.green('active')}  ${style.dim(`created ${k.createdAt}`)}${k.name ? `  ${k.name}` : ''}`,
      )
      .join('\n');
  });
}

/** Tells the running services that a tenant changed (true), or could not (false: they read it again within their cache time). */
export type TellServices = (tenantId: string) => Promise<boolean>;

const applied = (told: boolean) =>
  told
    ? 'applied at once by every running service'
    : 'the running services could not be told: they apply it within PARLEY_TENANT_CACHE_MS (5 s by default)';

export async function keysRevoke(url: string, keyId: string, tell: TellServices): Promise<string> {
  if (!z.string().uuid().safeParse(keyId).success)
    throw new CliError(`keys revoke needs a key id (a UUID, see "parley keys list"), got "${keyId}"`, 2);
  return withDatabase(url, async ({ db }) => {
    const info = await revokeApiKey(db, keyId);
    if (!info) throw new CliError(`No API key ${keyId}`);
    return `Revoked key ${keyId} of tenant ${info.tenantId}: ${applied(await tell(info.tenantId))}`;
  });
}

/** `--routing-policy stateless` and friends: the flags of `tenants set`, by setting. */
export const TENANT_FLAGS = {
  'routing-policy': 'routingPolicy',
  'faq-threshold': 'faqThreshold',
  'context-budget': 'contextBudgetTokens',
  'idle-seconds': 'sessionIdleSeconds',
  'rate-limit': 'rateLimitPerMinute',
  'concurrent-turns': 'concurrentTurns',
  'caller-users': 'callerUsers',
  models: 'models',
  'default-model': 'defaultModel',
  'llm-base-url': 'llmBaseUrl',
  'transfer-number': 'transferNumber',
} as const satisfies Record<string, keyof ResolvedTenantSettings>;

/** Settings given as text, whatever it looks like (a model may be named "4"). */
const TEXT_SETTINGS: ReadonlySet<string> = new Set(['models', 'defaultModel', 'llmBaseUrl', 'transferNumber']);

/**
 * The tenant's own LLM provider key, from a file or standard input (`-`), never from the command
 * line (where `ps` and shell history would keep it); `default` removes it (null).
 */
export async function readLlmApiKey(source: string): Promise<string | null> {
  if (source === 'default') return null;
  const text =
    source === '-'
      ? await readStdin()
      : await readFile(source, 'utf8').catch((error: NodeJS.ErrnoException) => {
          throw new CliError(`--llm-api-key-file ${source}: cannot read it (${error.code ?? error.message})`, 2);
        });
  const key = text.trim();
  if (!key || key.length > 4_096 || /\s/.test(key))
    throw new CliError(`--llm-api-key-file ${source}: must hold one key (1 to 4,096 characters, no spaces)`, 2);
  return key;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Flag values as given on the command line: `default` removes the tenant's own value. */
export function settingsPatch(flags: Partial<Record<keyof typeof TENANT_FLAGS, string>>, keyGiven = false): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const [flag, name] of Object.entries(TENANT_FLAGS) as [keyof typeof TENANT_FLAGS, keyof ResolvedTenantSettings][]) {
    const raw = flags[flag];
    if (raw === undefined) continue;
    if (raw === 'default') {
      patch[name] = null;
      continue;
    }
    if (name === 'callerUsers' && raw !== 'on' && raw !== 'off') throw new CliError(`--${flag} ${raw}: must be on, off or default`, 2);
    const value =
      name === 'callerUsers'
        ? raw === 'on'
        : name === 'models'
          ? raw.split(',').map((m) => m.trim())
          : TEXT_SETTINGS.has(name)
            ? raw
            : /^-?\d+(\.\d+)?$/.test(raw)
              ? Number(raw)
              : raw;
    const checked = TenantSettings.shape[name].safeParse(value);
    if (!checked.success) throw new CliError(`--${flag} ${raw}: ${checked.error.issues.map((i) => i.message).join('; ')}`, 2);
    patch[name] = checked.data;
  }
  if (!Object.keys(patch).length && !keyGiven) {
    throw new CliError(
      `tenants set needs at least one of ${[...Object.keys(TENANT_FLAGS), 'llm-api-key-file'].map((f) => `--${f}`).join(', ')}`,
      2,
    );
  }
  return patch;
}

export async function tenantsSet(
  url: string,
  tenantId: string,
  patch: Record<string, unknown>,
  defaults: ResolvedTenantSettings,
  json: boolean,
  tell: TellServices,
  llmApiKey?: string | null,
): Promise<string> {
  return withDatabase(url, async ({ db }) => {
    const own = await updateTenantSettings(db, tenantId, patch).catch((error: unknown) => {
      if (error instanceof z.ZodError)
        throw new CliError(`tenants set: ${error.issues.map((i) => `${i.path.join('.') || 'settings'}: ${i.message}`).join('; ')}`, 2);
      throw error;
    });
    if (llmApiKey !== undefined) await setTenantLlmApiKey(db, tenantId, llmApiKey);
    const told = await tell(tenantId);
    const hasKey = (await listTenants(db)).find((t) => t.tenantId === tenantId)?.llmApiKey ?? false;
    return describe(tenantId, own, defaults, json, hasKey, `${applied(told)[0].toUpperCase()}${applied(told).slice(1)}.`);
  });
}

export async function tenantsShow(url: string, tenantId: string, defaults: ResolvedTenantSettings, json: boolean): Promise<string> {
  return withDatabase(url, async ({ db }) => {
    const found = (await listTenants(db)).find((t) => t.tenantId === tenantId);
    if (!found) throw new CliError(`No tenant ${tenantId} (tenants are created with their first API key or "tenants set")`);
    return describe(tenantId, found.settings, defaults, json, found.llmApiKey);
  });
}

export async function tenantsList(url: string, json: boolean): Promise<string> {
  return withDatabase(url, async ({ db }) => {
    const tenants = await listTenants(db);
    if (json) return JSON.stringify(tenants, null, 2);
    if (!tenants.length) return 'No tenants';
    return tenants
      .map(
        (t) =>
          `${t.tenantId.padEnd(20)} ${String(t.keys).padStart(3)} active key${t.keys === 1 ? ' ' : 's'}  ${JSON.stringify(t.settings)}`,
      )
      .join('\n');
  });
}

/** The tenant's settings, its own and the deployment's; of its provider key only whether it has one. */
function describe(
  tenantId: string,
  own: TenantSettings,
  defaults: ResolvedTenantSettings,
  json: boolean,
  llmApiKey: boolean,
  note?: string,
): string {
  const effective = { ...defaults, ...own };
  const key = llmApiKey ? 'set (sealed; never shown)' : null;
  if (json) return JSON.stringify({ tenantId, own, effective, llmApiKey: key }, null, 2);
  const row = (flag: string, value: string, mine: boolean) =>
    `  ${`--${flag}`.padEnd(20)} ${value.padEnd(10)} ${mine ? style.bold('(tenant)') : style.dim('(deployment default)')}`;
  const lines = (Object.keys(TENANT_FLAGS) as (keyof typeof TENANT_FLAGS)[]).map((flag) => {
    const name = TENANT_FLAGS[flag];
    const value = effective[name];
    const unset = {
      models: "the deployment's (PARLEY_MODELS)",
      defaultModel: "the deployment's (PARLEY_MODEL)",
      llmBaseUrl: "the deployment's (OPENAI_BASE_URL)",
      transferNumber: 'none',
    } as Record<string, string>;
    return row(flag, value === undefined ? (unset[name] ?? '') : String(value), name in own);
  });
  return [
    `Tenant ${tenantId}`,
    ...lines,
    row('llm-api-key-file', key ?? "the deployment's (OPENAI_API_KEY) unless --llm-base-url is set: then none", key !== null),
    ...(note ? [style.dim(note)] : []),
  ].join('\n');
}
