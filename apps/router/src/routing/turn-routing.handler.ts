import { trace } from '@opentelemetry/api';
import { Controller, Inject } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { isSessionStream, turnReplyOf, type RecordedEvent } from '@parley/contracts';
import { admitRouting, answerUsage, routeMessage, routingEvents, routingTexts, type SessionState } from '@parley/conversation';
import { EventStore, SessionStates, TenantDirectory } from '@parley/event-store';
import { EventPublisher, NotYet, sendTurnReply, StreamSignals } from '@parley/messaging';
import { recordOnce, RESOURCES, TenantMatchers, type Connections } from '@parley/runtime';

/**
 * Decides how each user turn is answered and records the decision as `TurnRouted`. A confident
 * knowledge base answer is recorded right here, with the decision (`AssistantReplied` from the
 * knowledge base version that matched), and sent to the waiting ingress: no LLM, no responder.
 * A decision that reads the session waits (`NotYet`) until the session's earlier messages are
 * routed, so it sees the turn before it as a replay of the log does.
 */
@Controller()
export class TurnRoutingHandler {
  constructor(
    private readonly store: EventStore,
    private readonly states: SessionStates,
    private readonly publisher: EventPublisher,
    private readonly matchers: TenantMatchers,
    private readonly tenants: TenantDirectory,
    private readonly signals: StreamSignals,
    @Inject(RESOURCES) private readonly resources: Connections,
  ) {}

  @EventPattern('UserMessageReceived')
  async route(@Payload() event: RecordedEvent<'UserMessageReceived'>): Promise<void> {
    if (event.metadata.routed) return; // ingress routed it as it recorded it
    const { turnId } = event.data;
    const { tenantId } = event.metadata;
    const { routingPolicy: policy, faqThreshold: threshold } = await this.tenants.settings(tenantId);
    const matcher = await this.matchers.forTenant(tenantId);
    const input = {
      message: event.data,
      inSession: isSessionStream(event.streamId),
      policy,
      threshold,
      matcher: await this.matchers.prepared(matcher, routingTexts(event.data)),
    };
    // the session is read only when it can change the decision: an in-session `auto` turn of a
    // hybrid tenant that the knowledge base could answer
    let routing = routeMessage(input);
    if (routing.kind === 'needs-history') {
      const state = await this.sessionOf(event);
      routing = routeMessage({ ...input, state, matcher: await this.matchers.prepared(matcher, routingTexts(event.data, state)) });
    }
    if (routing.kind !== 'routed') throw new Error(`turn ${turnId} could not be routed with its session`);
    const { decision, match } = routing;
    trace.getActiveSpan()?.setAttributes({
      'parley.route.mode': decision.mode,
      'parley.route.answer': decision.route,
      'parley.route.reason': decision.reason,
    });
    const events = routingEvents({ eventId: event.eventId, turnId, metadata: event.metadata }, decision, match);
    // a knowledge base answer is recorded with its routing, and counted in the tenant's usage with it
    const usage = decision.route === 'faq' && match ? answerUsage(decision, null) : undefined;
    await recordOnce(
      this.store,
      this.publisher,
      event.streamId,
      events,
      (recorded) => {
        this.signals.notify(event.streamId);
        const [routed, answer] = recorded;
        if (event.metadata.replyTo && routed?.type === 'TurnRouted' && answer?.type === 'AssistantReplied') {
          sendTurnReply(this.resources.bus.core, event.metadata.replyTo, turnReplyOf(routed.data, answer));
        }
      },
      { usage },
    );
  }

  /** The session, once every message before this one is routed (the decision sees the turn before it). */
  private async sessionOf(event: RecordedEvent<'UserMessageReceived'>): Promise<SessionState> {
    const watch = this.signals.watch(event.metadata.tenantId, event.streamId);
    const { state } = (await this.states.load(event.streamId)).folded;
    const admission = admitRouting(state, event.data.turnId);
    if (admission.kind === 'wait') throw new NotYet(watch.changed, `turn ${event.data.turnId} is routed after ${admission.for.join(', ')}`);
    watch.cancel();
    return state;
  }
}
