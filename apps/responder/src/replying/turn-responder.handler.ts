import { Controller, Inject, Logger, type OnModuleDestroy } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { logIdsOf, routeInfoOf, turnReplyOf, type NewEvent, type RecordedEvent } from '@parley/contracts';
import { answerUsage, contextDigest, failed, remembered, replied, superseded } from '@parley/conversation';
import {
  DuplicateEventError,
  EventStore,
  EventTooLargeError,
  SessionStates,
  StreamErasedError,
  UserErasedError,
  UserMemoryStore,
} from '@parley/event-store';
import { LlmError, type Llm } from '@parley/llm';
import { EventPublisher, JetStreamContext, RunningTurns, sendTurnReply, StreamSignals, TurnDeltas } from '@parley/messaging';
import { recordOnce, RESOURCES, type Connections } from '@parley/runtime';
import type { KeptMessages } from './kept-messages';
import { converse } from './llm-conversation';
import type { Summarizer } from './summarizer';
import type { TurnPlanner } from './turn-planner';

export const LLM = Symbol('LLM');
export const RESPONDER_PARTS = Symbol('RESPONDER_PARTS');

/** The responder's own pieces, built once per process (see main.ts). */
export interface ResponderParts {
  kept: KeptMessages;
  deltas: TurnDeltas;
  planner: TurnPlanner;
  summarizer: Summarizer;
  signals: StreamSignals;
}

/**
 * Answers routed turns: plans the context the route allows (`TurnPlanner`), calls the LLM,
 * records the outcome (`AssistantReplied` or `TurnFailed`, once: its id derives from the routing)
 * and sends it to the ingress instance waiting on the turn; then, after a stateful reply, lets the
 * summarizer look at the session in the background. A repeated `TurnRouted` (redelivery, relay
 * re-publish) finds the outcome in the log and only re-sends the answer.
 */
@Controller()
export class TurnResponderHandler implements OnModuleDestroy {
  private readonly log = new Logger('TurnResponder');
  private readonly memory: UserMemoryStore;

  constructor(
    private readonly store: EventStore,
    private readonly states: SessionStates,
    private readonly publisher: EventPublisher,
    @Inject(LLM) private readonly llm: Llm,
    private readonly running: RunningTurns,
    @Inject(RESPONDER_PARTS) private readonly parts: ResponderParts,
    @Inject(RESOURCES) private readonly resources: Connections,
  ) {
    this.memory = new UserMemoryStore(store);
  }

  /** A message ingress routed as it recorded it: its `TurnRouted` comes next, and finds it here. */
  @EventPattern('UserMessageReceived')
  keep(@Payload() message: RecordedEvent<'UserMessageReceived'>): void {
    this.states.advance(message);
    this.parts.kept.keep(message);
  }

  @EventPattern('TurnRouted')
  async respond(@Payload() routed: RecordedEvent<'TurnRouted'>, @Ctx() context?: JetStreamContext): Promise<void> {
    if (routed.data.route === 'faq') return; // answered from the knowledge base as it was routed
    const plan = await this.parts.planner.plan(routed, context?.deliveryCount ?? 1); // may throw NotYet: an earlier turn first
    if (plan.kind === 'answered') return this.reply(routed, plan.outcome);
    if (plan.kind === 'superseded') return void (await this.record(routed, [superseded(routed)]));
    let outcome: NewEvent;
    const startedAt = performance.now();
    const generation = this.running.start(routed.data.turnId, routed.streamId);
    try {
      const result = await converse(this.llm, {
        ...plan,
        remembers: plan.userId !== null,
        signal: generation.signal,
        onDelta: this.streamTo(routed),
        tenantId: routed.metadata.tenantId,
      });
      if (plan.userId && result.remembered.length) await this.remember(routed, plan.userId, result.remembered);
      outcome = replied(routed, {
        ...result,
        latencyMs: Math.round(performance.now() - startedAt),
        contextMessages: plan.context.length,
        contextDigest: contextDigest(plan.context),
        interrupted: result.interrupted ? (generation.reason() ?? 'client-disconnected') : null,
        stateVersion: plan.stateVersion,
        droppedMessages: plan.droppedMessages,
      });
    } catch (error) {
      if (!(error instanceof LlmError)) throw error; // our bug or infrastructure: let the transport retry
      this.log.warn(`Turn ${routed.data.turnId} failed: ${error.code} ${error.message}`, logIdsOf(routed));
      outcome = failed(routed, { code: error.code, message: error.message });
    } finally {
      generation.finish();
    }
    const recorded = await this.record(routed, [outcome]);
    if (recorded && plan.state && plan.budget !== undefined)
      this.parts.summarizer.consider({ state: plan.state, reply: recorded, budget: plan.budget });
  }

  /** Records the turn's outcome (once) and sends it to the waiting ingress; null when the log had one already. */
  private async record(routed: RecordedEvent<'TurnRouted'>, outcome: NewEvent[]): Promise<RecordedEvent | null> {
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
    // another delivery, or another path, recorded the turn's outcome first: that one stands
    const stored = await this.store.outcomeOf(routed.streamId, routed.data.turnId);
    if (stored) this.reply(routed, stored);
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
        this.parts.signals.notify(routed.streamId); // the session's next turn may be waiting on this one, here
        this.reply(routed, event);
      },
      { usage },
    );
  }

  /** Records what the model learned in the user's memory stream (ids derived: a redelivery adds nothing). */
  private async remember(routed: RecordedEvent<'TurnRouted'>, userId: string, facts: { name: string; value: string }[]): Promise<void> {
    try {
      const recorded = await this.memory.append(routed.metadata.tenantId, userId, remembered(routed, facts));
      await this.publisher.publish(this.store.sealed(recorded));
    } catch (error) {
      if (!(error instanceof DuplicateEventError) && !(error instanceof StreamErasedError) && !(error instanceof UserErasedError))
        throw error;
    }
  }

  /** Where the reply's pieces go as they are generated: to the waiting ingress, when its client streams. The first carries the route. */
  private streamTo(routed: RecordedEvent<'TurnRouted'>): (text: string) => void {
    const { replyTo, stream } = routed.metadata;
    if (!replyTo || !stream) return () => undefined;
    const { turnId } = routed.data;
    let first = true;
    return (delta) => {
      this.parts.deltas.push(replyTo, turnId, delta, first ? routeInfoOf(routed.data) : undefined);
      first = false;
    };
  }

  private reply(routed: RecordedEvent<'TurnRouted'>, outcome: RecordedEvent): void {
    const { replyTo } = routed.metadata;
    this.parts.deltas.finish(routed.data.turnId); // the pieces still queued go first
    if (replyTo && (outcome.type === 'AssistantReplied' || outcome.type === 'TurnFailed'))
      sendTurnReply(this.resources.bus.core, replyTo, turnReplyOf(routed.data, outcome));
  }

  async onModuleDestroy(): Promise<void> {
    await this.parts.summarizer.close();
    this.parts.signals.close();
    this.parts.kept.close();
  }
}
