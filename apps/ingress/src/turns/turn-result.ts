import type {
  AnswerRoute,
  ClientMessage,
  GenerationOptions,
  InterruptReason,
  RequestedMode,
  RouteInfo,
  TokenUsage,
  ToolCallData,
  ToolSpecData,
  TurnDeltaMessage,
  TurnReplyMessage,
} from '@parley/contracts';
import { ApiError } from '../http/api-error';
import type { TenantContext } from '../auth/auth.guard';

export interface TurnResult {
  turnId: string;
  sessionId: string | null;
  /** `interrupted` is set when the reply was cut short and `text` is the part generated. */
  reply: { text: string; interrupted?: InterruptReason };
  route: RouteInfo;
  /** Tokens of the turn's LLM calls (null for knowledge base answers or when the model reported none). */
  usage: TokenUsage | null;
  /** Calls to the client's own tools the model asked for (OpenAI-compatible clients). */
  toolCalls?: ToolCallData[];
}

/** A result and who produced it (for metrics: clients see the route, not this). */
export type Answered = TurnResult & { answeredBy: AnswerRoute };

/** A client that streams: gets the reply's pieces as they come, and may go away. */
export interface TurnStream {
  onDelta(delta: TurnDeltaMessage): void;
  /** Aborts when the client disconnects: the generation is stopped and recorded as interrupted. */
  signal: AbortSignal;
}

/** How a turn is asked for, besides its text. */
export interface TurnOptions {
  idempotencyKey?: string;
  stream?: TurnStream;
  /** The client's system prompt, in place of the deployment's. */
  instructions?: string;
  /** The conversation the client sent before this message: the context without a session, else messages the session lacks. */
  context?: ClientMessage[];
  /** The client's functions the model may call. */
  tools?: ToolSpecData[];
  /** What the client asked of the model (OpenAI's sampling and output parameters), recorded with the message. */
  generation?: GenerationOptions;
}

/** A turn addressed by user: which session it went to. */
export interface UserTurnResult extends TurnResult {
  sessionId: string;
  /** True when it continued the user's live session, false when it started a new one. */
  sessionResumed: boolean;
}

export interface TurnRequest extends TurnOptions {
  tenant: TenantContext;
  sessionId: string | null;
  text: string;
  mode: RequestedMode;
}

/**
 * The one mapping from a turn's reply — as the responder sent it, or rebuilt from the log — to
 * what the client gets: its answer, its failure as a typed error, or `TURN.TIMEOUT` for none.
 */
export function answeredWith(sessionId: string | null, turnId: string, reply: TurnReplyMessage | null, timeoutMs: number): Answered {
  if (!reply) throw new ApiError('TURN.TIMEOUT', `Turn ${turnId} was not answered within ${timeoutMs} ms; it stays recorded`, { turnId });
  if (!reply.ok) throw new ApiError(reply.code, reply.message, { turnId, route: reply.route });
  return {
    turnId,
    sessionId,
    reply: { text: reply.text, ...(reply.interrupted ? { interrupted: reply.interrupted } : {}) },
    route: reply.route,
    usage: reply.usage ?? null,
    ...(reply.toolCalls?.length ? { toolCalls: reply.toolCalls } : {}),
    answeredBy: reply.answeredBy ?? 'llm',
  };
}
