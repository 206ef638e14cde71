import { routeInfoOf, turnReplyOf, type NewEvent, type RecordedEvent } from '@parley/contracts';
import { answerUsage, failed, remembered } from '@parley/conversation';
import {
  DuplicateEventError,
  EventStore,
  EventTooLargeError,
  SessionStates,
  StreamErasedError,
  UserErasedError,
  UserMemoryStore,
} from '@parley/event-store';
import { sendTurnReply, type CoreBus, type EventPublisher, type StreamSignals, type TurnDeltas } from '@parley/messaging';
import { recordOnce } from '@parley/runtime';

/**
 * Where what came of a turn goes: its outcome into the log once (its id derives from the
 * routing), this replica's fold of the session and the turns waiting on it, and the answer to the
 * ingress instance waiting on the turn — in pieces as they are generated, when its client streams.
 */
export class TurnAnswers {
  private readonly memory: UserMemoryStore;

  constructor(
    private readonly store: EventStore,
    private readonly states: SessionStates,
    private readonly publisher: EventPublisher,
    private readonly core: CoreBus,
    private readonly deltas: TurnDeltas,
    private readonly signals: StreamSignals,
  ) {
    this.memory = new UserMemoryStore(store);
  }

  /**
   * Records the turn's outcome (once) and sends it to the waiting ingress; null when the log had
   * one already (another delivery or path recorded it first: that one stands, and is sent).
   */
  async record(routed: RecordedEvent<'TurnRouted'>, outcome: NewEvent[]): Promise<RecordedEvent | null> {
    let recorded: RecordedEvent[] | null;
    try {
      recorded = await this.commit(routed, outcome);
    } catch (error) {
      // a model that answered more than an event can carry: the turn fails, as for any bad answer
      if (!(error instanceof EventTooLargeError)) throw error;
      recorded = await this.commit(routed, [
        failed(routed, { code: 'LLM.BAD_RESPONSE', message: `The LLM's answer was too large to record (${error.bytes} bytes)` }),
      ]);
    }
    if (recorded) return recorded[0];
    const stored = await this.store.outcomeOf(routed.streamId, routed.data.turnId);
    if (stored) this.send(routed, stored);
    return null;
  }

  private commit(routed: RecordedEvent<'TurnRouted'>, outcome: NewEvent[]): Promise<RecordedEvent[] | null> {
    // an answer counts in the tenant's usage, in the same statement as it is recorded
    const [answer] = outcome;
    const usage =
      answer.type === 'AssistantReplied' ? answerUsage(routed.data, (answer as NewEvent<'AssistantReplied'>).data.usage) : undefined;
    return recordOnce(
      this.store,
      this.publisher,
      routed.streamId,
      outcome,
      ([event]) => {
        this.states.advance(event);
        this.signals.notify(routed.streamId); // the session's next turn may be waiting on this one, here
        this.send(routed, event);
      },
      { usage },
    );
  }

  /** Records what the model learned in the user's memory stream (ids derived: a redelivery adds nothing). */
  async remember(routed: RecordedEvent<'TurnRouted'>, userId: string, facts: { name: string; value: string }[]): Promise<void> {
    try {
      const recorded = await this.memory.append(routed.metadata.tenantId, userId, remembered(routed, facts));
      await this.publisher.publish(this.store.sealed(recorded));
    } catch (error) {
      if (!(error instanceof DuplicateEventError) && !(error instanceof StreamErasedError) && !(error instanceof UserErasedError))
        throw error;
    }
  }

  /** Where the reply's pieces go as they are generated: to the waiting ingress, when its client streams. The first carries the route. */
  piecesOf(routed: RecordedEvent<'TurnRouted'>): (text: string) => void {
    const { replyTo, stream } = routed.metadata;
    if (!replyTo || !stream) return () => undefined;
    const { turnId } = routed.data;
    let first = true;
    return (delta) => {
      this.deltas.push(replyTo, turnId, delta, first ? routeInfoOf(routed.data) : undefined);
      first = false;
    };
  }

  /** Sends the turn's outcome to the ingress waiting on it (after the pieces still queued). */
  send(routed: RecordedEvent<'TurnRouted'>, outcome: RecordedEvent): void {
    const { replyTo } = routed.metadata;
    this.deltas.finish(routed.data.turnId);
    if (replyTo && (outcome.type === 'AssistantReplied' || outcome.type === 'TurnFailed'))
      sendTurnReply(this.core, replyTo, turnReplyOf(routed.data, outcome));
  }
}
