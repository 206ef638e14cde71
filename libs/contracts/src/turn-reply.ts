import { z } from 'zod';
import { RouteMode } from './events';

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

/** Reply to a health request. */
export const HealthReply = z.object({
  /** Service name. */
  service: z.string(),
  /** Process-unique instance id. */
  instanceId: z.string(),
});

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
