#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { DEFAULT_TENANT, parseSettings, SettingsError, TenantId, tenantDefaults, UserIdParam } from '@parley/contracts';
import { connectDatabase, ensureDatabase, eraseUser, EventStore, EventStoreError, migrateDatabase } from '@parley/event-store';
import { connectNats, MessagingError, missingServices } from '@parley/messaging';
import { CliError } from './cli-error';

const WORKERS = ['router', 'session-projector', 'responder', 'relay'] as const;
import { diff } from './commands/diff.command';
import { dlq } from './commands/dlq.command';
import { kbImport, kbList } from './commands/kb.command';
import { rebuild } from './commands/rebuild.command';
import { sessions } from './commands/sessions.command';
import { replay } from './commands/replay.command';
import { keysCreate, keysList, keysRevoke, settingsPatch, TENANT_FLAGS, tenantsList, tenantsSet, tenantsShow } from './commands/tenants.command';

const USAGE = `parley — inspect and operate a Parley cluster

Usage:
  parley migrate [--create-db]              apply database migrations (and create the database if absent)
  parley diff <sessionId> --from <version> --to <version> [--json]
                                            what changed in the session's state between two versions
  parley sessions [--user <id>] [--since <time|30m|2h|7d>] [--limit <n>] [--json]
                                            find conversations, most recently active first
  parley replay <sessionId> [--at <version>] [--json]
                                            show a session's events as a timeline and the state they fold to
  parley kb import <file.csv> --answers <answers.json> [--if-empty]
  parley kb import <file.json> [--if-empty]
                                            add a knowledge base version (CSV: text,category; JSON: {entries})
  parley kb list [--version <n>] [--json]   show the latest (or a given) knowledge base version
  parley keys create --tenant <tenant> [--name <label>] [--json]
                                            a new API key (shown once; only its hash is stored); creates the tenant
  parley keys list [--tenant <tenant>] [--json]
  parley keys revoke <keyId>                the key stops working within PARLEY_TENANT_CACHE_MS (5 s)
  parley tenants list [--json]
  parley tenants show [--tenant <tenant>] [--json]
                                            a tenant's settings: its own and the deployment defaults
  parley tenants set --tenant <tenant> [--routing-policy hybrid|stateful|stateless] [--faq-threshold <0..1>]
                     [--context-budget <tokens>] [--idle-seconds <s>] [--concurrent-turns queue|interrupt]
                     [--rate-limit <per minute>]
                                            change what the tenant sets itself ("default" reverts one)
  parley erase-user <userId>                erase a user's personal data (keys destroyed, read models removed)
  parley rebuild [--json]                   drop and refold every read model from the log
  parley dlq list [--json]                  messages services gave up on, with the reason
  parley dlq retry <seq>... | --all         re-publish them on their original subjects
  parley health <service>...                exit 0 if every named service answers over NATS
                                            (router, session-projector, responder, relay)

Options:
  --database-url <url>   PostgreSQL (default: $DATABASE_URL or postgres://postgres@127.0.0.1:5432/parley)
  --nats-url <url>       NATS (default: $NATS_URL or nats://127.0.0.1:4222)
  --tenant <name>        tenant to act on (default: default, the tenant PARLEY_DEV_API_KEY seeds)
  --at <version>         replay: state as it was at this stream version
  --json                 replay: machine-readable output
  -h, --help             this help

Examples:
  npm run parley -- migrate --create-db
  npm run parley -- sessions --user ada --since 2h
  npm run parley -- replay 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01
  npm run parley -- replay 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01 --at 4 --json
  npm run parley -- kb import data/demo-bank/questions.csv --answers data/demo-bank/answers.json
  npm run parley -- keys create --tenant acme --name "voice agent"
  npm run parley -- tenants set --tenant acme --routing-policy stateful --context-budget 4000
  npm run parley -- dlq list
  npm run parley -- dlq retry 3 7
`;

async function run(argv: string[]): Promise<string> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) return USAGE;
  const settings = parseSettings('cli', {
    ...process.env,
    ...(values['database-url'] ? { DATABASE_URL: values['database-url'] } : {}),
    ...(values['nats-url'] ? { NATS_URL: values['nats-url'] } : {}),
  });

  const tenant = values.tenant ?? DEFAULT_TENANT;
  const tenantOk = TenantId.safeParse(tenant);
  if (!tenantOk.success) throw new CliError(`--tenant ${tenant}: ${tenantOk.error.issues[0].message}`, 2);

  switch (command) {
    case 'migrate': {
      if (rest.length) throw new CliError(`migrate takes no arguments\n\n${USAGE}`, 2);
      const created = values['create-db'] ? await ensureDatabase(settings.DATABASE_URL) : false;
      await migrateDatabase(settings.DATABASE_URL);
      return `${created ? 'Created the database and applied' : 'Applied'} migrations to ${new URL(settings.DATABASE_URL).pathname.slice(1)}`;
    }
    case 'diff': {
      if (rest.length !== 1) throw new CliError(`diff needs exactly one session id\n\n${USAGE}`, 2);
      const [from, to] = [values.from, values.to].map((v) => (v === undefined ? NaN : Number(v)));
      if (!Number.isInteger(from) || !Number.isInteger(to)) throw new CliError('diff needs --from and --to stream versions (whole numbers)', 2);
      const database = await connectDatabase(settings.DATABASE_URL, { max: 1 });
      try {
        return await diff(new EventStore(database.db), { sessionId: rest[0], tenantId: tenant, from, to, json: Boolean(values.json) });
      } finally {
        await database.close();
      }
    }
    case 'sessions': {
      if (rest.length) throw new CliError(`sessions takes no arguments\n\n${USAGE}`, 2);
      const limit = values.limit === undefined ? 20 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new CliError(`--limit must be a whole number from 1 to 10000, got "${values.limit}"`, 2);
      return sessions(settings.DATABASE_URL, { tenantId: tenant, userId: values.user, since: values.since, limit, json: Boolean(values.json) });
    }
    case 'replay': {
      if (rest.length !== 1) throw new CliError(`replay needs exactly one session id\n\n${USAGE}`, 2);
      const at = values.at === undefined ? undefined : Number(values.at);
      if (at !== undefined && (!Number.isInteger(at) || at < 1)) throw new CliError(`--at must be a positive whole number, got "${values.at}"`, 2);
      const database = await connectDatabase(settings.DATABASE_URL, { max: 1 });
      try {
        return await replay(new EventStore(database.db), { sessionId: rest[0], tenantId: tenant, at, json: Boolean(values.json) });
      } finally {
        await database.close();
      }
    }
    case 'kb': {
      const [action, ...args] = rest;
      if (action === 'import') {
        if (args.length !== 1) throw new CliError(`kb import needs one file\n\n${USAGE}`, 2);
        return kbImport(settings.DATABASE_URL, tenant, { file: args[0], answers: values.answers, ifEmpty: Boolean(values['if-empty']) });
      }
      if (action === 'list') {
        if (args.length) throw new CliError('kb list takes no arguments', 2);
        const version = values.version === undefined ? undefined : Number(values.version);
        if (version !== undefined && (!Number.isInteger(version) || version < 1)) throw new CliError(`--version must be a positive whole number, got "${values.version}"`, 2);
        return kbList(settings.DATABASE_URL, tenant, { version, json: Boolean(values.json) });
      }
      throw new CliError(`kb needs "import" or "list"\n\n${USAGE}`, 2);
    }
    case 'keys': {
      const [action, ...args] = rest;
      if (action === 'create') {
        if (args.length || !values.tenant) throw new CliError(`keys create needs --tenant <tenant> and no other arguments\n\n${USAGE}`, 2);
        return keysCreate(settings.DATABASE_URL, tenant, values.name, Boolean(values.json));
      }
      if (action === 'list') {
        if (args.length) throw new CliError('keys list takes no arguments', 2);
        return keysList(settings.DATABASE_URL, values.tenant, Boolean(values.json));
      }
      if (action === 'revoke') {
        if (args.length !== 1) throw new CliError(`keys revoke needs one key id\n\n${USAGE}`, 2);
        return keysRevoke(settings.DATABASE_URL, args[0]);
      }
      throw new CliError(`keys needs "create", "list" or "revoke"\n\n${USAGE}`, 2);
    }
    case 'tenants': {
      const [action, ...args] = rest;
      if (args.length) throw new CliError(`tenants ${action} takes no arguments\n\n${USAGE}`, 2);
      if (action === 'list') return tenantsList(settings.DATABASE_URL, Boolean(values.json));
      if (action === 'show') return tenantsShow(settings.DATABASE_URL, tenant, tenantDefaults(settings), Boolean(values.json));
      if (action === 'set') {
        if (!values.tenant) throw new CliError(`tenants set needs --tenant <tenant>\n\n${USAGE}`, 2);
        const flags = Object.fromEntries(Object.keys(TENANT_FLAGS).map((flag) => [flag, values[flag as keyof typeof values] as string | undefined]));
        return tenantsSet(settings.DATABASE_URL, tenant, settingsPatch(flags), tenantDefaults(settings), Boolean(values.json));
      }
      throw new CliError(`tenants needs "list", "show" or "set"\n\n${USAGE}`, 2);
    }
    case 'erase-user': {
      if (rest.length !== 1 || !UserIdParam.safeParse(rest[0]).success) throw new CliError(`erase-user needs one user id (1 to 200 characters)\n\n${USAGE}`, 2);
      const database = await connectDatabase(settings.DATABASE_URL, { max: 1 });
      try {
        const result = await eraseUser(database.db, tenant, rest[0]);
        return `Erased user ${rest[0]}: ${result.streams} stream${result.streams === 1 ? '' : 's'} made unreadable now`;
      } finally {
        await database.close();
      }
    }
    case 'rebuild': {
      if (rest.length) throw new CliError(`rebuild takes no arguments\n\n${USAGE}`, 2);
      return rebuild(settings.DATABASE_URL, Boolean(values.json));
    }
    case 'dlq': {
      const [action, ...seqArgs] = rest;
      if (action !== 'list' && action !== 'retry') throw new CliError(`dlq needs "list" or "retry"\n\n${USAGE}`, 2);
      const seqs = seqArgs.map(Number);
      if (seqs.some((n) => !Number.isInteger(n) || n < 1)) throw new CliError(`dlq retry takes sequence numbers, got "${seqArgs.join(' ')}"`, 2);
      if (action === 'retry' && !seqs.length && !values.all) throw new CliError('dlq retry needs sequence numbers or --all', 2);
      if (action === 'list' && seqs.length) throw new CliError('dlq list takes no arguments', 2);
      return dlq({ natsUrl: settings.NATS_URL, prefix: settings.PARLEY_NATS_PREFIX, action, seqs, all: Boolean(values.all), json: Boolean(values.json) });
    }
    case 'health': {
      const unknown = rest.filter((s) => !(WORKERS as readonly string[]).includes(s));
      if (!rest.length || unknown.length) throw new CliError(`health needs one or more of: ${WORKERS.join(', ')}\n\n${USAGE}`, 2);
      const nc = await connectNats(settings.NATS_URL, 'parley-cli');
      try {
        const missing = await missingServices(nc, settings.PARLEY_NATS_PREFIX, rest, 2_000);
        if (missing.length) throw new CliError(`Not answering: ${missing.join(', ')}`);
        return `Answering: ${rest.join(', ')}`;
      } finally {
        await nc.close();
      }
    }
    default:
      throw new CliError(`Unknown command "${command}"\n\n${USAGE}`, 2);
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      json: { type: 'boolean' },
      at: { type: 'string' },
      'create-db': { type: 'boolean' },
      all: { type: 'boolean' },
      tenant: { type: 'string' },
      answers: { type: 'string' },
      'if-empty': { type: 'boolean' },
      version: { type: 'string' },
      user: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      name: { type: 'string' },
      'routing-policy': { type: 'string' },
      'faq-threshold': { type: 'string' },
      'context-budget': { type: 'string' },
      'idle-seconds': { type: 'string' },
      'rate-limit': { type: 'string' },
      'concurrent-turns': { type: 'string' },
      'database-url': { type: 'string' },
      'nats-url': { type: 'string' },
    },
  });
}

run(process.argv.slice(2)).then(
  (output) => {
    process.stdout.write(`${output}\n`);
  },
  (error: unknown) => {
    if (error instanceof CliError || error instanceof SettingsError || error instanceof EventStoreError || error instanceof MessagingError) {
      process.stderr.write(`parley: ${error.message}\n`);
      process.exitCode = error instanceof CliError ? error.exitCode : error instanceof SettingsError ? 2 : 1;
      return;
    }
    process.stderr.write(`parley: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
