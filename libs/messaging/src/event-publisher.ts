import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { eventSubject, type StoredEvent } from '@parley/contracts';

/**
 * Publishes committed events to JetStream in their stored form (personal fields sealed).
 * Postgres is the source of truth; this only distributes. `msgID = eventId` lets JetStream drop
 * repeats within its duplicate window.
 */
/** Header on a user's message that was routed as it was recorded (`metadata.routed`): the router can skip it unread. */
export const ROUTED_HEADER = 'Parley-Routed';

function routedHeader() {
  const h = headers();
  h.set(ROUTED_HEADER, 'true');
  return h;
}

export class EventPublisher {
  private readonly js: JetStreamClient;

  constructor(
    nc: NatsConnection,
    private readonly prefix: string,
    private readonly partitions: number,
  ) {
    this.js = jetstream(nc);
  }

  /** Publishes in order, pipelined: one connection keeps publish order, acks are awaited together. */
  async publish(events: readonly StoredEvent[]): Promise<void> {
    await Promise.all(
      events.map((event) =>
        this.js.publish(eventSubject(this.prefix, this.partitions, event.metadata.tenantId, event.streamId, event.type), JSON.stringify(event), {
          msgID: event.eventId,
          ...(event.metadata.routed ? { headers: routedHeader() } : {}),
        }),
      ),
    );
  }
}
