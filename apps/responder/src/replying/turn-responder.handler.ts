import { Controller, Inject, Logger, type OnModuleDestroy } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { logIdsOf, type NewEvent, type RecordedEvent } from '@parley/contracts';
import { contextDigest, failed, replied, superseded } from '@parley/conversation';
import { SessionStates } from '@parley/event-store';
import { LlmError, type Llm } from '@parley/llm';
import { JetStreamContext, RunningTurns, StreamSignals } from '@parley/messaging';
import type { KeptMessages } from './kept-messages';
import { converse } from './llm-conversation';
import type { Summarizer } from './summarizer';
import type { TurnAnswers } from './turn-answers';
import type { TurnPlanner } from './turn-planner';

export const LLM = Symbol('LLM');
export const RESPONDER_PARTS = Symbol('RESPONDER_PARTS');

/** The responder's own pieces, built once per process (see main.ts). */
export interface ResponderParts {
  kept: KeptMessages;
  answers: TurnAnswers;
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

  constructor(
    private readonly states: SessionStates,
    @Inject(LLM) private readonly llm: Llm,
    private readonly running: RunningTurns,
    @Inject(RESPONDER_PARTS) private readonly parts: ResponderParts,
  ) {}

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
    const { answers } = this.parts;
    if (plan.kind === 'answered') return answers.send(routed, plan.outcome);
    if (plan.kind === 'superseded') return void (await answers.record(routed, [superseded(routed)]));
    let outcome: NewEvent;
    const startedAt = performance.now();
    const generation = this.running.start(routed.data.turnId, routed.streamId);
    try {
      const result = await converse(this.llm, {
        ...plan,
        remembers: plan.userId !== null,
        signal: generation.signal,
        onDelta: answers.piecesOf(routed),
        tenantId: routed.metadata.tenantId,
      });
      if (plan.userId && result.remembered.length) await answers.remember(routed, plan.userId, result.remembered);
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
    const recorded = await answers.record(routed, [outcome]);
    if (recorded && plan.state && plan.budget !== undefined)
      this.parts.summarizer.consider({ state: plan.state, reply: recorded, budget: plan.budget });
  }

  async onModuleDestroy(): Promise<void> {
    await this.parts.summarizer.close();
    this.parts.signals.close();
    this.parts.kept.close();
  }
}
