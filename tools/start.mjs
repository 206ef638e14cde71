// `npm start`: create and migrate the database, then run the services as separate processes
// with prefixed logs until Ctrl-C. Without an LLM configured it starts the built-in demo LLM.
// Without DATABASE_URL / NATS_URL, and nothing answering on their defaults, it embeds what is
// missing (PARLEY_EMBEDDED=auto): a PostgreSQL from npm with its data under .parley/, and an
// in-process bus with every service in one process. A URL that is set is always used as it is.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { connect as tcpConnect } from 'node:net';
import { relative } from 'node:path';

const require = createRequire(import.meta.url);
const { startCluster, ScriptedLlmServer, echoScript, entrypoint } = require('../dist/libs/testing/src/index.js');
const { startEmbeddedPostgres, parleyHome } = require('../dist/libs/event-store/src/index.js');
const { Client } = require('pg');

const COLOURS = { ingress: 36, router: 33, 'session-projector': 35, responder: 32, parley: 1 };
const tty = process.stdout.isTTY && !process.env.NO_COLOR;
const tag = (name) => (tty ? `\u001b[${COLOURS[name] ?? 0}m[${name}]\u001b[0m` : `[${name}]`);
const say = (line) => console.log(`${tag('parley')} ${line}`);

const env = { ...process.env };
const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/parley';
const LOCAL_NATS = { host: '127.0.0.1', port: 4222 };
const embed = env.PARLEY_EMBEDDED || 'auto';
if (!['auto', 'always', 'never'].includes(embed)) {
  say(`PARLEY_EMBEDDED must be auto, always or never, not "${embed}"`);
  process.exit(2);
}
const started = Date.now();

/** Why the local default cannot be used (null: it answers). */
async function postgresRefusal() {
  const client = new Client({ connectionString: LOCAL_POSTGRES.replace(/\/parley$/, '/postgres'), connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return null;
  } catch (error) {
    return error.code ?? error.message.split('\n')[0];
  } finally {
    await client.end().catch(() => undefined);
  }
}
/** Why no NATS answers on the default (null: one does, saying INFO). */
function natsRefusal() {
  return new Promise((resolve) => {
    const socket = tcpConnect(LOCAL_NATS);
    const done = (why) => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(2_000, () => done('no answer'));
    socket.once('data', (data) => done(data.toString('utf8').startsWith('INFO') ? null : 'not a NATS server'));
    socket.once('error', (error) => done(error.code ?? error.message));
  });
}

const embedded = [];
let embeddedPostgres;
if (!env.DATABASE_URL) {
  const why = embed === 'never' ? null : embed === 'always' ? 'PARLEY_EMBEDDED=always' : await postgresRefusal();
  if (why) {
    const home = parleyHome(env);
    try {
      embeddedPostgres = await startEmbeddedPostgres(home, (line) => env.PARLEY_EMBEDDED_LOG && console.log(`${tag('postgres')} ${line}`));
    } catch (error) {
      say(`could not start the embedded PostgreSQL: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      say('set DATABASE_URL to a PostgreSQL of yours instead');
      process.exit(1);
    }
    env.DATABASE_URL = embeddedPostgres.databaseUrl;
    const state = embeddedPostgres.reused ? 'already running from an earlier run' : embeddedPostgres.created ? 'created' : 'started';
    const because =
      embed === 'always' ? 'as PARLEY_EMBEDDED=always' : `as ${LOCAL_POSTGRES.replace(/\/parley$/, '')} could not be used (${why})`;
    embedded.push(
      `PostgreSQL: embedded, ${state} (data in ${relative(process.cwd(), embeddedPostgres.dataDir) || '.'}; ${env.DATABASE_URL}), ${because}`,
    );
  } else env.DATABASE_URL = LOCAL_POSTGRES;
}
let inProcessBus = false;
if (!env.NATS_URL) {
  const why = embed === 'never' ? null : embed === 'always' ? 'PARLEY_EMBEDDED=always' : await natsRefusal();
  if (why) {
    inProcessBus = true;
    const because =
      embed === 'always' ? 'as PARLEY_EMBEDDED=always' : `as no NATS answered at nats://${LOCAL_NATS.host}:${LOCAL_NATS.port} (${why})`;
    embedded.push(`bus: in-process, with every service in this one process, ${because}`);
  } else env.NATS_URL = `nats://${LOCAL_NATS.host}:${LOCAL_NATS.port}`;
}
if (embedded.length) {
  const rule = '-'.repeat(78);
  say(rule);
  say('EMBEDDED MODE: nothing to install but Node.js.');
  for (const line of embedded) say(`  ${line}`);
  say('For real servers set DATABASE_URL and/or NATS_URL (docs/deployment.md); PARLEY_EMBEDDED=never turns this off.');
  say(rule);
}
env.PORT ||= '3000';
// a fixed key for local use only (ingress listens on 127.0.0.1 unless HOST says otherwise)
env.PARLEY_DEV_API_KEY ||= 'parley-local-dev-key';
if (tty) env.FORCE_COLOR ??= '1';
else env.NO_COLOR ??= '1';
// the services write to this process, not to the terminal: tell them which to write
if (!env.LOG_FORMAT || env.LOG_FORMAT === 'auto') env.LOG_FORMAT = tty ? 'pretty' : 'json';

const cli = (...args) => spawnSync(process.execPath, [entrypoint('cli'), ...args], { env, stdio: 'inherit' }).status === 0;
if (!cli('migrate', '--create-db')) process.exit(1);
// the Demo Bank knowledge base, unless this tenant already has one
if (!cli('kb', 'import', 'data/demo-bank/questions.csv', '--answers', 'data/demo-bank/answers.json', '--if-empty')) process.exit(1);

let demoLlm;
if (!env.OPENAI_BASE_URL && !env.OPENAI_API_KEY) {
  demoLlm = await ScriptedLlmServer.start(echoScript);
  env.OPENAI_BASE_URL = demoLlm.url;
  env.PARLEY_MODEL ||= 'parley-demo-echo';
  say(`No LLM configured (OPENAI_BASE_URL / OPENAI_API_KEY): using the built-in demo LLM at ${demoLlm.url},`);
  say('which echoes the user and counts the context it received. Set OPENAI_BASE_URL (and OPENAI_API_KEY) for a real model.');
}

let cluster;
let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  say('stopping services...');
  await cluster?.stop();
  await demoLlm?.close();
  await embeddedPostgres?.stop().catch(() => undefined);
  say('stopped');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  // the encoder matcher embeds every example before the router is ready: minutes for the Demo Bank
  const encoder = env.PARLEY_MATCHER === 'encoder';
  if (encoder) say('PARLEY_MATCHER=encoder: the router embeds every example question first (about 4 minutes for the Demo Bank here)');
  cluster = await startCluster({
    env,
    embedded: inProcessBus,
    readyTimeoutMs: encoder ? 20 * 60_000 : undefined,
    onLine: (service, line) => console.log(`${tag(service)} ${line}`),
    onUnexpectedExit: (service, code, signal) => {
      say(`${service} exited unexpectedly (${signal ?? `code ${code}`}); stopping the cluster`);
      void shutdown(1);
    },
  });
} catch (error) {
  say(`could not start: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  await shutdown(1);
}
say(
  `ready on http://127.0.0.1:${env.PORT} with API key ${env.PARLEY_DEV_API_KEY} (tenant "default"), ${((Date.now() - started) / 1000).toFixed(1)} s after start`,
);
if (embeddedPostgres) say('the CLI uses the embedded database, while this runs and after: npm run parley -- sessions');
say(
  `try: curl -s -XPOST localhost:${env.PORT}/v1/turns -H 'authorization: Bearer ${env.PARLEY_DEV_API_KEY}' -H 'content-type: application/json' -d '{"text":"My new card has not arrived yet"}'`,
);
say('Ctrl-C stops everything.');
