/** DI tokens of ingress. */
export const TURN_REPLIES = Symbol('TURN_REPLIES');
export const TURN_TIMEOUT_MS = Symbol('TURN_TIMEOUT_MS');
