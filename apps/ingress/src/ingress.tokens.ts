/** DI tokens of ingress. */
export const TURN_REPLIES = Symbol('TURN_REPLIES');
export const TURN_LIMITS = Symbol('TURN_LIMITS');
/** `PARLEY_METRICS_TOKEN`, or null: /metrics is open. */
export const METRICS_TOKEN = Symbol('METRICS_TOKEN');

/** How long a turn request waits for its answer, and how many this instance holds open at once. */
export interface TurnLimits {
  /** `PARLEY_TURN_TIMEOUT_MS`: then 504, the turn staying in the log. */
  timeoutMs: number;
  /** `PARLEY_MAX_OPEN_TURNS`: past it, 503 at once with Retry-After. */
  maxOpen: number;
}
