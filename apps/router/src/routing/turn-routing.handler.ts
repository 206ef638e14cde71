import { Controller, Inject } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { isSessionStream, routeInfoOf, type RecordedEvent } from '@parley/contracts';
import { needsHistory, routeTurn, routingEvents, routingHistory, type RoutingHistory } from '@parley/conversation';
import { EventStore, SessionStates, TenantDirectory } from '@parley/event-store';
import { EventPublisher, sendTurnReply } from '@parley/messaging';
import { appendAllOnce, RESOURCES, TenantMatchers, type Connections } from '@parley/runtime';


/**
 * Decides how each user turn is answered and records the decision as `TurnRouted`. A confident
 * knowledge base answer is recorded right here, with the decision (`AssistantReplied` from the
 * knowledge base version that matched), and sent to the waiting ingress: no LLM, no responder.
 */
@Controller()
export class TurnRoutingHandler {
  constructor(
    private readonly store: EventStore,
    private readonly states: SessionStates,
    private readonly publisher: EventPublisher,
    private readonly matchers: TenantMatchers,
    private readonly tenants: TenantDirectory,
    @Inject(RESOURCES) private readonly resources: Connections,
  ) {}

  @EventPattern('UserMessageReceived')
  async route(@Payload() event: RecordedEvent<'UserMessageReceived'>): Promise<void> {
    if (event.metadata.routed) return; // ingress answered it from the knowledge base as it recorded it
    const { turnId, text, requestedMode } = event.data;
    const inSession = isSessionStream(event.streamId);
    const { routingPolicy: policy, faqThreshold: threshold } = await this.tenants.settings(event.metadata.tenantId);
    const matcher = await this.matchers.forTenant(event.metadata.tenantId);
    const match = text.trim() ? (matcher?.best(text) ?? null) : null; // no text (tool results sent back): nothing to match
    // the session is read only when it can change the decision: an in-session `auto` turn of a
    // hybrid tenant that the knowledge base could answer
    let history: RoutingHistory | null = null;
    if (needsHistory({ inSession, requestedMode, policy, match, threshold })) {
      history = routingHistory((await this.states.load(event.streamId)).folded.state, turnId);
    }
    const toolResults = !text.trim() && (event.data.context ?? []).some((m) => m.role === 'tool');
    const decision = routeTurn({ policy, requestedMode, inSession, text, match, threshold, history, toolResults });
    const events = routingEvents({ eventId: event.eventId, turnId, metadata: event.metadata }, decision, match);
    const recorded = await appendAllOnce(this.store, event.streamId, events);
    if (!recorded) return; // handled before (the relay publishes what was committed)
    if (decision.route === 'faq' && match && event.metadata.replyTo) {
      sendTurnReply(this.resources.nc, event.metadata.replyTo, { ok: true, turnId, text: match.answer, route: routeInfoOf(decision) });
    }
    await this.publisher.publish(this.store.sealed(recorded));
  }
}
