/** Stable codes of domain failures; ingress maps them to HTTP statuses in one table. */
export const ConversationErrorCodes = {
  SessionNotFound: 'SESSION.NOT_FOUND',
  TurnNotInState: 'TURN.NOT_IN_STATE',
} as const;
export type ConversationErrorCode = (typeof ConversationErrorCodes)[keyof typeof ConversationErrorCodes];

export class ConversationError extends Error {
  override readonly name = 'ConversationError';
  constructor(
    readonly code: ConversationErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
