import { openDatabase, openNats, waitingForServer } from './connections';
import { readFileSync } from 'node:fs';
import { tenantDefaults, UserIdParam, type RoutingPolicy, type Settings } from '@parley/contracts';
import { llmOptionsFrom, OpenAiCompatibleLlm } from '@parley/llm';
import { EncoderUnavailableError, loadUseLite, type SentenceEncoder } from '@parley/knowledge';
import { ensureDatabase, eraseUser, EventStore, migrateDatabase, type Db } from '@parley/event-store';
import { announceErasure, connectNats, missingServices } from '@parley/messaging';
import { CliError } from './cli-error';
import { style } from './output';
import { COMMANDS } from './help';
import type { parse } from './command-line';

const WORKERS = ['router', 'session-projector', 'responder', 'relay'] as const;
import { diff } from './commands/diff.command';
import { dlq } from './commands/dlq.command';
import { kbImport, kbList } from './commands/kb.command';
import { rebuild } from './commands/rebuild.command';
import { sessions } from './commands/sessions.command';
import { replay } from './commands/replay.command';
import { rerun } from './commands/rerun.command';
import { whatIf } from './commands/routing.command';
import { fork } from './commands/fork.command';
import { parseTypes, tail } from './commands/tail.command';
import { exportStreams, importStreams } from './commands/transfer.command';
import { parseSince } from './commands/sessions.command';
import {
  keysCreate,
  keysList,
  keysRevoke,
  readLlmApiKey,
  settingsPatch,
  TENANT_FLAGS,
  tenantsList,
  tenantsSet,
  tenantsShow,
} from './commands/tenants.command';

/** What a command is run with: its parsed options and arguments, the settings, and the tenant. */
interface CommandContext {
  command: string;
  values: ReturnType<typeof parse>['values'];
  /** The positional arguments after the command's name. */
  rest: string[];
  settings: Settings<'cli'>;
  tenant: string;
  /** Tells the running services a tenant changed (false: they could not be told). */
  tellServices: (tenantId: string) => Promise<boolean>;
  /** The embedded mode's in-process bus cannot be reached from here. */
  busUnreachable: boolean;
}

/**
 * Every command, by name: what it does with its options and arguments. Its usage, options and
 * examples are `COMMANDS` (help.ts), under the same names — an option its help does not name is
 * refused before it runs.
 */
export const RUNNERS: Record<string, (context: CommandContext) => Promise<string>> = {
  migrate: async ({ values, rest, settings, command }) => {
    if (rest.length) throw new CliError(`migrate takes no arguments${seeHelp(command)}`, 2);
    // in a container started beside its database, wait for it (PARLEY_CONNECT_WAIT_SECONDS)
    const created = values['create-db'] ? await waitingForServer(() => ensureDatabase(settings.DATABASE_URL)) : false;
    await waitingForServer(() => migrateDatabase(settings.DATABASE_URL));
    return `${created ? 'Created the database and applied' : 'Applied'} migrations to ${new URL(settings.DATABASE_URL).pathname.slice(1)}`;
  },
  diff: async ({ values, rest, settings, tenant, command }) => {
    if (rest.length !== 1) throw new CliError(`diff needs exactly one session id${seeHelp(command)}`, 2);
    const [from, to] = [values.from, values.to].map((v) => (v === undefined ? NaN : Number(v)));
    if (!Number.isInteger(from) || !Number.isInteger(to))
      throw new CliError('diff needs --from and --to stream versions (whole numbers)', 2);
    const database = await openDatabase(settings.DATABASE_URL, { max: 1 });
    try {
      return await diff(new EventStore(database.db), { sessionId: rest[0], tenantId: tenant, from, to, json: Boolean(values.json) });
    } finally {
      await database.close();
    }
  },
  sessions: async ({ values, rest, settings, tenant, command }) => {
    if (rest.length) throw new CliError(`sessions takes no arguments${seeHelp(command)}`, 2);
    const limit = values.limit === undefined ? 20 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
      throw new CliError(`--limit must be a whole number from 1 to 10000, got "${values.limit}"`, 2);
    return sessions(settings.DATABASE_URL, {
      tenantId: tenant,
      userId: values.user,
      since: values.since,
      limit,
      json: Boolean(values.json),
    });
  },
  replay: async ({ values, rest, settings, tenant, command }) => {
    if (rest.length !== 1) throw new CliError(`replay needs exactly one session id${seeHelp(command)}`, 2);
    const at = parseAt(values.at);
    return withDatabase(settings.DATABASE_URL, (db) =>
      replay(new EventStore(db), {
        sessionId: rest[0],
        tenantId: tenant,
        at,
        json: Boolean(values.json),
        context: Boolean(values.context),
        systemPrompt: settings.PARLEY_SYSTEM_PROMPT,
      }),
    );
  },
  rerun: async ({ values, rest, settings, tenant, command }) => {
    if (rest.length !== 1) throw new CliError(`rerun needs exactly one session id${seeHelp(command)}`, 2);
    const fromTurn = values['from-turn'] === undefined ? 1 : Number(values['from-turn']);
    if (!Number.isInteger(fromTurn) || fromTurn < 1)
      throw new CliError(`--from-turn must be a positive whole number, got "${values['from-turn']}"`, 2);
    const tried = { 'routing-policy': values['routing-policy'], 'faq-threshold': values['faq-threshold'] };
    const overrides = Object.values(tried).some((v) => v !== undefined) ? settingsPatch(tried) : {};
    if (!values.live && (values.model || values.prompt)) throw new CliError('--model and --prompt go with --live', 2);
    const live = values.live
      ? {
          llm: llmFrom(settings, values.model),
          model: values.model,
          prompt: values.prompt === undefined ? undefined : readPrompt(values.prompt),
        }
      : undefined;
    const encoder = await encoderFor(settings);
    const result = await withDatabase(settings.DATABASE_URL, (db) =>
      rerun(db, {
        sessionId: rest[0],
        tenantId: tenant,
        fromTurn,
        defaults: tenantDefaults(settings),
        overrides: {
          routingPolicy: (overrides.routingPolicy ?? undefined) as RoutingPolicy | undefined,
          faqThreshold: (overrides.faqThreshold ?? undefined) as number | undefined,
        },
        systemPrompt: settings.PARLEY_SYSTEM_PROMPT,
        json: Boolean(values.json),
        live,
        note: (text) => process.stderr.write(`${text}\n`),
        encoder,
      }),
    );
    if (result.diverged) process.exitCode = 1;
    return result.output;
  },
  routing: async ({ values, rest, settings, tenant, command }) => {
    if (rest[0] !== 'what-if' || rest.length > 1) throw new CliError(`routing takes one action: what-if${seeHelp(command)}`, 2);
    const tried = { 'routing-policy': values['routing-policy'], 'faq-threshold': values['faq-threshold'] };
    const overrides = Object.values(tried).some((v) => v !== undefined) ? settingsPatch(tried) : {};
    const kbFlag = values.kb;
    let kb: { version: number | 'latest' } | { file: string; answers?: string } | undefined;
    if (kbFlag === 'latest') kb = { version: 'latest' };
    else if (kbFlag !== undefined && /^\d+$/.test(kbFlag)) kb = { version: Number(kbFlag) };
    else if (kbFlag !== undefined) kb = { file: kbFlag, answers: values.answers };
    if (typeof (kb as { version?: unknown } | undefined)?.version === 'number' && (kb as { version: number }).version < 1)
      throw new CliError(`--kb must be a version (1 or more), latest, or a file; got "${kbFlag}"`, 2);
    if (values.answers && !(kb && 'file' in kb)) throw new CliError('--answers goes with --kb <file.csv>', 2);
    const limit = values.limit === undefined ? 100_000 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000_000)
      throw new CliError(`--limit must be a whole number from 1 to 10000000, got "${values.limit}"`, 2);
    const tty = process.stderr.isTTY;
    const encoder = await encoderFor(settings);
    const result = await withDatabase(settings.DATABASE_URL, (db) =>
      whatIf(db, {
        tenantId: tenant,
        since: parseSince(values.since ?? '7d'),
        limit,
        defaults: tenantDefaults(settings),
        overrides: {
          routingPolicy: (overrides.routingPolicy ?? undefined) as RoutingPolicy | undefined,
          faqThreshold: (overrides.faqThreshold ?? undefined) as number | undefined,
        },
        kb,
        systemPrompt: settings.PARLEY_SYSTEM_PROMPT,
        json: Boolean(values.json),
        note: (text) => process.stderr.write(`${text}\n`),
        progress: tty ? (done, total) => process.stderr.write(`\r${done}/${total} conversations${done === total ? '\n' : ''}`) : undefined,
        encoder,
      }),
    );
    return result.output;
  },
  fork: async ({ values, rest, settings, tenant, command }) => {
    if (rest.length !== 1) throw new CliError(`fork needs exactly one session id${seeHelp(command)}`, 2);
    const at = parseAt(values.at);
    if (at instanceof Date) throw new CliError('fork --at takes a stream version', 2);
    return withDatabase(settings.DATABASE_URL, (db) => fork(db, { sessionId: rest[0], tenantId: tenant, at, json: Boolean(values.json) }));
  },
  tail: async ({ values, rest, settings, tenant, command }) => {
    if (rest.length) throw new CliError(`tail takes no arguments${seeHelp(command)}`, 2);
    const types = parseTypes(values.type);
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
      throw new CliError(`--limit must be a positive whole number, got "${values.limit}"`, 2);
    const stop = new AbortController();
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
    const shown = await withDatabase(settings.DATABASE_URL, (db) =>
      tail(db, {
        tenantId: tenant,
        sessionId: values.session,
        types,
        json: Boolean(values.json),
        limit,
        pollMs: 100,
        signal: stop.signal,
        write: (line) => process.stdout.write(`${line}\n`),
        onFollowing: () =>
          process.stderr.write(
            `Following the events of tenant ${tenant}${values.session ? `, session ${values.session}` : ''} as they commit (Ctrl-C stops)\n`,
          ),
      }),
    );
    return values.json ? '' : style.dim(`(${shown} events)`);
  },
  export: async ({ values, rest, settings, tenant, command }) => {
    if (rest.length > 1 || (rest.length === 1) === Boolean(values.all))
      throw new CliError(`export needs one session id or --all${seeHelp(command)}`, 2);
    if (values.since && !values.all) throw new CliError('--since goes with --all', 2);
    const since = values.since ? parseSince(values.since) : undefined;
    const result = await withDatabase(settings.DATABASE_URL, (db) =>
      exportStreams(db, { tenantId: tenant, sessionId: rest[0], all: Boolean(values.all), since }),
    );
    process.stderr.write(
      `Exported ${result.streams} streams, ${result.events} events${result.skippedErased ? ` (${result.skippedErased} erased streams left out)` : ''}\n`,
    );
    return result.lines.join('\n');
  },
  import: async ({ rest, settings, tenant, command }) => {
    if (rest.length !== 1) throw new CliError(`import needs one file${seeHelp(command)}`, 2);
    const result = await withDatabase(settings.DATABASE_URL, (db) => importStreams(db, tenant, rest[0]));
    return `Imported ${result.imported} events into ${result.streams} streams of tenant ${tenant}${result.alreadyThere ? ` (${result.alreadyThere} were already there)` : ''}`;
  },
  kb: async ({ values, rest, settings, tenant, command }) => {
    const [action, ...args] = rest;
    if (action === 'import') {
      if (args.length !== 1) throw new CliError(`kb import needs one file${seeHelp(command)}`, 2);
      return kbImport(settings.DATABASE_URL, tenant, { file: args[0], answers: values.answers, ifEmpty: Boolean(values['if-empty']) });
    }
    if (action === 'list') {
      if (args.length) throw new CliError('kb list takes no arguments', 2);
      const version = values.version === undefined ? undefined : Number(values.version);
      if (version !== undefined && (!Number.isInteger(version) || version < 1))
        throw new CliError(`--version must be a positive whole number, got "${values.version}"`, 2);
      return kbList(settings.DATABASE_URL, tenant, { version, json: Boolean(values.json) });
    }
    throw new CliError(`kb needs "import" or "list"${seeHelp(command)}`, 2);
  },
  keys: async ({ values, rest, settings, tenant, tellServices, command }) => {
    const [action, ...args] = rest;
    if (action === 'create') {
      if (args.length || !values.tenant)
        throw new CliError(`keys create needs --tenant <tenant> and no other arguments${seeHelp(command)}`, 2);
      return keysCreate(settings.DATABASE_URL, tenant, values.name, Boolean(values.json));
    }
    if (action === 'list') {
      if (args.length) throw new CliError('keys list takes no arguments', 2);
      return keysList(settings.DATABASE_URL, values.tenant, Boolean(values.json));
    }
    if (action === 'revoke') {
      if (args.length !== 1) throw new CliError(`keys revoke needs one key id${seeHelp(command)}`, 2);
      return keysRevoke(settings.DATABASE_URL, args[0], tellServices);
    }
    throw new CliError(`keys needs "create", "list" or "revoke"${seeHelp(command)}`, 2);
  },
  tenants: async ({ values, rest, settings, tenant, tellServices, command }) => {
    const [action, ...args] = rest;
    if (args.length) throw new CliError(`tenants ${action} takes no arguments${seeHelp(command)}`, 2);
    if (action === 'list') return tenantsList(settings.DATABASE_URL, Boolean(values.json));
    if (action === 'show') return tenantsShow(settings.DATABASE_URL, tenant, tenantDefaults(settings), Boolean(values.json));
    if (action === 'set') {
      if (!values.tenant) throw new CliError(`tenants set needs --tenant <tenant>${seeHelp(command)}`, 2);
      const flags = Object.fromEntries(
        Object.keys(TENANT_FLAGS).map((flag) => [flag, values[flag as keyof typeof values] as string | undefined]),
      );
      const apiKey = values['llm-api-key-file'] === undefined ? undefined : await readLlmApiKey(values['llm-api-key-file']);
      return tenantsSet(
        settings.DATABASE_URL,
        tenant,
        settingsPatch(flags, apiKey !== undefined),
        tenantDefaults(settings),
        Boolean(values.json),
        tellServices,
        apiKey,
      );
    }
    throw new CliError(`tenants needs "list", "show" or "set"${seeHelp(command)}`, 2);
  },
  'erase-user': async ({ rest, settings, tenant, busUnreachable, command }) => {
    if (rest.length !== 1 || !UserIdParam.safeParse(rest[0]).success)
      throw new CliError(`erase-user needs one user id (1 to 200 characters)${seeHelp(command)}`, 2);
    const database = await openDatabase(settings.DATABASE_URL, { max: 1 });
    try {
      const result = await eraseUser(database.db, tenant, rest[0]);
      const told = !busUnreachable && (await announceErasure(settings.NATS_URL, settings.PARLEY_NATS_PREFIX, result.streamIds));
      const why = busUnreachable
        ? "the embedded mode's in-process bus cannot be reached from here"
        : `NATS not reachable (${settings.NATS_URL})`;
      const caches = told
        ? 'the services dropped what they cached of them'
        : `${why}: the services drop what they cached of them within 60 s`;
      return `Erased user ${rest[0]}: ${result.streams} stream${result.streams === 1 ? '' : 's'} made unreadable now; ${caches}`;
    } finally {
      await database.close();
    }
  },
  rebuild: async ({ values, rest, settings, command }) => {
    if (rest.length) throw new CliError(`rebuild takes no arguments${seeHelp(command)}`, 2);
    return rebuild(settings.DATABASE_URL, Boolean(values.json));
  },
  dlq: async ({ values, rest, settings, command, busUnreachable }) => {
    const [action, ...seqArgs] = rest;
    if (action !== 'list' && action !== 'retry') throw new CliError(`dlq needs "list" or "retry"${seeHelp(command)}`, 2);
    const seqs = seqArgs.map(Number);
    if (seqs.some((n) => !Number.isInteger(n) || n < 1))
      throw new CliError(`dlq retry takes sequence numbers, got "${seqArgs.join(' ')}"`, 2);
    if (action === 'retry' && !seqs.length && !values.all) throw new CliError('dlq retry needs sequence numbers or --all', 2);
    if (action === 'list' && seqs.length) throw new CliError('dlq list takes no arguments', 2);
    // the embedded mode keeps its dead letters in Postgres: its database, or no NATS configured or answering
    const embeddedBus = busUnreachable || (!values['nats-url'] && !process.env.NATS_URL && !(await natsAnswers(settings.NATS_URL)));
    const source = embeddedBus ? { databaseUrl: settings.DATABASE_URL } : { natsUrl: settings.NATS_URL };
    return dlq({ source, prefix: settings.PARLEY_NATS_PREFIX, action, seqs, all: Boolean(values.all), json: Boolean(values.json) });
  },
  health: async ({ rest, settings, command }) => {
    const unknown = rest.filter((s) => !(WORKERS as readonly string[]).includes(s));
    if (!rest.length || unknown.length) throw new CliError(`health needs one or more of: ${WORKERS.join(', ')}${seeHelp(command)}`, 2);
    const nc = await openNats(settings.NATS_URL);
    try {
      const missing = await missingServices(nc, settings.PARLEY_NATS_PREFIX, rest, 2_000);
      if (missing.length) throw new CliError(`Not answering: ${missing.join(', ')}`);
      return `Answering: ${rest.join(', ')}`;
    } finally {
      await nc.close();
    }
  },
};

export const seeHelp = (command: string | undefined) => `\n(see: parley ${command && command in COMMANDS ? `${command} ` : ''}--help)`;

/** `--at`: a stream version, or an ISO time. */
function parseAt(value: string | undefined): number | Date | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) {
    const version = Number(value);
    if (version < 1) throw new CliError(`--at must be a positive stream version or an ISO time, got "${value}"`, 2);
    return version;
  }
  const time = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(time))
    throw new CliError(`--at must be a positive stream version or an ISO time, got "${value}"`, 2);
  return new Date(time);
}

/** Whether a NATS server answers at `url` (the default, when NATS_URL is not set). */
async function natsAnswers(url: string): Promise<boolean> {
  try {
    await (await connectNats(url, 'parley-cli')).close();
    return true;
  } catch {
    return false;
  }
}

async function withDatabase<T>(url: string, work: (db: Db) => Promise<T>): Promise<T> {
  const database = await openDatabase(url, { max: 1 });
  try {
    return await work(database.db);
  } finally {
    await database.close();
  }
}

function readPrompt(file: string): string {
  try {
    const text = readFileSync(file, 'utf8').trim();
    if (!text) throw new CliError(`--prompt ${file} is empty`, 2);
    return text;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`Cannot read --prompt ${file}: ${(error as Error).message}`, 2);
  }
}

/** The LLM for `rerun --live`: the responder's settings, and `--model` if given. */
function llmFrom(settings: Settings<'cli'>, model: string | undefined): OpenAiCompatibleLlm {
  if (!settings.OPENAI_API_KEY && !settings.explicit.has('OPENAI_BASE_URL')) {
    throw new CliError('rerun --live calls the LLM: set OPENAI_BASE_URL (an OpenAI-compatible server) or OPENAI_API_KEY', 2);
  }
  return new OpenAiCompatibleLlm(llmOptionsFrom(settings, model ? { model } : {}));
}

/** The sentence encoder the services' matchers take when `PARLEY_MATCHER` is `encoder` (run here, in this process). */
async function encoderFor(settings: { PARLEY_MATCHER: 'tfidf' | 'encoder' }): Promise<SentenceEncoder | null> {
  if (settings.PARLEY_MATCHER !== 'encoder') return null;
  try {
    return await loadUseLite();
  } catch (error) {
    if (error instanceof EncoderUnavailableError) throw new CliError(`PARLEY_MATCHER=encoder: ${error.message}`);
    throw error;
  }
}
