import { Inject, Injectable } from '@nestjs/common';
import { streamEventsSubject, turnReplyOf, type RecordedEvent, type StoredEvent, type TurnReplyMessage } from '@parley/contracts';
import { EventStore } from '@parley/event-store';
import { watchStream } from '@parley/messaging';
import { RESOURCES, type Connections } from '@parley/runtime';
import { ApiError } from '../http/api-error';
import { TURN_LIMITS, type TurnLimits } from '../ingress.tokens';
import { answeredWith, type Answered, type TurnRequest } from './turn-result';

/** Matches the outcome of a turn, on open events or on the bus's stored form (turnId is never sealed). */
const isOutcomeOf = (turnId: string) => (e: RecordedEvent | StoredEvent) =>
  (e.type === 'AssistantReplied' || e.type === 'TurnFailed') && (e.data as { turnId?: string }).turnId === turnId;

/** A turn's outcome where the log has it: when the fast reply was lost, and for a retry of a turn already recorded. */
@Injectable()
export class TurnOutcomes {
  constructor(
    private readonly store: EventStore,
    @Inject(TURN_LIMITS) private readonly limits: TurnLimits,
    @Inject(RESOURCES) private readonly resources: Connections,
  ) {}

  /** The fast reply is core NATS and may be lost; the log is where the answer really lives. */
  async fromLog(streamId: string, after: number, turnId: string): Promise<TurnReplyMessage | null> {
    const events = await this.store.readStream(streamId, { after });
    const routed = events.find((e): e is RecordedEvent<'TurnRouted'> => e.type === 'TurnRouted' && e.data.turnId === turnId);
    const outcome = events.find(isOutcomeOf(turnId)) as RecordedEvent<'AssistantReplied' | 'TurnFailed'> | undefined;
    return outcome ? turnReplyOf(routed?.data ?? null, outcome) : null;
  }

  /** What the client gets for a reply (or for none: `TURN.TIMEOUT`). */
  answered(request: Pick<TurnRequest, 'sessionId'>, turnId: string, reply: TurnReplyMessage | null): Answered {
    return answeredWith(request.sessionId, turnId, reply, this.limits.timeoutMs);
  }

  /**
   * A retry: the original turn is in the log (same Idempotency-Key, same ids). Returns its answer,
   * waiting for it if it is still being answered; a different request under the key is refused.
   */
  async resume(
    request: TurnRequest,
    streamId: string,
    turnId: string,
    eventId: string,
    fastReply: Promise<TurnReplyMessage | null>,
  ): Promise<Answered> {
    const { bus, prefix } = this.resources;
    const watch = watchStream(
      bus.core,
      streamEventsSubject(prefix, request.tenant.tenantId, streamId),
      isOutcomeOf(turnId),
      this.limits.timeoutMs,
    );
    try {
      const original = await this.store.readEvent(eventId);
      if (!original || original.type !== 'UserMessageReceived') throw new Error(`Event ${eventId} of ${streamId} vanished`);
      if (original.data.text !== request.text || original.data.requestedMode !== request.mode) {
        throw new ApiError('IDEMPOTENCY.KEY_REUSED', 'This Idempotency-Key was already used for a different request', { turnId });
      }
      const known = await this.fromLog(streamId, original.version, turnId);
      if (known) return this.answered(request, turnId, known);
      // the original is still being answered: its reply reaches whichever ingress waits on it
      const reply = await Promise.race([
        fastReply,
        watch.event.then((seen) => (seen ? this.fromLog(streamId, original.version, turnId) : null)),
      ]);
      return this.answered(request, turnId, reply ?? (await this.fromLog(streamId, original.version, turnId)));
    } finally {
      watch.stop();
    }
  }
}
