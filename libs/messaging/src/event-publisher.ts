import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { eventSubject, type StoredEvent } from '@parley/contracts';

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
    await Promise.all(
      events.map((event) =>
        this.js.publish(eventSubject(this.prefix, event), JSON.stringify(event), { msgID: event.eventId }),
      ),
    );
  }
}
