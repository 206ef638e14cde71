/** Stable codes of event-store failures. */
export const EventStoreErrorCodes = {
  Concurrency: 'EVENT_STORE.CONCURRENCY',
  StreamNotFound: 'EVENT_STORE.STREAM_NOT_FOUND',
  DuplicateEvent: 'EVENT_STORE.DUPLICATE_EVENT',
  OutcomeRecorded: 'EVENT_STORE.OUTCOME_RECORDED',
  EventTooLarge: 'EVENT_STORE.EVENT_TOO_LARGE',
  StreamErased: 'EVENT_STORE.STREAM_ERASED',
  StreamInactive: 'EVENT_STORE.STREAM_INACTIVE',
  UserErased: 'EVENT_STORE.USER_ERASED',
  Unavailable: 'EVENT_STORE.UNAVAILABLE',
  /** Postgres answered and said no (a wrong password, no such database): waiting will not help. */
  Refused: 'EVENT_STORE.REFUSED',
  OutOfRange: 'EVENT_STORE.OUT_OF_RANGE',
  UnexpectedRow: 'EVENT_STORE.UNEXPECTED_ROW',
} as const;

export class EventStoreError extends Error {
  override readonly name: string = 'EventStoreError';
  constructor(
    readonly code: (typeof EventStoreErrorCodes)[keyof typeof EventStoreErrorCodes],
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The stream is not at the expected version; re-read and retry. */
export class ConcurrencyError extends EventStoreError {
  override readonly name = 'ConcurrencyError';
  constructor(
    readonly streamId: string,
    readonly expected: string | number,
    readonly actual: number | null,
  ) {
    super(EventStoreErrorCodes.Concurrency, `Stream ${streamId} expected at ${expected} but is at ${actual ?? 'no stream'}`);
  }
}

export class StreamNotFoundError extends EventStoreError {
  override readonly name = 'StreamNotFoundError';
  constructor(readonly streamId: string) {
    super(EventStoreErrorCodes.StreamNotFound, `Stream ${streamId} does not exist`);
  }
}

/** An event with this id is already in the log: the append was a retry. */
export class DuplicateEventError extends EventStoreError {
  override readonly name = 'DuplicateEventError';
  constructor(
    readonly streamId: string,
    options?: { cause?: unknown },
  ) {
    super(EventStoreErrorCodes.DuplicateEvent, `An event appended to ${streamId} is already in the log`, options);
  }
}

/** The turn already has an outcome (`AssistantReplied` or `TurnFailed`) in the log: a turn has one. */
export class OutcomeRecordedError extends EventStoreError {
  override readonly name = 'OutcomeRecordedError';
  constructor(
    readonly streamId: string,
    options?: { cause?: unknown },
  ) {
    super(EventStoreErrorCodes.OutcomeRecorded, `A turn of ${streamId} already has an outcome in the log`, options);
  }
}

/**
 * An event would be larger than the bus can carry: refused before anything is committed, so the
 * log never holds what the relay could not publish.
 */
export class EventTooLargeError extends EventStoreError {
  override readonly name = 'EventTooLargeError';
  constructor(
    readonly streamId: string,
    readonly type: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(
      EventStoreErrorCodes.EventTooLarge,
      `A ${type} event of ${bytes} bytes is over the ${limit} bytes an event may take (NATS's max_payload, less room for its envelope)`,
    );
  }
}

/** The stream's personal data was erased: nothing more may be written to it. */
export class StreamErasedError extends EventStoreError {
  override readonly name = 'StreamErasedError';
  constructor(readonly streamId: string) {
    super(EventStoreErrorCodes.StreamErased, `Stream ${streamId} was erased`);
  }
}

/** The stream was closed, or has had no event for longer than the caller allows. */
export class StreamInactiveError extends EventStoreError {
  override readonly name = 'StreamInactiveError';
  constructor(
    readonly streamId: string,
    /** `closed`: closed before; `idle`: open, but quiet for too long (the caller may close it). */
    readonly why: 'closed' | 'idle',
    readonly lastActivityAt: string,
  ) {
    super(EventStoreErrorCodes.StreamInactive, `Stream ${streamId} is ${why} (last activity ${lastActivityAt})`);
  }
}

/** The user was erased: no new stream may hold their data. */
export class UserErasedError extends EventStoreError {
  override readonly name = 'UserErasedError';
  constructor(readonly userId: string) {
    super(EventStoreErrorCodes.UserErased, `User ${userId} was erased`);
  }
}

/** The driver's error behind drizzle's wrapper (`DrizzleQueryError` keeps it as `cause`). */
export function pgErrorOf(error: unknown): { code?: string; constraint?: string; message: string } {
  let current: unknown = error;
  while (current && typeof current === 'object') {
    const candidate = current as { code?: unknown; cause?: unknown; message?: string };
    if (typeof candidate.code === 'string') return candidate as { code: string; message: string };
    current = candidate.cause;
  }
  return { message: error instanceof Error ? error.message : String(error) };
}
