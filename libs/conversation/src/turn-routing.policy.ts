import type { AnswerRoute, RequestedMode, RouteMode } from '@parley/contracts';

export interface RouteDecision {
  mode: RouteMode;
  route: AnswerRoute;
  /** Stable, machine-readable reason. */
  reason: string;
  /** The inputs that drove the decision. */
  features: Record<string, string | number | boolean | null>;
}

export interface RouteInput {
  requestedMode: RequestedMode;
  /** False for turns sent without a session (`POST /v1/turns`). */
  inSession: boolean;
}

/**
 * Decides how a turn is answered. This first policy honours the client's choice and otherwise
 * answers in-session turns statefully; the hybrid policy (FAQ hits, follow-ups) extends it.
 */
export function routeTurn(input: RouteInput): RouteDecision {
  const decide = (mode: RouteMode, reason: string): RouteDecision => ({
    mode,
    route: 'llm',
    reason,
    features: { requestedMode: input.requestedMode, inSession: input.inSession },
  });
  if (!input.inSession) return decide('stateless', 'no-session');
  switch (input.requestedMode) {
    case 'stateful':
      return decide('stateful', 'client-forced-stateful');
    case 'stateless':
      return decide('stateless', 'client-forced-stateless');
    case 'auto':
      return decide('stateful', 'session-default-stateful');
    default: {
      const _exhaustive: never = input.requestedMode;
      return _exhaustive;
    }
  }
}
