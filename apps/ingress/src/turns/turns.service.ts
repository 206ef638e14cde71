import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  routeInfoOf,
  turnReplyOf,
  SessionIdParam,
  sessionIdOf,
  sessionStreamId,
  streamEventsSubject,
  turnStreamId,
  type AnswerRoute,
  type EventMetadata,
  type GenerationOptions,
  type NewEvent,
  type RecordedEvent,
  type RequestedMode,
  type RouteInfo,
  type ClientMessage,
  type InterruptReason,
  type ToolCallData,
  type ToolSpecData,
  type StoredEvent,
  type TokenUsage,
  type TurnDeltaMessage,
  type TurnReplyMessage,
} from '@parley/contracts';
import { admitInterrupt, answerUsage, derivedId, expired, interrupted, routingEvents, type RouteDecision } from '@parley/conversation';
import {
  ConcurrencyError,
  DuplicateEventError,
  EventStore,
  StreamErasedError,
  StreamInactiveError,
  StreamNotFoundError,
} from '@parley/event-store';
import { cancelSessionTurns, cancelTurn, EventPublisher, TurnReplies, watchStream } from '@parley/messaging';
import type { FaqMatch } from '@parley/knowledge';
import { RESOURCES, type Connections } from '@parley/runtime';
import { ApiError } from '../http/api-error';
import type { TenantContext } from '../auth/auth.guard';
import { TURN_LIMITS, TURN_REPLIES, type TurnLimits } from '../ingress.tokens';
import { sessionErased, sessionNotFound, SessionsService } from '../sessions/sessions.service';
import { IngressRouting } from './ingress-routing';

export interface TurnResult {
  turnId: string;
  sessionId: string | null;
  /** `interrupted` is set when the reply was cut short and `text` is the part generated. */
  reply: { text: string; interrupted?: InterruptReason };
  route: RouteInfo;
  /** Tokens of the turn's LLM calls (null for knowledge base answers or when the model reported none). */
  usage: TokenUsage | null;
  /** Calls to the client's own tools the model asked for (OpenAI-compatible clients). */
  toolCalls?: ToolCallData[];
}

/** A result and who produced it (for metrics: clients see the route, not this). */
type Answered = TurnResult & { answeredBy: AnswerRoute };

/** A client that streams: gets the reply's pieces as they come, and may go away. */
export interface TurnStream {
  onDelta(delta: TurnDeltaMessage): void;
  /** Aborts when the client disconnects: the generation is stopped and recorded as interrupted. */
  signal: AbortSignal;
}

/** How a turn is asked for, besides its text. */
export interface TurnOptions {
  idempotencyKey?: string;
  stream?: TurnStream;
  /** The client's system prompt, in place of the deployment's. */
  instructions?: string;
  /** The conversation the client sent before this message: the context without a session, else messages the session lacks. */
  context?: ClientMessage[];
  /** The client's functions the model may call. */
  tools?: ToolSpecData[];
  /** What the client asked of the model (OpenAI's sampling and output parameters), recorded with the message. */
  generation?: GenerationOptions;
}

/** A turn addressed by user: which session it went to. */
export interface UserTurnResult extends TurnResult {
  sessionId: string;
  /** True when it continued the user's live session, false when it started a new one. */
  sessionResumed: boolean;
}

interface TurnRequest extends TurnOptions {
  tenant: TenantContext;
  sessionId: string | null;
  text: string;
  mode: RequestedMode;
}

/** Matches the outcome of a turn, on open events or on the bus's stored form (turnId is never sealed). */
const isOutcomeOf = (turnId: string) => (e: RecordedEvent | StoredEvent) =>
  (e.type === 'AssistantReplied' || e.type === 'TurnFailed') && (e.data as { turnId?: string }).turnId === turnId;

/** A knowledge base answer recorded with the message counts in the tenant's usage, in the same statement. */
const faqUsage = (routed: { decision: RouteDecision; match: FaqMatch | null } | null) =>
  routed?.decision.route === 'faq' && routed.match ? answerUsage(routed.decision, null) : undefined;

/** The user's message marked as routed, followed by the events that record its routing (with `metadata`). */
function withRouting(
  message: NewEvent<'UserMessageReceived'>,
  metadata: EventMetadata,
  decision: RouteDecision,
  match: FaqMatch | null,
): NewEvent[] {
  return [
    { ...message, metadata: { ...metadata, routed: true } },
    ...routingEvents({ eventId: message.eventId, turnId: message.data.turnId, metadata }, decision, match),
  ];
}

/**
 * A turn from ingress's side: record the user's message, hand it to the bus, wait for the answer.
 * A turn whose routing needs no session state — any turn without a session, most in a session —
 * is routed by ingress itself (the router's pure policy, the same trained matcher) and the
 * decision recorded with the message: a turn for the LLM goes straight to the responder, a
 * knowledge base answer is recorded with it and returned with no wait. The rest go to the router,
 * which reads the session. With an Idempotency-Key the
 * turn's ids derive from the key, so a retry meets the original in the log instead of starting a
 * second turn, and waits for (or returns) the original's answer.
 */
@Injectable()
export class TurnsService {
  constructor(
    private readonly store: EventStore,
    private readonly publisher: EventPublisher,
    @Inject(TURN_REPLIES) private readonly replies: TurnReplies,
    @Inject(TURN_LIMITS) private readonly limits: TurnLimits,
    @Inject(RESOURCES) private readonly resources: Connections,
    private readonly sessions: SessionsService,
    private readonly routing: IngressRouting,
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
    const latest = await this.store.latestSessionOf(tenant.tenantId, userId);
    if (latest && !latest.closed && Date.now() - Date.parse(latest.updatedAt) < tenant.settings.sessionIdleSeconds * 1000) {
      try {
        const result = await this.inSession(tenant, sessionIdOf(latest.streamId), text, mode, options);
        return { ...result, sessionId: result.sessionId!, sessionResumed: true };
      } catch (error) {
        if (!(error instanceof ApiError) || error.code !== 'SESSION.EXPIRED') throw error; // expired meanwhile: start anew
      }
    } else if (latest && !latest.closed) {
      await this.expire(tenant, latest.streamId, latest.updatedAt);
    }
    const { sessionId } = await this.sessions.create(tenant.tenantId, { userId });
    const result = await this.inSession(tenant, sessionId, text, mode, options);
    return { ...result, sessionId, sessionResumed: false };
  }

  /** Records that a session expired and closes it (a concurrent expiry is fine). */
  private async expire({ tenantId, settings }: TenantContext, streamId: string, lastActivityAt: string): Promise<void> {
    try {
      const recorded = await this.store.append(
        streamId,
        tenantId,
        [expired(streamId, tenantId, lastActivityAt, settings.sessionIdleSeconds)],
        'exists',
        {
          close: true,
        },
      );
      await this.publisher.publish(this.store.sealed(recorded));
    } catch (error) {
      if (!(error instanceof DuplicateEventError) && !(error instanceof StreamErasedError)) throw error;
    }
  }

  async stateless(tenant: TenantContext, text: string, options: TurnOptions = {}): Promise<TurnResult> {
    return this.run({ tenant, sessionId: null, text, mode: 'stateless', ...options });
  }

  /** Turn requests this instance holds open (waiting for their answer). */
  private open = 0;

  /**
   * Every turn goes through here. Past `PARLEY_MAX_OPEN_TURNS` held open, a turn is refused at
   * once — 503 with Retry-After, nothing recorded — rather than queued to time out: an overloaded
   * cluster says so, and memory stays bounded.
   */
  private async run(request: TurnRequest): Promise<TurnResult> {
    const { metrics } = this.resources;
    const tenant = request.tenant.tenantId;
    if (this.open >= this.limits.maxOpen) {
      metrics.turns.inc({ tenant, mode: 'none', route: 'none', reason: 'none', outcome: 'SERVICE.OVERLOADED' });
      throw new ApiError('SERVICE.OVERLOADED', `This instance holds ${this.limits.maxOpen} turns open already; retry shortly`, {
        retryAfterSeconds: 1,
      });
    }
    metrics.openTurns.set(++this.open);
    const startedAt = performance.now();
    const seconds = () => (performance.now() - startedAt) / 1000;
    // time to first token: the first piece streamed (a knowledge base answer comes whole: its end)
    let firstPiece = false;
    const stream = request.stream && {
      ...request.stream,
      onDelta: (delta: TurnDeltaMessage) => {
        if (!firstPiece) {
          firstPiece = true;
          metrics.firstTokenSeconds.observe({ mode: delta.route?.mode ?? 'unknown' }, seconds());
        }
        request.stream!.onDelta(delta);
      },
    };
    try {
      const { answeredBy, ...result } = await this.runTurn({ ...request, ...(stream ? { stream } : {}) });
      const { mode, reason } = result.route;
      if (stream && !firstPiece) metrics.firstTokenSeconds.observe({ mode }, seconds());
      metrics.turns.inc({ tenant, mode, route: answeredBy, reason, outcome: result.reply.interrupted ? 'interrupted' : 'answered' });
      metrics.turnSeconds.observe({ mode, route: answeredBy }, seconds());
      return result;
    } catch (error) {
      const route = error instanceof ApiError ? (error.details as { route?: RouteInfo } | undefined)?.route : undefined;
      const outcome = error instanceof ApiError ? error.code : 'INTERNAL';
      metrics.turns.inc({ tenant, mode: route?.mode ?? 'none', route: route ? 'llm' : 'none', reason: route?.reason ?? 'none', outcome });
      throw error;
    } finally {
      metrics.openTurns.set(--this.open);
    }
  }

  private async runTurn(request: TurnRequest): Promise<Answered> {
    const { tenantId } = request.tenant;
    const idleSeconds = request.tenant.settings.sessionIdleSeconds;
    const scope = `${tenantId}\u0000${request.sessionId ?? 'stateless'}\u0000${request.idempotencyKey}`;
    const turnId = request.idempotencyKey ? derivedId(scope, 'turn') : randomUUID();
    const eventId = request.idempotencyKey ? derivedId(scope, 'UserMessageReceived') : randomUUID();
    const streamId = request.sessionId ? sessionStreamId(request.sessionId) : turnStreamId(turnId);
    // the request's access line (and any error line) names the session and turn
    if (request.tenant.log) Object.assign(request.tenant.log, { ...(request.sessionId ? { sessionId: request.sessionId } : {}), turnId });
    const message: NewEvent<'UserMessageReceived'> = {
      eventId,
      type: 'UserMessageReceived',
      data: {
        turnId,
        text: request.text,
        requestedMode: request.mode,
        ...(request.instructions !== undefined ? { instructions: request.instructions } : {}),
        ...(request.context && (!request.sessionId || request.context.length) ? { context: request.context } : {}),
        ...(request.tools?.length ? { tools: request.tools } : {}),
        ...(request.generation ? { generation: request.generation } : {}),
      },
      metadata: {
        tenantId,
        correlationId: turnId,
        replyTo: this.replies.subject,
        ...(request.idempotencyKey ? { idempotencyKey: request.idempotencyKey } : {}),
        ...(request.stream ? { stream: true } : {}),
      },
    };

    // a turn whose routing needs no session state is decided here and recorded with the message
    const routed = this.routing.decide(request.tenant, request.sessionId !== null, message);
    if (!request.sessionId && routed?.decision.route === 'faq' && routed.match) {
      const answered = await this.answerFromKnowledgeBase(request, message, streamId, turnId, routed.decision, routed.match);
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
      let recorded: RecordedEvent[];
      try {
        recorded = await this.store.append(
          streamId,
          tenantId,
          routed ? withRouting(message, message.metadata, routed.decision, routed.match) : [message],
          request.sessionId ? 'exists' : 'no_stream',
          { ...(request.sessionId ? { activeWithinSeconds: idleSeconds } : {}), usage: faqUsage(routed) },
        );
      } catch (error) {
        if (error instanceof StreamNotFoundError && request.sessionId) throw sessionNotFound(request.sessionId);
        if (error instanceof StreamInactiveError && request.sessionId) {
          // a retry of a turn accepted before the session went quiet still gets its answer
          if (request.idempotencyKey && (await this.store.readEvent(eventId)))
            return await this.resume(request, streamId, turnId, eventId, waiting.reply);
          if (error.why === 'idle') await this.expire(request.tenant, streamId, error.lastActivityAt);
          throw new ApiError(
            'SESSION.EXPIRED',
            `Session ${request.sessionId} expired after ${idleSeconds} s without a turn; send the turn to /v1/users/{userId}/turns or start a new session`,
          );
        }
        if (error instanceof StreamErasedError && request.sessionId) throw sessionErased(request.sessionId);
        const retried = error instanceof DuplicateEventError || (error instanceof ConcurrencyError && !request.sessionId);
        if (request.idempotencyKey && retried) return await this.resume(request, streamId, turnId, eventId, waiting.reply);
        throw error;
      }
      await this.publisher.publish(this.store.sealed(recorded));
      // the user spoke again: under `interrupt`, a reply still being generated in the session stops where it is
      if (request.sessionId && request.tenant.settings.concurrentTurns === 'interrupt')
        cancelSessionTurns(bus.core, prefix, streamId, turnId);
      // answered from the knowledge base in the append itself (a session's FAQ turn under a fixed policy or a forced mode)
      if (routed?.decision.route === 'faq' && routed.match)
        return {
          turnId,
          sessionId: request.sessionId,
          reply: { text: routed.match.answer },
          route: routeInfoOf(routed.decision),
          usage: null,
          answeredBy: 'faq',
        };
      const reply = (await waiting.reply) ?? (await this.outcomeFromLog(streamId, recorded[0].version, turnId));
      return this.result(request, turnId, reply);
    } finally {
      request.stream?.signal.removeEventListener('abort', leave);
      waiting.cancel();
    }
  }

  /**
   * The user barged in on a turn's reply, having heard `spokenText`: a reply still being generated
   * stops, and `ReplyInterrupted` makes later turns see what was heard instead of the whole reply.
   * Recorded once per turn; a repeat returns what was recorded first.
   */
  async interrupt(tenant: TenantContext, sessionId: string, turnId: string, spokenText: string) {
    const info = await this.sessions.streamOf(tenant.tenantId, sessionId);
    if (info.erased) throw sessionErased(sessionId);
    const notFound = new ApiError('TURN.NOT_FOUND', `Turn ${turnId} is not one of the recent turns of session ${sessionId}`);
    if (!SessionIdParam.safeParse(turnId).success) throw notFound;
    const { state } = await this.sessions.state(tenant.tenantId, sessionId);
    const admission = admitInterrupt(state, turnId);
    if (admission.kind === 'unknown') throw notFound;
    if (admission.kind === 'failed') throw new ApiError('TURN.NOT_INTERRUPTIBLE', `Turn ${turnId} failed: it has no reply to interrupt`);
    const { bus, prefix } = this.resources;
    if (admission.stop) cancelTurn(bus.core, prefix, turnId, 'barge-in');
    const event = interrupted(sessionStreamId(sessionId), tenant.tenantId, turnId, spokenText);
    await this.sessions.record(tenant.tenantId, sessionId, [event]);
    const stored = await this.store.readEvent(event.eventId);
    return { sessionId, turnId, spokenText: stored?.type === 'ReplyInterrupted' ? stored.data.spokenText : spokenText, interrupted: true };
  }

  /**
   * A sessionless turn the knowledge base answers: message, decision and answer in one append,
   * answered at once. Nothing is published (no service has anything left to do with them, and they
   * are not a session's); the relay puts them on the bus within its poll interval. Null for a
   * retry (the turn's stream exists already).
   */
  private async answerFromKnowledgeBase(
    request: TurnRequest,
    message: NewEvent<'UserMessageReceived'>,
    streamId: string,
    turnId: string,
    decision: RouteDecision,
    match: FaqMatch,
  ): Promise<Answered | null> {
    const { replyTo: _nobodyWaits, stream: _answeredWhole, ...metadata } = message.metadata;
    try {
      await this.store.append(streamId, request.tenant.tenantId, withRouting(message, metadata, decision, match), 'no_stream', {
        usage: answerUsage(decision, null),
      });
    } catch (error) {
      if (error instanceof ConcurrencyError || error instanceof DuplicateEventError) return null;
      throw error;
    }
    return { turnId, sessionId: null, reply: { text: match.answer }, route: routeInfoOf(decision), usage: null, answeredBy: 'faq' };
  }

  /** A retry: the original turn is in the log; return its answer, waiting for it if need be. */
  private async resume(
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
      const known = await this.outcomeFromLog(streamId, original.version, turnId);
      if (known) return this.result(request, turnId, known);
      // the original is still being answered: its reply reaches whichever ingress waits on it
      const reply = await Promise.race([
        fastReply,
        watch.event.then((seen) => (seen ? this.outcomeFromLog(streamId, original.version, turnId) : null)),
      ]);
      return this.result(request, turnId, reply ?? (await this.outcomeFromLog(streamId, original.version, turnId)));
    } finally {
      watch.stop();
    }
  }

  private result(request: TurnRequest, turnId: string, reply: TurnReplyMessage | null): Answered {
    if (!reply)
      throw new ApiError('TURN.TIMEOUT', `Turn ${turnId} was not answered within ${this.limits.timeoutMs} ms; it stays recorded`, {
        turnId,
      });
    if (!reply.ok) throw new ApiError(reply.code, reply.message, { turnId, route: reply.route });
    return {
      turnId,
      sessionId: request.sessionId,
      reply: { text: reply.text, ...(reply.interrupted ? { interrupted: reply.interrupted } : {}) },
      route: reply.route,
      usage: reply.usage ?? null,
      ...(reply.toolCalls?.length ? { toolCalls: reply.toolCalls } : {}),
      answeredBy: reply.answeredBy ?? 'llm',
    };
  }

  /** The fast reply is core NATS and may be lost; the log is where the answer really lives. */
  async outcomeFromLog(streamId: string, after: number, turnId: string): Promise<TurnReplyMessage | null> {
    const events = await this.store.readStream(streamId, { after });
    const routed = events.find((e): e is RecordedEvent<'TurnRouted'> => e.type === 'TurnRouted' && e.data.turnId === turnId);
    const outcome = events.find(isOutcomeOf(turnId)) as RecordedEvent<'AssistantReplied' | 'TurnFailed'> | undefined;
    return outcome ? turnReplyOf(routed?.data ?? null, outcome) : null;
  }
}
