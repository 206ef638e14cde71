import type { RequestedMode, RouteMode } from '@parley/contracts';

export interface RouteDecision {
  mode: RouteMode;
  /** Stable, machine-readable reason. */
  reason: string;
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
  if (!input.inSession) return { mode: 'stateless', reason: 'no-session' };
  switch (input.requestedMode) {
    case 'stateful':
      return { mode: 'stateful', reason: 'client-forced-stateful' };
    case 'stateless':
      return { mode: 'stateless', reason: 'client-forced-stateless' };
    case 'auto':
      return { mode: 'stateful', reason: 'session-default-stateful' };
    default: {
      const _exhaustive: never = input.requestedMode;
      return _exhaustive;
    }
  }
}
