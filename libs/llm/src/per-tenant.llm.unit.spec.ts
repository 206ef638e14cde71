import type { Llm, LlmRequest, LlmResult } from './llm.port';
import type { OpenAiCompatibleOptions } from './openai-compatible.llm';
import { PerTenantLlm, type TenantProvider } from './per-tenant.llm';

const result: LlmResult = { text: 'ok', toolCalls: [], model: 'm', usage: null, interrupted: false };
const deploymentOptions: OpenAiCompatibleOptions = {
  baseURL: 'https://api.deployment.test/v1',
  apiKey: 'sk-deployment',
  model: 'gpt-deploy',
  timeoutMs: 1_000,
  maxRetries: 0,
};

/** Records which client got each call, with what options and model. */
function setup(providers: Record<string, TenantProvider>) {
  const calls: { client: string; model: string | undefined }[] = [];
  const made: OpenAiCompatibleOptions[] = [];
  const client = (name: string): Llm => ({
    complete: async (request: LlmRequest) => {
      calls.push({ client: name, model: request.options?.model });
      return result;
    },
  });
  const llm = new PerTenantLlm(
    client('deployment'),
    deploymentOptions,
    async (tenantId) => providers[tenantId],
    (options) => {
      made.push(options);
      return client(`tenant#${made.length}`);
    },
  );
  const ask = (tenantId: string | undefined, model?: string) =>
    llm.complete({ messages: [{ role: 'user', content: 'hi' }], tenantId, ...(model ? { options: { model } } : {}) });
  return { calls, made, ask };
}

const none: TenantProvider = { baseUrl: null, apiKey: null, defaultModel: null };

describe('PerTenantLlm', () => {
  it("sends a tenant without a provider of its own to the deployment's LLM, with its default model when it set one", async () => {
    const { calls, made, ask } = setup({ plain: none, picky: { ...none, defaultModel: 'gpt-small' } });
    await ask('plain');
    await ask('picky');
    await ask('picky', 'gpt-big');
    await ask(undefined);
    expect(calls).toEqual([
      { client: 'deployment', model: undefined },
      { client: 'deployment', model: 'gpt-small' },
      { client: 'deployment', model: 'gpt-big' },
      { client: 'deployment', model: undefined },
    ]);
    expect(made).toHaveLength(0);
  });

  it("never sends the deployment's key to a tenant's own server", async () => {
    const { made, ask } = setup({ own: { baseUrl: 'https://llm.tenant.test/v1', apiKey: null, defaultModel: 'llama' } });
    await ask('own');
    expect(made[0]).toMatchObject({ baseURL: 'https://llm.tenant.test/v1', apiKey: undefined, model: 'llama', timeoutMs: 1_000 });
  });

  it("uses a tenant's own key with the deployment's server, and its own server with its own key", async () => {
    const { made, ask } = setup({
      keyOnly: { ...none, apiKey: 'sk-tenant' },
      both: { baseUrl: 'https://llm.tenant.test/v1', apiKey: 'sk-both', defaultModel: null },
    });
    await ask('keyOnly');
    await ask('both');
    expect(made.map((o) => [o.baseURL, o.apiKey, o.model])).toEqual([
      ['https://api.deployment.test/v1', 'sk-tenant', 'gpt-deploy'],
      ['https://llm.tenant.test/v1', 'sk-both', 'gpt-deploy'],
    ]);
  });

  it('keeps one client per tenant, and makes a new one when the tenant changes its provider', async () => {
    const providers = { t: { baseUrl: 'https://a.test/v1', apiKey: 'k1', defaultModel: null } as TenantProvider };
    const { calls, made, ask } = setup(providers);
    await ask('t');
    await ask('t');
    expect(made).toHaveLength(1);
    providers.t = { ...providers.t, apiKey: 'k2' };
    await ask('t');
    expect(made.map((o) => o.apiKey)).toEqual(['k1', 'k2']);
    expect(calls.map((c) => c.client)).toEqual(['tenant#1', 'tenant#1', 'tenant#2']);
  });
});
