import type { TenantDirectory } from '@parley/event-store';
import type { TurnReplies } from '@parley/messaging';
import type { TenantMatchers } from '@parley/runtime';
import type { ModelCatalog } from './openai/generation-params';

/** DI tokens of ingress. */
export const TURN_REPLIES = Symbol('TURN_REPLIES');
export const TURN_LIMITS = Symbol('TURN_LIMITS');
/** `PARLEY_METRICS_TOKEN`, or null: /metrics is open. */
export const METRICS_TOKEN = Symbol('METRICS_TOKEN');
/** `PARLEY_SYSTEM_PROMPT`: the inspector rebuilds LLM contexts with it, as the responder built them. */
export const SYSTEM_PROMPT = Symbol('SYSTEM_PROMPT');

/** How long a turn request waits for its answer, and how many this instance holds open at once. */
export interface TurnLimits {
  /** `PARLEY_TURN_TIMEOUT_MS`: then 504, the turn staying in the log. */
  timeoutMs: number;
  /** `PARLEY_MAX_OPEN_TURNS`: past it, 503 at once with Retry-After. */
  maxOpen: number;
}

/** What ingress is started with besides its connections. */
export interface IngressOptions {
  replies: TurnReplies;
  limits: TurnLimits;
  tenants: TenantDirectory;
  /** Sessionless FAQ turns are answered here once a tenant's matcher is trained (in the background). */
  matchers: TenantMatchers;
  metricsToken?: string;
  systemPrompt: string;
  /** The models a request may name (`PARLEY_MODEL`, `PARLEY_MODELS`). */
  models: ModelCatalog;
}
