import type { StoredEvent } from '@parley/contracts';

/**
 * Publishes committed events to the bus in their stored form (personal fields sealed). Postgres
 * is the source of truth; this only distributes. Abstract so that it can be a Nest injection
 * token; each bus (`JetStreamBus`, `InProcessBus`) is one.
 */
export abstract class EventPublisher {
  /** Publishes in order; a repeat of an event id within the duplicate window is dropped. */
  abstract publish(events: readonly StoredEvent[]): Promise<void>;
  /** Publishes each event like `publish`; what came of each (null: published). */
  abstract publishEach(events: readonly StoredEvent[]): Promise<(Error | null)[]>;
}

/**
 * Whether a failed publish can never succeed however often it is retried — a payload over the
 * server's `max_payload`, a subject that cannot be built from the event — as opposed to the bus
 * being away for a while.
 */
export function unpublishable(error: Error): boolean {
  return (
    error.name === 'InvalidArgumentError' ||
    error.name === 'InvalidSubjectError' ||
    /max_payload|not a valid NATS subject token/.test(error.message)
  );
}
