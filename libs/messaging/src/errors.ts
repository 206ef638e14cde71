export const MessagingErrorCodes = {
  Unavailable: 'MESSAGING.UNAVAILABLE',
  ReplyTimeout: 'MESSAGING.REPLY_TIMEOUT',
} as const;

export class MessagingError extends Error {
  override readonly name = 'MessagingError';
  constructor(
    readonly code: (typeof MessagingErrorCodes)[keyof typeof MessagingErrorCodes],
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
