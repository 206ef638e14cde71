import { randomBytes } from 'node:crypto';
import { startCluster, type Cluster } from './cluster';
import { freePort } from './processes';
import { echoScript, ScriptedLlmServer, type Script } from './scripted-llm.server';
import { createTestDatabase, type TestDatabase } from './test-database';
import { deleteTestStreams, TEST_NATS_URL, testNatsPrefix } from './test-nats';

export interface HttpResult {
  status: number;
  /** Whatever JSON the API answered: tests read it loosely. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test reads whatever JSON came back
  body: any;
}

/** A whole cluster of one test file: its own database, NATS prefix, scripted LLM and services. */
export interface TestCluster {
  db: TestDatabase;
  llm: ScriptedLlmServer;
  cluster: Cluster;
  prefix: string;
  baseUrl: string;
  /** The dev tenant's API key (`PARLEY_DEV_API_KEY`), sent by `call` unless headers say otherwise. */
  apiKey: string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResult>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<HttpResult>;
  get(path: string): Promise<HttpResult>;
  /** Stops the services and removes the database and streams. */
  stop(): Promise<void>;
}

export interface TestClusterOptions {
  /** Names the database and NATS prefix (for finding leftovers). */
  label: string;
  script?: Script;
  /** Extra settings for every service. */
  env?: Record<string, string>;
  /** Runs against the fresh database before the services start (e.g. importing a knowledge base). */
  beforeStart?: (db: TestDatabase) => Promise<void>;
  readyTimeoutMs?: number;
  /** Node options for every service process. */
  nodeArgs?: string[];
  /** Every service in one process on the in-process bus (the embedded mode's way), on the test's Postgres. */
  embedded?: boolean;
  /** The checkout whose built `dist/` runs (default: this one): another commit's, to compare with. */
  root?: string;
}

export async function startTestCluster(options: TestClusterOptions): Promise<TestCluster> {
  const prefix = testNatsPrefix(options.label);
  const apiKey = `pk_test_${randomBytes(16).toString('hex')}`;
  const db = await createTestDatabase(`e2e_${options.label}`);
  const llm = await ScriptedLlmServer.start(options.script ?? echoScript);
  let cluster: Cluster | undefined;
  const stop = async () => {
    await cluster?.stop();
    await llm.close();
    await deleteTestStreams(prefix);
    await db.drop();
  };
  try {
    await options.beforeStart?.(db);
    cluster = await startCluster({
      env: {
        DATABASE_URL: db.url,
        NATS_URL: TEST_NATS_URL,
        PARLEY_NATS_PREFIX: prefix,
        PORT: String(await freePort()),
        HOST: '127.0.0.1',
        OPENAI_BASE_URL: llm.url,
        PARLEY_DEV_API_KEY: apiKey,
        PARLEY_TENANT_CACHE_MS: '200', // tests change tenant settings and keys and look at once
        PARLEY_PROJECTION_QUIET_MS: '200', // tests look at session rows as soon as a turn is answered
        ...options.env,
      },
      readyTimeoutMs: options.readyTimeoutMs,
      nodeArgs: options.nodeArgs,
      embedded: options.embedded,
      root: options.root,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const baseUrl = cluster.baseUrl;
  const call = async (method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<HttpResult> => {
    // an `authorization` of '' sends none
    const headers = Object.fromEntries(Object.entries({ authorization: `Bearer ${apiKey}`, ...extra }).filter(([, v]) => v !== ''));
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  return {
    db,
    llm,
    cluster,
    prefix,
    baseUrl,
    apiKey,
    call,
    post: (path, body, headers) => call('POST', path, body, headers),
    get: (path) => call('GET', path),
    stop,
  };
}
