#!/usr/bin/env node
import { DEFAULT_TENANT, parseSettings, SettingsError, TenantId } from '@parley/contracts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EventStoreError, parleyHome, runningEmbedded, startEmbeddedPostgres, type EmbeddedPostgres } from '@parley/event-store';
import { announceTenantChange, MessagingError } from '@parley/messaging';
import { CliError } from './cli-error';
import { commandHelp, COMMANDS, optionsOf, USAGE } from './help';
import { parse } from './command-line';
import { RUNNERS, seeHelp } from './runners';
import { waitForServers } from './connections';

async function run(argv: string[]): Promise<string> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new CliError(`${(error as Error).message}${seeHelp(argv.find((a) => a in COMMANDS))}`, 2);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) return command && command in COMMANDS ? commandHelp(command) : USAGE;
  if (command in COMMANDS) {
    // one option table parses every command: each takes only the options its own help names
    const allowed = optionsOf(command);
    const stray = Object.keys(values).filter((name) => !allowed.has(name));
    if (stray.length) throw new CliError(`${command} does not take ${stray.map((name) => `--${name}`).join(', ')}${seeHelp(command)}`, 2);
  }
  const embeddedUrl = values['database-url'] || process.env.DATABASE_URL ? undefined : await embeddedDatabase();
  const settings = parseSettings('cli', {
    ...process.env,
    ...(embeddedUrl ? { DATABASE_URL: embeddedUrl } : {}),
    ...(values['database-url'] ? { DATABASE_URL: values['database-url'] } : {}),
    ...(values['nats-url'] ? { NATS_URL: values['nats-url'] } : {}),
  });
  waitForServers(settings.PARLEY_CONNECT_WAIT_SECONDS);

  // the embedded mode's services share an in-process bus this process cannot reach
  const busUnreachable = embeddedUrl !== undefined;
  const tellServices = (tenantId: string) =>
    busUnreachable ? Promise.resolve(false) : announceTenantChange(settings.NATS_URL, settings.PARLEY_NATS_PREFIX, tenantId);

  const tenant = values.tenant ?? DEFAULT_TENANT;
  const tenantOk = TenantId.safeParse(tenant);
  if (!tenantOk.success) throw new CliError(`--tenant ${tenant}: ${tenantOk.error.issues[0].message}`, 2);

  const runner = Object.hasOwn(RUNNERS, command) ? RUNNERS[command] : undefined;
  if (!runner) throw new CliError(`Unknown command "${command}"${seeHelp(command)}`, 2);
  return runner({ command, values, rest, settings, tenant, tellServices, busUnreachable });
}

/** The embedded Postgres this command started (the database `npm start` embedded, while it is not running). */
let startedHere: EmbeddedPostgres | undefined;

/**
 * Without DATABASE_URL: the database of the embedded mode under `PARLEY_HOME` (`.parley`), if
 * there is one — the running one `npm start` announced, or, when none runs, started for this
 * command and stopped after it. Otherwise undefined (the default URL).
 */
async function embeddedDatabase(): Promise<string | undefined> {
  const home = parleyHome();
  const running = runningEmbedded(home);
  if (running) return running.databaseUrl;
  if (!existsSync(join(home, 'postgres', 'PG_VERSION'))) return undefined;
  process.stderr.write(`parley: starting the embedded database in ${home} for this command\n`);
  startedHere = await startEmbeddedPostgres(home);
  return startedHere.databaseUrl;
}

run(process.argv.slice(2))
  .finally(() => startedHere?.stop().catch(() => undefined))
  .then(
    (output) => {
      process.stdout.write(`${output}\n`);
    },
    (error: unknown) => {
      if (
        error instanceof CliError ||
        error instanceof SettingsError ||
        error instanceof EventStoreError ||
        error instanceof MessagingError
      ) {
        process.stderr.write(`parley: ${error.message}\n`);
        process.exitCode = error instanceof CliError ? error.exitCode : error instanceof SettingsError ? 2 : 1;
        return;
      }
      process.stderr.write(`parley: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
