import { Controller, Inject, Logger } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { routeInfoOf, sessionIdOf, type ContextMessage, type NewEvent, type RecordedEvent, type TurnReplyMessage } from '@parley/contracts';
import { buildStatefulContext, buildStatelessContext, derivedId } from '@parley/conversation';
import { EventStore, loadSessionState, SessionProjectionRepository } from '@parley/event-store';
import { LlmError, type Llm } from '@parley/llm';
import { EventPublisher, sendTurnReply } from '@parley/messaging';
import { appendOnce, RESOURCES, type Connections } from '@parley/runtime';

export const LLM = Symbol('LLM');
export const SYSTEM_PROMPT = Symbol('SYSTEM_PROMPT');

/** What to do with a routed turn: answer it with this context, or it was answered already. */
type Plan = { kind: 'answer'; context: ContextMessage[] } | { kind: 'answered'; outcome: RecordedEvent };

/**
 * Answers routed turns: builds the context the route allows, calls the LLM, records the outcome
 * (`AssistantReplied` or `TurnFailed`) and sends it to the ingress instance waiting on the turn.
 * A turn is answered at most once: a repeated `TurnRouted` (redelivery, relay re-publish) finds
 * the outcome in what it reads anyway and only re-sends the answer.
 */
@Controller()
export class TurnResponderHandler {
  private readonly log = new Logger('TurnResponder');

  constructor(
    private readonly store: EventStore,
    private readonly projections: SessionProjectionRepository,
    private readonly publisher: EventPublisher,
    @Inject(LLM) private readonly llm: Llm,
    @Inject(SYSTEM_PROMPT) private readonly systemPrompt: string,
    @Inject(RESOURCES) private readonly resources: Connections,
  ) {}

  @EventPattern('TurnRouted')
  async respond(@Payload() routed: RecordedEvent<'TurnRouted'>): Promise<void> {
    if (routed.data.route === 'faq') return; // the router answered it from the knowledge base
    const outcomeId = derivedId(routed.eventId, 'outcome');
    const plan = await this.plan(routed, outcomeId);
    if (plan.kind === 'answered') return this.reply(routed, plan.outcome);

    const metadata = { ...routed.metadata, causationId: routed.eventId, correlationId: routed.data.turnId };
    const startedAt = performance.now();
    let outcome: NewEvent;
    try {
      const result = await this.llm.complete({ messages: plan.context });
      outcome = {
        eventId: outcomeId,
        type: 'AssistantReplied',
        data: {
          turnId: routed.data.turnId,
          text: result.text,
          model: result.model,
          usage: result.usage,
          latencyMs: Math.round(performance.now() - startedAt),
          contextMessages: plan.context.length,
        },
        metadata,
      };
    } catch (error) {
      if (!(error instanceof LlmError)) throw error; // our bug or infrastructure: let the transport retry
      this.log.warn(`Turn ${routed.data.turnId} failed: ${error.code} ${error.message}`);
      outcome = { eventId: outcomeId, type: 'TurnFailed', data: { turnId: routed.data.turnId, code: error.code, message: error.message }, metadata };
    }
    const recorded = await appendOnce(this.store, routed.streamId, outcome);
    if (!recorded) {
      // a concurrent delivery of the same turn recorded its answer first; that one stands
      const stored = await this.store.readEvent(outcomeId);
      if (stored) this.reply(routed, stored);
      return;
    }
    this.reply(routed, recorded);
    await this.publisher.publish(this.store.sealed([recorded]));
  }

  /**
   * Stateful turns see the session including this turn (projection plus log tail); stateless ones
   * only their own message, read by id together with any earlier answer, in one round trip.
   */
  private async plan(routed: RecordedEvent<'TurnRouted'>, outcomeId: string): Promise<Plan> {
    const { turnId } = routed.data;
    if (routed.data.mode === 'stateful') {
      const { state } = await loadSessionState(this.store, this.projections, sessionIdOf(routed.streamId));
      const turn = state.status === 'open' ? state.turns.find((t) => t.turnId === turnId) : undefined;
      if (turn?.status === 'replied' || turn?.status === 'failed') {
        const outcome = await this.store.readEvent(outcomeId);
        if (outcome) return { kind: 'answered', outcome };
      }
      return { kind: 'answer', context: buildStatefulContext(state, turnId, this.systemPrompt) };
    }
    const causeId = routed.metadata.causationId;
    if (!causeId) throw new Error(`TurnRouted ${routed.eventId} does not name its UserMessageReceived`);
    const found = await this.store.readEvents([causeId, outcomeId]);
    const outcome = found.get(outcomeId);
    if (outcome) return { kind: 'answered', outcome };
    const message = found.get(causeId);
    if (!message || message.type !== 'UserMessageReceived') {
      throw new Error(`TurnRouted ${routed.eventId} does not point at its UserMessageReceived`);
    }
    return { kind: 'answer', context: buildStatelessContext(message.data.text, this.systemPrompt) };
  }

  private reply(routed: RecordedEvent<'TurnRouted'>, outcome: RecordedEvent): void {
    const replyTo = routed.metadata.replyTo;
    if (!replyTo || (outcome.type !== 'AssistantReplied' && outcome.type !== 'TurnFailed')) return;
    const route = routeInfoOf(routed.data);
    const reply: TurnReplyMessage =
      outcome.type === 'AssistantReplied'
        ? { ok: true, turnId: outcome.data.turnId, text: outcome.data.text, route }
        : { ok: false, turnId: outcome.data.turnId, route, code: outcome.data.code, message: outcome.data.message };
    sendTurnReply(this.resources.nc, replyTo, reply);
  }
}
