import { Controller, Inject, Logger } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { sessionIdOf, type ContextMessage, type NewEvent, type RecordedEvent, type TurnReplyMessage } from '@parley/contracts';
import { buildStatefulContext, buildStatelessContext, derivedId } from '@parley/conversation';
import { EventStore, loadSessionState, SessionProjectionRepository } from '@parley/event-store';
import { LlmError, type Llm } from '@parley/llm';
import { EventPublisher, JetStreamContext, sendTurnReply } from '@parley/messaging';
import { appendOnce, RESOURCES, type Connections } from '@parley/runtime';

export const LLM = Symbol('LLM');
export const SYSTEM_PROMPT = Symbol('SYSTEM_PROMPT');

/**
 * Answers routed turns: builds the context the route allows, calls the LLM, records the outcome
 * (`AssistantReplied` or `TurnFailed`) and sends it to the ingress instance waiting on the turn.
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
  async respond(@Payload() routed: RecordedEvent<'TurnRouted'>, @Ctx() ctx: JetStreamContext): Promise<void> {
    const outcomeId = derivedId(routed.eventId, 'outcome');
    if (ctx.deliveryCount > 1) {
      const earlier = await this.store.readEvent(outcomeId);
      if (earlier) return this.finish(routed, [earlier]); // answered before a crash; do not call the LLM again
    }
    const context = await this.contextFor(routed);
    const metadata = { ...routed.metadata, causationId: routed.eventId, correlationId: routed.data.turnId };
    const startedAt = performance.now();
    let outcome: NewEvent;
    try {
      const result = await this.llm.complete({ messages: context });
      outcome = {
        eventId: outcomeId,
        type: 'AssistantReplied',
        data: {
          turnId: routed.data.turnId,
          text: result.text,
          model: result.model,
          usage: result.usage,
          latencyMs: Math.round(performance.now() - startedAt),
          contextMessages: context.length,
        },
        metadata,
      };
    } catch (error) {
      if (!(error instanceof LlmError)) throw error; // our bug or infrastructure: let the transport retry
      this.log.warn(`Turn ${routed.data.turnId} failed: ${error.code} ${error.message}`);
      outcome = { eventId: outcomeId, type: 'TurnFailed', data: { turnId: routed.data.turnId, code: error.code, message: error.message }, metadata };
    }
    await this.finish(routed, await appendOnce(this.store, routed.streamId, outcome));
  }

  /** Stateful turns see the session including this turn (log tail over the projection); stateless ones only their message. */
  private async contextFor(routed: RecordedEvent<'TurnRouted'>): Promise<ContextMessage[]> {
    if (routed.data.mode === 'stateful') {
      const { state } = await loadSessionState(this.store, this.projections, sessionIdOf(routed.streamId));
      return buildStatefulContext(state, routed.data.turnId, this.systemPrompt);
    }
    const causeId = routed.metadata.causationId;
    const message = causeId ? await this.store.readEvent(causeId) : null;
    if (!message || message.type !== 'UserMessageReceived') {
      throw new Error(`TurnRouted ${routed.eventId} does not point at its UserMessageReceived`);
    }
    return buildStatelessContext(message.data.text, this.systemPrompt);
  }

  private async finish(routed: RecordedEvent<'TurnRouted'>, outcome: RecordedEvent[]): Promise<void> {
    const [event] = outcome;
    const replyTo = routed.metadata.replyTo;
    if (replyTo && (event.type === 'AssistantReplied' || event.type === 'TurnFailed')) {
      const route = { mode: routed.data.mode, reason: routed.data.reason };
      const reply: TurnReplyMessage =
        event.type === 'AssistantReplied'
          ? { ok: true, turnId: event.data.turnId, text: event.data.text, route }
          : { ok: false, turnId: event.data.turnId, route, code: event.data.code, message: event.data.message };
      sendTurnReply(this.resources.nc, replyTo, reply);
    }
    await this.publisher.publish(outcome);
  }
}
