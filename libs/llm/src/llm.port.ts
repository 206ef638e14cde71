import type { ContextMessage, TokenUsage } from '@parley/contracts';

export interface LlmRequest {
  /** The exact context, system prompt first. */
  messages: ContextMessage[];
  /** Aborts the call (client gone, shutdown). */
  signal?: AbortSignal;
}

export interface LlmResult {
  text: string;
  /** Model name as the server reported it. */
  model: string;
  usage: TokenUsage | null;
}

/** What the responder needs from a language model. */
export interface Llm {
  complete(request: LlmRequest): Promise<LlmResult>;
}

export const LlmErrorCodes = {
  Timeout: 'LLM.TIMEOUT',
  Upstream: 'LLM.UPSTREAM',
  Unreachable: 'LLM.UNREACHABLE',
  BadResponse: 'LLM.BAD_RESPONSE',
  Aborted: 'LLM.ABORTED',
} as const;
export type LlmErrorCode = (typeof LlmErrorCodes)[keyof typeof LlmErrorCodes];

export class LlmError extends Error {
  override readonly name = 'LlmError';
  constructor(
    readonly code: LlmErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
