/**
 * Models and providers per tenant, services as processes: a tenant set up with `parley tenants set`
 * to its own models, default model, OpenAI-compatible server and API key. Its requests reach its
 * own server with its own key (never the deployment's), the model it named or its default; a model
 * it may not name is OpenAI's `404 model_not_found`; `GET /v1/models` lists its models; its key is
 * sealed at rest and never printed; knowledge-base answers go on whatever the model; and another
 * tenant keeps the deployment's LLM.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { connectDatabase } from '@parley/event-store';
import { runCli, ScriptedLlmServer, smallKnowledgeBase, startTestCluster, TEST_NATS_URL, type TestCluster } from '@parley/testing';

jest.setTimeout(90_000);

const TENANT_KEY = 'sk-acme-own-provider-key-7f3a9c';
const DEPLOYMENT_KEY = 'sk-deployment-secret-41d2';

describe('models and providers per tenant', () => {
  let t: TestCluster;
  let own: ScriptedLlmServer;
  let acme: OpenAI;
  let deployment: OpenAI;
  const dir = mkdtempSync(join(tmpdir(), 'parley-tenant-models-'));
  const cli = (...args: string[]) => runCli(args, { DATABASE_URL: t.db.url, NATS_URL: TEST_NATS_URL, PARLEY_NATS_PREFIX: t.prefix });

  beforeAll(async () => {
    own = await ScriptedLlmServer.start((request) => ({
      text: `acme's own model ${request.model} says: ${request.messages.at(-1)?.content}`,
    }));
    const kb = smallKnowledgeBase(dir);
    t = await startTestCluster({
      label: 'tenant-models',
      script: (request) => ({ text: `deployment model ${request.model} says: ${request.messages.at(-1)?.content}` }),
      env: { OPENAI_API_KEY: DEPLOYMENT_KEY, PARLEY_MODEL: 'gpt-deploy', PARLEY_MODELS: 'gpt-deploy-mini' },
      beforeStart: async (db) => {
        const env = { DATABASE_URL: db.url };
        expect((await runCli(['migrate'], env)).code).toBe(0);
        expect((await runCli(['kb', 'import', kb.questions, '--answers', kb.answers, '--tenant', 'acme'], env)).code).toBe(0);
      },
      readyTimeoutMs: 150_000,
    });
    const created = await cli('keys', 'create', '--tenant', 'acme', '--json');
    expect(created.code).toBe(0);
    acme = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: (JSON.parse(created.stdout) as { key: string }).key, maxRetries: 0 });
    deployment = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: t.apiKey, maxRetries: 0 });
  });
  afterAll(async () => {
    await t?.stop();
    await own?.close();
  });

  it('is set up with parley tenants set, which never prints the key back', async () => {
    const keyFile = join(dir, 'acme-llm-key');
    writeFileSync(keyFile, `${TENANT_KEY}\n`);
    const set = await cli(
      'tenants',
      'set',
      '--tenant',
      'acme',
      '--models',
      'm-fast,m-smart',
      '--default-model',
      'm-fast',
      '--llm-base-url',
      own.url,
      '--llm-api-key-file',
      keyFile,
    );
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('Applied at once by every running service.');
    expect(set.stdout).toContain('set (sealed; never shown)');
    const shown = await cli('tenants', 'show', '--tenant', 'acme', '--json');
    expect(JSON.parse(shown.stdout)).toMatchObject({
      own: { models: ['m-fast', 'm-smart'], defaultModel: 'm-fast', llmBaseUrl: own.url },
      llmApiKey: 'set (sealed; never shown)',
    });
    for (const output of [set.stdout, set.stderr, shown.stdout, (await cli('tenants', 'list', '--json')).stdout])
      expect(output).not.toContain(TENANT_KEY);
    // sealed at rest: no table holds it in the clear
    const database = await connectDatabase(t.db.url, { max: 1 });
    try {
      for (const table of ['tenants', 'tenant_secrets']) {
        const rows = (await database.pool.query(`select * from ${table}`)).rows;
        expect(JSON.stringify(rows)).not.toContain(TENANT_KEY);
      }
    } finally {
      await database.close();
    }
  });

  it('refuses a default model the tenant may not name, a URL with credentials, and a missing key file, with exit 2', async () => {
    expect((await cli('tenants', 'set', '--tenant', 'acme', '--default-model', 'not-listed')).code).toBe(2);
    expect((await cli('tenants', 'set', '--tenant', 'acme', '--llm-base-url', 'https://user:pw@llm.example/v1')).code).toBe(2);
    const missing = await cli('tenants', 'set', '--tenant', 'acme', '--llm-api-key-file', join(dir, 'nope'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read it');
  });

  it("sends the tenant's turns to its own server with its own key and its default model, or the model it named", async () => {
    const before = t.llm.requests.length;
    const plain = await acme.chat.completions.create({
      model: 'parley',
      messages: [{ role: 'user', content: 'what is the weather like on Mars?' }],
    });
    expect(plain.choices[0].message.content).toBe("acme's own model m-fast says: what is the weather like on Mars?");
    const named = await acme.responses.create({ model: 'm-smart', input: 'tell me about Jupiter' });
    expect(named.output_text).toBe("acme's own model m-smart says: tell me about Jupiter");
    expect(own.requests.map((r) => r.model)).toEqual(['m-fast', 'm-smart']);
    expect(own.authorizations).toEqual([`Bearer ${TENANT_KEY}`, `Bearer ${TENANT_KEY}`]);
    expect(t.llm.requests.length).toBe(before); // nothing of acme's went to the deployment's model
  });

  it("lists the tenant's models, and answers another as OpenAI does", async () => {
    expect((await acme.models.list()).data.map((m) => m.id)).toEqual(['parley', 'm-fast', 'm-smart']);
    expect(await acme.models.retrieve('m-smart')).toMatchObject({ id: 'm-smart', object: 'model' });
    await expect(acme.models.retrieve('gpt-deploy-mini')).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    await expect(
      acme.chat.completions.create({ model: 'gpt-deploy-mini', messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
      param: 'model',
    });
    expect((await deployment.models.list()).data.map((m) => m.id)).toEqual(['parley', 'gpt-deploy', 'gpt-deploy-mini']);
  });

  it('answers from the knowledge base whatever model the request names', async () => {
    const calls = own.requests.length;
    const { data, response } = await acme.chat.completions
      .create({ model: 'm-smart', messages: [{ role: 'user', content: 'My new card still has not arrived, when will it come?' }] })
      .withResponse();
    expect(response.headers.get('x-parley-route')).toMatch(/^stateless; reason=no-session-faq/);
    expect(data.choices[0].message.content).not.toContain("acme's own model");
    expect(own.requests.length).toBe(calls);
  });

  it("keeps another tenant on the deployment's server, key and model", async () => {
    const seen = t.llm.requests.length;
    const reply = await deployment.chat.completions.create({
      model: 'parley',
      messages: [{ role: 'user', content: 'hello from the default tenant' }],
    });
    expect(reply.choices[0].message.content).toBe('deployment model gpt-deploy says: hello from the default tenant');
    expect(t.llm.authorizations[seen]).toBe(`Bearer ${DEPLOYMENT_KEY}`);
  });

  it("falls back to the deployment's server, with no key sent anywhere it should not go, once the tenant drops its own", async () => {
    expect(
      (
        await cli(
          'tenants',
          'set',
          '--tenant',
          'acme',
          '--llm-base-url',
          'default',
          '--llm-api-key-file',
          'default',
          '--models',
          'default',
          '--default-model',
          'default',
        )
      ).code,
    ).toBe(0);
    const seen = t.llm.requests.length;
    const reply = await acme.chat.completions.create({
      model: 'parley',
      messages: [{ role: 'user', content: 'acme on the shared model' }],
    });
    expect(reply.choices[0].message.content).toBe('deployment model gpt-deploy says: acme on the shared model');
    expect(t.llm.authorizations[seen]).toBe(`Bearer ${DEPLOYMENT_KEY}`);
    expect((await cli('tenants', 'show', '--tenant', 'acme', '--json')).stdout).toContain('"llmApiKey": null');
  });
});
