import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { isSessionStream, type RecordedEvent } from '@parley/contracts';
import { SessionProjectionRepository, SessionStates } from '@parley/event-store';
import { ANY_EVENT } from '@parley/messaging';

/**
 * Events that open or advance a turn: the turn's outcome follows within moments, and the row is
 * written then, with them folded in. Skipping them saves two of a turn's three row writes; every
 * read folds the events past the row's version anyway (`loadSessionState`), so nothing is stale.
 */
const FOLDED_WITH_THE_OUTCOME = new Set<string>(['UserMessageReceived', 'TurnRouted']);

/** The events the projector acts on, told from a message's subject (the transport skips the others unread). */
export const projects = (streamId: string, type: string): boolean => isSessionStream(streamId) && !FOLDED_WITH_THE_OUTCOME.has(type);

/**
 * Keeps the session read model up to date. The bus is only a nudge: on an event the projector
 * folds whatever the log holds past its checkpoint, so a lost, repeated or reordered message
 * changes nothing, and the row holds state and checkpoint (version) together.
 */
@Controller()
export class SessionProjectionHandler {
  constructor(
    private readonly projections: SessionProjectionRepository,
    private readonly states: SessionStates,
  ) {}

  @EventPattern(ANY_EVENT)
  async project(@Payload() event: RecordedEvent): Promise<void> {
    if (!projects(event.streamId, event.type)) return;
    // the fold this process last wrote is folded already: no query at all for a repeated event
    if ((this.states.cached(event.streamId)?.version ?? 0) >= event.version) return;
    // remembered only once written: a failed write is retried on redelivery, not skipped as done
    const { folded, tail } = await this.states.load(event.streamId, { keep: false });
    if (tail.length === 0) return; // the row was written from another fold (a replica, a rebuild) and is current
    await this.projections.save(event.streamId, event.metadata.tenantId, folded, tail[tail.length - 1].recordedAt);
    this.states.remember(event.streamId, folded);
  }
}
