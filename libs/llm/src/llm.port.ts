import type { ClientMessage, GenerationOptions, TokenUsage } from '@parley/contracts';

/** A function the model may call. */
export interface ToolSpec {
  name: string;
  description?: string;
  /** JSON Schema of the arguments. */
  parameters?: Record<string, unknown>;
}

export interface ToolCall {
  id: string;
  name: string;
  /** JSON text, as the model wrote it (may be invalid). */
  arguments: string;
}

/** The context plus the model's tool calls and their results (the OpenAI chat format). */
export type LlmMessage = ClientMessage;

export interface LlmRequest {
  /** The exact context, system prompt first. */
  messages: LlmMessage[];
  tools?: ToolSpec[];
  /**
   * Aborts the call (client gone, user barged in, shutdown). A streamed call that is aborted ends
   * with what was generated so far and `interrupted: true`; an unstreamed one fails with `LLM.ABORTED`.
   */
  signal?: AbortSignal;
  /** Streams the reply: called with each piece of text as the model generates it. */
  onDelta?: (text: string) => void;
  /** Most tokens the reply may have (`max_tokens`). */
  maxTokens?: number;
  /** What the client asked of the model for this turn (model, temperature, response format, ...), passed on as sent. */
  options?: GenerationOptions;
  /** What the call is for and whose it is: labels for metrics and traces (never its content). */
  purpose?: LlmPurpose;
  tenantId?: string;
}

export type LlmPurpose = 'reply' | 'summary' | 'rerun';

/** One finished LLM call, as metrics see it. */
export interface LlmCallRecord {
  purpose: LlmPurpose;
  tenantId: string | undefined;
  seconds: number;
  /** null when it answered (an interrupted stream included); else the LlmError code. */
  errorCode: LlmErrorCode | null;
  usage: TokenUsage | null;
}

export interface LlmResult {
  /** The reply text ('' when the model only called tools). */
  text: string;
  toolCalls: ToolCall[];
  /** Model name as the server reported it. */
  model: string;
  usage: TokenUsage | null;
  /** True when the call was aborted mid-stream: `text` is what was generated until then. */
  interrupted: boolean;
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
