import { z } from 'zod';

/** Tenant ids are slugs: they appear in NATS subjects and in stream ids. */
export const TenantId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'a tenant id is 1 to 63 lowercase letters, digits, "-" or "_", starting with a letter or digit');

/** A model's name as an OpenAI-compatible server knows it. */
export const ModelName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\s,]+$/, 'a model name has no spaces or commas');

/** How a tenant's turns are routed: always with history, always without, or per turn. */
export const RoutingPolicy = z.enum(['hybrid', 'stateful', 'stateless']);
export type RoutingPolicy = z.infer<typeof RoutingPolicy>;

/** What happens when a turn arrives while the session's previous turn is still being answered. */
export const ConcurrentTurnPolicy = z.enum(['queue', 'interrupt']);
export type ConcurrentTurnPolicy = z.infer<typeof ConcurrentTurnPolicy>;

/**
 * What a tenant may set for itself; anything left out falls back to the deployment's setting of
 * the same meaning (`PARLEY_FAQ_THRESHOLD`, `PARLEY_CONTEXT_BUDGET_TOKENS`, ...).
 */
export const TenantSettings = z
  .object({
    /** `hybrid` (default): per turn; `stateful`: every turn with history; `stateless`: never. */
    routingPolicy: RoutingPolicy,
    /** Calibrated confidence needed to answer from the knowledge base. */
    faqThreshold: z.number().min(0).max(1),
    /** Most tokens of a stateful LLM input. */
    contextBudgetTokens: z.number().int().min(200).max(1_000_000),
    /** A session expires after this long without a turn. */
    sessionIdleSeconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 24 * 3600),
    /**
     * A turn arriving while the session's previous one is being answered: `queue` (default) answers
     * it after the previous reply, seeing it; `interrupt` stops the previous reply where it is.
     */
    concurrentTurns: ConcurrentTurnPolicy,
    /** Requests per minute allowed per API key. */
    rateLimitPerMinute: z.number().int().min(1).max(1_000_000),
    /**
     * A voice caller's number (Vapi `customer.number`) names a Parley user — kept as a keyed hash,
     * never the number — so the next call from it resumes what is remembered. Opt-in.
     */
    callerUsers: z.boolean(),
    /**
     * The models the tenant's requests may name (OpenAI's `model`), in place of the deployment's
     * `PARLEY_MODELS`; another is `404 model_not_found`.
     */
    models: z.array(ModelName).min(1).max(32),
    /** The model a request that names none (or `parley`) gets, in place of `PARLEY_MODEL` (absent: the first of `models`, if set). */
    defaultModel: ModelName,
    /**
     * The tenant's own OpenAI-compatible server, in place of `OPENAI_BASE_URL`. Its API key is not a
     * setting: it is kept sealed (`parley tenants set --llm-api-key-file`) and never printed back.
     */
    llmBaseUrl: z
      .string()
      .max(2_000)
      .url()
      .refine((u) => /^https?:\/\//.test(u), 'an http or https URL')
      .refine((u) => !/^https?:\/\/[^/]*@/.test(u), 'no credentials in the URL: the key goes in --llm-api-key-file'),
    /**
     * Where a voice call goes when the caller asks for a person (E.164): the model may then
     * transfer the call (Retell's `transfer_number`). Absent: the model is not offered a transfer.
     */
    transferNumber: z.string().regex(/^\+[1-9]\d{6,14}$/, 'an E.164 number, like +14155550100'),
  })
  .partial()
  .strict()
  .refine((s) => !s.models || !s.defaultModel || s.models.includes(s.defaultModel), {
    message: 'defaultModel must be one of models',
    path: ['defaultModel'],
  });
export type TenantSettings = z.infer<typeof TenantSettings>;

/** Settings whose absence means "the deployment's own" (its models, its upstream) or "none": they stay optional once resolved. */
export type OptionalSettingName = 'models' | 'defaultModel' | 'llmBaseUrl' | 'transferNumber';
export type ResolvedTenantSettings = Required<Omit<TenantSettings, OptionalSettingName>> & Pick<TenantSettings, OptionalSettingName>;

/**
 * The model a tenant's requests get when they name none: its `defaultModel`, else the first of its
 * own `models` (a tenant with a list of its own need not repeat one); undefined: the deployment's.
 */
export const tenantDefaultModel = (settings: Pick<TenantSettings, 'models' | 'defaultModel'>): string | undefined =>
  settings.defaultModel ?? settings.models?.[0];

/** Deployment-wide defaults, then the tenant's own choices. */
export function resolveTenantSettings(defaults: ResolvedTenantSettings, own: TenantSettings): ResolvedTenantSettings {
  return { ...defaults, ...Object.fromEntries(Object.entries(own).filter(([, v]) => v !== undefined)) };
}
