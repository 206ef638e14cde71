import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { isSessionStream, type EventType, type RecordedEvent } from '@parley/contracts';
import { foldSession, initialSessionState } from '@parley/conversation';
import { EventStore, SessionProjectionRepository } from '@parley/event-store';
import { ANY_EVENT } from '@parley/messaging';

/**
 * Events that open or advance a turn: the turn's outcome follows within moments, and the row is
 * written then, with them folded in. Skipping them saves two of a turn's three row writes; every
 * read folds the events past the row's version anyway (`loadSessionState`), so nothing is stale.
 */
const FOLDED_WITH_THE_OUTCOME = new Set<EventType>(['UserMessageReceived', 'TurnRouted']);

/**
 * Keeps the session read model up to date. The bus is only a nudge: on an event the projector
 * folds whatever the log holds past its checkpoint, so a lost, repeated or reordered message
 * changes nothing, and the row holds state and checkpoint (version) together.
 */
@Controller()
export class SessionProjectionHandler {
  constructor(
    private readonly store: EventStore,
    private readonly projections: SessionProjectionRepository,
  ) {}

  @EventPattern(ANY_EVENT)
  async project(@Payload() event: RecordedEvent): Promise<void> {
    if (!isSessionStream(event.streamId) || FOLDED_WITH_THE_OUTCOME.has(event.type)) return;
    const current = (await this.projections.load(event.streamId)) ?? { state: initialSessionState(), version: 0 };
    if (current.version >= event.version) return; // already folded
    const tail = await this.store.readStream(event.streamId, { after: current.version });
    if (tail.length === 0) return;
    await this.projections.save(event.streamId, event.metadata.tenantId, foldSession(tail, current), tail[tail.length - 1].recordedAt);
  }
}
