import { z } from 'zod';
import { AnswerRoute, InterruptReason, RouteMode, type AssistantRepliedData, type TurnFailedData } from './events';

/** How a turn was routed, as the HTTP API reports it. */
export const RouteInfo = z.object({
  /** The mode the turn was answered in. */
  mode: RouteMode,
  /** Why. */
  reason: z.string(),
  /** Best knowledge base match, whenever the tenant has a knowledge base (also for stateful turns). */
  intent: z.string().optional(),
  /** Calibrated confidence of that match. */
  confidence: z.number().optional(),
});
export type RouteInfo = z.infer<typeof RouteInfo>;

/** Core NATS message from the responder to the ingress instance waiting on a turn. */
export const TurnReplyMessage = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    /** The turn answered. */
    turnId: z.string(),
    /** The reply text. */
    text: z.string(),
    /** How the turn was routed. */
    route: RouteInfo,
    /** Set when the reply was cut short (`text` is what was generated until then). */
    interrupted: InterruptReason.nullable().optional(),
    /** The client's functions the model asked to call. */
    toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.string() })).optional(),
    /** Tokens of the turn's LLM calls, when the model reported them. */
    usage: z.object({ promptTokens: z.number(), completionTokens: z.number() }).nullable().optional(),
    /** Who answered: the knowledge base or the LLM (for ingress's metrics; not shown to clients). */
    answeredBy: AnswerRoute.optional(),
  }),
  z.object({
    ok: z.literal(false),
    /** The turn that failed. */
    turnId: z.string(),
    /** How the turn was routed. */
    route: RouteInfo,
    /** Stable error code (`LLM.TIMEOUT`, `LLM.UPSTREAM`, ...). */
    code: z.string(),
    /** Human-readable explanation. */
    message: z.string(),
  }),
]);
export type TurnReplyMessage = z.infer<typeof TurnReplyMessage>;

/**
 * A piece of a reply as the model generates it, on the same subject as the final reply (core
 * NATS keeps one publisher's order). The first piece carries the route.
 */
export const TurnDeltaMessage = z.object({
  turnId: z.string(),
  /** 0, 1, 2, ... */
  seq: z.number().int().nonnegative(),
  delta: z.string(),
  route: RouteInfo.optional(),
});
export type TurnDeltaMessage = z.infer<typeof TurnDeltaMessage>;

/**
 * Stop generating replies, whichever responder runs them: one turn's (the client left, the user
 * barged in), or every turn of a session but a new one (the user spoke again, under `interrupt`).
 */
export const TurnControlMessage = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('cancel'), turnId: z.string(), reason: InterruptReason }),
  z.object({ kind: z.literal('cancel-session'), streamId: z.string(), exceptTurnId: z.string(), reason: InterruptReason }),
]);
export type TurnControlMessage = z.infer<typeof TurnControlMessage>;

/** Reply to a health request. */
export const HealthReply = z.object({
  /** Service name. */
  service: z.string(),
  /** Process-unique instance id. */
  instanceId: z.string(),
  /** Set while the service cannot do its work (it answers, but is stuck): it is not ready. */
  problem: z.string().optional(),
  /** Something an operator should look at, though the service goes on (events it had to dead-letter). */
  warning: z.string().optional(),
});
export type HealthReply = z.infer<typeof HealthReply>;

/** The route as the API shows it, from a recorded decision. */
export function routeInfoOf(routed: { mode: RouteInfo['mode']; reason: string; features: Record<string, unknown> }): RouteInfo {
  const { intent, confidence } = routed.features;
  return {
    mode: routed.mode,
    reason: routed.reason,
    ...(typeof intent === 'string' ? { intent } : {}),
    ...(typeof confidence === 'number' ? { confidence } : {}),
  };
}

/**
 * The answer a waiting client gets, from the turn's routing and its outcome as the log records
 * them: the one mapping the responder, the router and ingress (reading the log) all use. A turn
 * that failed before it was routed reports a stateless route with reason `unrouted`.
 */
export function turnReplyOf(
  routed: { mode: RouteInfo['mode']; route?: AnswerRoute; reason: string; features: Record<string, unknown> } | null,
  outcome:
    { type: 'AssistantReplied'; data: z.infer<typeof AssistantRepliedData> } | { type: 'TurnFailed'; data: z.infer<typeof TurnFailedData> },
): TurnReplyMessage {
  const route = routed ? routeInfoOf(routed) : { mode: 'stateless' as const, reason: 'unrouted' };
  if (outcome.type === 'TurnFailed')
    return { ok: false, turnId: outcome.data.turnId, route, code: outcome.data.code, message: outcome.data.message };
  const { turnId, text, interrupted, usage, toolCalls } = outcome.data;
  return {
    ok: true,
    turnId,
    text,
    route,
    interrupted,
    usage,
    answeredBy: routed?.route ?? 'llm',
    ...(toolCalls?.length ? { toolCalls } : {}),
  };
}
