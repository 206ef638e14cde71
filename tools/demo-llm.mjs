// The built-in demo LLM as a server of its own (docker-compose.yml's `demo-llm` service, which the
// responder answers with when no OPENAI_API_KEY is given): an OpenAI-compatible server that echoes
// the user and says how many context messages it received. `npm start` runs the same in-process.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { ScriptedLlmServer, echoScript } = require('../dist/libs/testing/src/index.js');

const port = Number(process.env.PORT ?? 4010);
const host = process.env.HOST ?? '0.0.0.0';
if (!Number.isInteger(port) || port < 1 || port > 65_535) {
  console.error(`demo-llm: PORT must be a port number, got "${process.env.PORT}"`);
  process.exit(2);
}
const server = await ScriptedLlmServer.start(echoScript, { port, host });
console.log(
  JSON.stringify({
    level: 'info',
    time: new Date().toISOString(),
    service: 'demo-llm',
    msg: `demo LLM (echoes the user) on http://${host}:${port}/v1`,
  }),
);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
