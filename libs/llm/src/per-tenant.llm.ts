import { createHash } from 'node:crypto';
import type { Llm, LlmRequest, LlmResult } from './llm.port';
import { OpenAiCompatibleLlm, type OpenAiCompatibleOptions } from './openai-compatible.llm';

/** Where a tenant's calls go and which model they get when the request names none; null fields: the deployment's. */
export interface TenantProvider {
  baseUrl: string | null;
  apiKey: string | null;
  defaultModel: string | null;
}

/** Most tenants' clients kept at once (each holds a connection pool); the least recently used go first. */
const MAX_CLIENTS = 1_000;

/**
 * The LLM as each tenant chose it: its own OpenAI-compatible server and key when it set them
 * (`llmBaseUrl`, the sealed `llmApiKey`), else the deployment's; and its `defaultModel` for calls
 * that name no model (summaries, turns recorded before it was set). A tenant that names its own
 * server never gets the deployment's key sent there: without a key of its own it sends none.
 */
export class PerTenantLlm implements Llm {
  private readonly clients = new Map<string, { signature: string; llm: Llm }>();

  constructor(
    /** The deployment's LLM, and the options it was made with (timeouts, retries, metrics). */
    private readonly deployment: Llm,
    private readonly options: OpenAiCompatibleOptions,
    /** The tenant's choices (cached and kept fresh by the caller: a tenant directory). */
    private readonly providerOf: (tenantId: string) => Promise<TenantProvider>,
    /** Makes a client for a tenant's server (tests may count them). */
    private readonly make: (options: OpenAiCompatibleOptions) => Llm = (o) => new OpenAiCompatibleLlm(o),
  ) {}

  async complete(request: LlmRequest): Promise<LlmResult> {
    if (!request.tenantId) return this.deployment.complete(request);
    const provider = await this.providerOf(request.tenantId);
    const model = request.options?.model ?? provider.defaultModel;
    const asked = model ? { ...request, options: { ...request.options, model } } : request;
    if (provider.baseUrl === null && provider.apiKey === null) return this.deployment.complete(asked);
    return this.clientFor(request.tenantId, provider).complete(asked);
  }

  private clientFor(tenantId: string, provider: TenantProvider): Llm {
    const baseURL = provider.baseUrl ?? this.options.baseURL;
    // the deployment's key goes only to the deployment's server
    const apiKey = provider.apiKey ?? (provider.baseUrl === null ? this.options.apiKey : undefined);
    const signature = createHash('sha256')
      .update(`${baseURL}\u0000${apiKey ?? ''}\u0000${provider.defaultModel ?? ''}`)
      .digest('hex');
    const kept = this.clients.get(tenantId);
    this.clients.delete(tenantId);
    if (kept?.signature === signature) {
      this.clients.set(tenantId, kept);
      return kept.llm;
    }
    if (this.clients.size >= MAX_CLIENTS) this.clients.delete(this.clients.keys().next().value as string);
    const llm = this.make({ ...this.options, baseURL, apiKey, model: provider.defaultModel ?? this.options.model });
    this.clients.set(tenantId, { signature, llm });
    return llm;
  }
}
