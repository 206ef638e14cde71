import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { routeInfoOf, SessionIdParam, sessionIdOf, type RequestedMode } from '@parley/contracts';
import { isIdle, received, receivedWithRouting } from '@parley/conversation';
import { EventStore } from '@parley/event-store';
import { cancelSessionTurns, cancelTurn, TurnReplies } from '@parley/messaging';
import { RESOURCES, type Connections } from '@parley/runtime';
import { ApiError } from '../http/api-error';
import type { TenantContext } from '../auth/auth.guard';
import { TURN_LIMITS, TURN_REPLIES, type TurnLimits } from '../ingress.tokens';
import { sessionNotFound, SessionsService } from '../sessions/sessions.service';
import { IngressRouting } from './ingress-routing';
import { OpenTurns } from './open-turns';
import { TurnOutcomes } from './turn-outcomes';
import { TurnLog } from './turn-log';
import type { Answered, TurnOptions, TurnRequest, TurnResult, UserTurnResult } from './turn-result';

/**
 * A turn from ingress's side: record the user's message, hand it to the bus, wait for the answer.
 * A turn whose routing needs no session state — any turn without a session, most in a session —
 * is routed by ingress itself (the router's pure policy, the same trained matcher) and the
 * decision recorded with the message: a turn for the LLM goes straight to the responder, a
 * knowledge base answer is recorded with it and returned with no wait. The rest go to the router,
 * which reads the session. With an Idempotency-Key the turn's ids derive from the key, so a retry
 * meets the original in the log instead of starting a second turn, and waits for (or returns) the
 * original's answer.
 */
@Injectable()
export class TurnsService {
  constructor(
    private readonly store: EventStore,
    @Inject(TURN_REPLIES) private readonly replies: TurnReplies,
    @Inject(TURN_LIMITS) private readonly limits: TurnLimits,
    @Inject(RESOURCES) private readonly resources: Connections,
    private readonly sessions: SessionsService,
    private readonly routing: IngressRouting,
    private readonly openTurns: OpenTurns,
    private readonly outcomes: TurnOutcomes,
    private readonly log: TurnLog,
  ) {}

  async inSession(
    tenant: TenantContext,
    sessionId: string,
    text: string,
    mode: RequestedMode,
    options: TurnOptions = {},
  ): Promise<TurnResult> {
    if (!SessionIdParam.safeParse(sessionId).success) throw sessionNotFound(sessionId);
    return this.run({ tenant, sessionId, text, mode, ...options });
  }

  async stateless(tenant: TenantContext, text: string, options: TurnOptions = {}): Promise<TurnResult> {
    return this.run({ tenant, sessionId: null, text, mode: 'stateless', ...options });
  }

  /**
   * A turn for a user rather than a session: continues their live session (one with a turn in the
   * last PARLEY_SESSION_IDLE_SECONDS), or expires the stale one and starts a new session, which
   * starts with everything remembered about the user.
   */
  async forUser(
    tenant: TenantContext,
    userId: string,
    text: string,
    mode: RequestedMode,
    options: TurnOptions = {},
  ): Promise<UserTurnResult> {
    const { tenantId, settings } = tenant;
    const latest = await this.store.latestSessionOf(tenantId, userId);
    if (latest && !latest.closed && !isIdle(latest.updatedAt, Date.now(), settings.sessionIdleSeconds)) {
      try {
        const result = await this.inSession(tenant, sessionIdOf(latest.streamId), text, mode, options);
        return { ...result, sessionId: result.sessionId!, sessionResumed: true };
      } catch (error) {
        if (!(error instanceof ApiError) || error.code !== 'SESSION.EXPIRED') throw error; // expired meanwhile: start anew
      }
    } else if (latest && !latest.closed) {
      await this.sessions.expire(tenantId, latest.streamId, latest.updatedAt, settings.sessionIdleSeconds);
    }
    const { sessionId } = await this.sessions.create(tenantId, { userId });
    const result = await this.inSession(tenant, sessionId, text, mode, options);
    return { ...result, sessionId, sessionResumed: false };
  }

  /** Every turn goes through here: held open within the instance's bound, and measured. */
  private run(request: TurnRequest): Promise<TurnResult> {
    return this.openTurns.hold(request.tenant.tenantId, request.stream, (stream) => this.runTurn({ ...request, stream }));
  }

  private async runTurn(request: TurnRequest): Promise<Answered> {
    const { tenant, sessionId } = request;
    const { tenantId } = tenant;
    const { streamId, message } = received(
      { ...request, tenantId, replyTo: this.replies.subject, stream: Boolean(request.stream) },
      randomUUID,
    );
    const { turnId } = message.data;
    // the request's access line (and any error line) names the session and turn
    if (tenant.log) Object.assign(tenant.log, { ...(sessionId ? { sessionId } : {}), turnId });

    // a turn whose routing needs no session state is decided here and recorded with the message
    const routed = await this.routing.decide(tenant, sessionId !== null, message);
    const faq = routed?.decision.route === 'faq' && routed.match ? { decision: routed.decision, match: routed.match } : null;
    if (!sessionId && faq) {
      const answered = await this.log.answerFromKnowledgeBase(request, message, streamId, faq.decision, faq.match);
      if (answered) return answered; // else a retry: the usual path below finds the original's answer
    }
    // listen before publishing, so even an instant answer is caught
    const waiting = this.replies.expect(turnId, this.limits.timeoutMs, request.stream?.onDelta);
    // a client that goes away stops the generation (recorded as interrupted); nobody waits any more
    const { bus, prefix } = this.resources;
    const leave = () => {
      cancelTurn(bus.core, prefix, turnId, 'client-disconnected');
      waiting.cancel();
    };
    request.stream?.signal.addEventListener('abort', leave, { once: true });
    try {
      const events = routed ? receivedWithRouting(message, routed.decision, routed.match) : [message];
      const recorded = await this.log.record(request, streamId, events, faq);
      if (!Array.isArray(recorded)) return await this.outcomes.resume(request, streamId, turnId, message.eventId, waiting.reply);
      await this.sessions.published(recorded);
      // the user spoke again: under `interrupt`, a reply still being generated in the session stops where it is
      if (sessionId && tenant.settings.concurrentTurns === 'interrupt') cancelSessionTurns(bus.core, prefix, streamId, turnId);
      // answered from the knowledge base in the append itself (a session's FAQ turn under a fixed policy or a forced mode)
      if (faq)
        return { turnId, sessionId, reply: { text: faq.match.answer }, route: routeInfoOf(faq.decision), usage: null, answeredBy: 'faq' };
      const reply = (await waiting.reply) ?? (await this.outcomes.fromLog(streamId, recorded[0].version, turnId));
      return this.outcomes.answered(request, turnId, reply);
    } finally {
      request.stream?.signal.removeEventListener('abort', leave);
      waiting.cancel();
    }
  }
}
