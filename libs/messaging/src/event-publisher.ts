import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { eventSubject, type StoredEvent } from '@parley/contracts';
import { traceHeaders } from './message-trace';

/**
 * Publishes committed events to JetStream in their stored form (personal fields sealed).
 * Postgres is the source of truth; this only distributes. `msgID = eventId` lets JetStream drop
 * repeats within its duplicate window.
 */
export class EventPublisher {
  private readonly js: JetStreamClient;

  constructor(
    nc: NatsConnection,
    private readonly prefix: string,
  ) {
    this.js = jetstream(nc);
  }

  /** Publishes in order, pipelined: one connection keeps publish order, acks are awaited together. */
  async publish(events: readonly StoredEvent[]): Promise<void> {
    await Promise.all(events.map((event) => this.publishOne(event)));
  }

  /** Publishes each event, pipelined like `publish`; what came of each (null: published). */
  async publishEach(events: readonly StoredEvent[]): Promise<(Error | null)[]> {
    const results = await Promise.allSettled(events.map((event) => this.publishOne(event)));
    return results.map((r) => (r.status === 'fulfilled' ? null : r.reason instanceof Error ? r.reason : new Error(String(r.reason))));
  }

  private async publishOne(event: StoredEvent): Promise<void> {
    // a subject that cannot be built, or a payload over max_payload, throws before anything is sent
    await this.js.publish(eventSubject(this.prefix, event), JSON.stringify(event), { msgID: event.eventId, headers: traceHeaders(event) });
  }
}

/**
 * Whether a failed publish can never succeed however often it is retried — a payload over the
 * server's `max_payload`, a subject that cannot be built from the event — as opposed to the bus
 * being away for a while.
 */
export function unpublishable(error: Error): boolean {
  return error.name === 'InvalidArgumentError' || error.name === 'InvalidSubjectError' || /max_payload|not a valid NATS subject token/.test(error.message);
}
