import { Injectable } from '@nestjs/common';
import { routeInfoOf, type NewEvent, type RecordedEvent } from '@parley/contracts';
import { answerUsage, receivedWithRouting, type RouteDecision } from '@parley/conversation';
import {
  ConcurrencyError,
  DuplicateEventError,
  EventStore,
  StreamErasedError,
  StreamInactiveError,
  StreamNotFoundError,
} from '@parley/event-store';
import type { FaqMatch } from '@parley/knowledge';
import { ApiError } from '../http/api-error';
import { sessionErased, sessionNotFound, SessionsService } from '../sessions/sessions.service';
import type { Answered, TurnRequest } from './turn-result';

/** Where ingress writes a turn: its message, with its routing when ingress decided it, into the log. */
@Injectable()
export class TurnLog {
  constructor(
    private readonly store: EventStore,
    private readonly sessions: SessionsService,
  ) {}

  /**
   * Appends a turn's message (and its routing, if decided here): the recorded events, or 'retry'
   * when the log holds this request already (same Idempotency-Key) — the caller returns the
   * original's answer. A session that is not there, erased or gone idle is the client's error.
   */
  async record(
    request: TurnRequest,
    streamId: string,
    events: NewEvent[],
    faq: { decision: RouteDecision } | null,
  ): Promise<RecordedEvent[] | 'retry'> {
    const { tenant, sessionId, idempotencyKey } = request;
    const idleSeconds = tenant.settings.sessionIdleSeconds;
    try {
      return await this.store.append(streamId, tenant.tenantId, events, sessionId ? 'exists' : 'no_stream', {
        ...(sessionId ? { activeWithinSeconds: idleSeconds } : {}),
        // a knowledge base answer recorded with the message counts in the tenant's usage, in the same statement
        usage: faq ? answerUsage(faq.decision, null) : undefined,
      });
    } catch (error) {
      if (error instanceof StreamNotFoundError && sessionId) throw sessionNotFound(sessionId);
      if (error instanceof StreamInactiveError && sessionId) {
        // a retry of a turn accepted before the session went quiet still gets its answer
        if (idempotencyKey && (await this.store.readEvent(events[0].eventId))) return 'retry';
        if (error.why === 'idle') await this.sessions.expire(tenant.tenantId, streamId, error.lastActivityAt, idleSeconds);
        throw new ApiError(
          'SESSION.EXPIRED',
          `Session ${sessionId} expired after ${idleSeconds} s without a turn; send the turn to /v1/users/{userId}/turns or start a new session`,
        );
      }
      if (error instanceof StreamErasedError && sessionId) throw sessionErased(sessionId);
      const retried = error instanceof DuplicateEventError || (error instanceof ConcurrencyError && !sessionId);
      if (idempotencyKey && retried) return 'retry';
      throw error;
    }
  }

  /**
   * A sessionless turn the knowledge base answers: message, decision and answer in one append,
   * answered at once. Nothing is published (no service has anything left to do with them, and they
   * are not a session's); the relay puts them on the bus within its poll interval. Null for a
   * retry (the turn's stream exists already).
   */
  async answerFromKnowledgeBase(
    request: TurnRequest,
    message: NewEvent<'UserMessageReceived'>,
    streamId: string,
    decision: RouteDecision,
    match: FaqMatch,
  ): Promise<Answered | null> {
    try {
      await this.store.append(streamId, request.tenant.tenantId, receivedWithRouting(message, decision, match, true), 'no_stream', {
        usage: answerUsage(decision, null),
      });
    } catch (error) {
      if (error instanceof ConcurrencyError || error instanceof DuplicateEventError) return null;
      throw error;
    }
    const { turnId } = message.data;
    return { turnId, sessionId: null, reply: { text: match.answer }, route: routeInfoOf(decision), usage: null, answeredBy: 'faq' };
  }
}
