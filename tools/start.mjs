// `npm start`: create and migrate the database, then run the services as separate processes
// with prefixed logs until Ctrl-C. Without an LLM configured it starts the built-in demo LLM.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { startCluster, ScriptedLlmServer, echoScript, entrypoint } = require('../dist/libs/testing/src/index.js');

const COLOURS = { ingress: 36, router: 33, 'session-projector': 35, responder: 32, parley: 1 };
const tty = process.stdout.isTTY && !process.env.NO_COLOR;
const tag = (name) => (tty ? `\u001b[${COLOURS[name] ?? 0}m[${name}]\u001b[0m` : `[${name}]`);
const say = (line) => console.log(`${tag('parley')} ${line}`);

const env = { ...process.env };
env.DATABASE_URL ||= 'postgres://postgres@127.0.0.1:5432/parley';
env.NATS_URL ||= 'nats://127.0.0.1:4222';
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
  say('stopped');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  cluster = await startCluster({
    env,
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
say(`ready on http://127.0.0.1:${env.PORT} with API key ${env.PARLEY_DEV_API_KEY} (tenant "default")`);
say(`try: curl -s -XPOST localhost:${env.PORT}/v1/turns -H 'authorization: Bearer ${env.PARLEY_DEV_API_KEY}' -H 'content-type: application/json' -d '{"text":"My new card has not arrived yet"}'`);
say('Ctrl-C stops everything.');
