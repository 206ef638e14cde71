import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { isSessionStream, type NewEvent, type RecordedEvent } from '@parley/contracts';
import { derivedId, routeTurn } from '@parley/conversation';
import { appendOnce } from '@parley/runtime';
import { EventPublisher } from '@parley/messaging';
import { EventStore } from '@parley/event-store';

/** Decides how each user turn is answered and records the decision as `TurnRouted`. */
@Controller()
export class TurnRoutingHandler {
  constructor(
    private readonly store: EventStore,
    private readonly publisher: EventPublisher,
  ) {}

  @EventPattern('UserMessageReceived')
  async route(@Payload() event: RecordedEvent<'UserMessageReceived'>): Promise<void> {
    const decision = routeTurn({ requestedMode: event.data.requestedMode, inSession: isSessionStream(event.streamId) });
    const routed: NewEvent<'TurnRouted'> = {
      eventId: derivedId(event.eventId, 'TurnRouted'),
      type: 'TurnRouted',
      data: { turnId: event.data.turnId, ...decision },
      metadata: { ...event.metadata, causationId: event.eventId, correlationId: event.data.turnId },
    };
    const recorded = await appendOnce(this.store, event.streamId, routed);
    if (recorded) await this.publisher.publish(this.store.sealed([recorded]));
  }
}
