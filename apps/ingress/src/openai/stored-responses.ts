import { Injectable } from '@nestjs/common';
import { sessionStreamId, type ClientMessage, type RecordedEvent } from '@parley/contracts';
import { derivedId, summaryMessage } from '@parley/conversation';
import { ConcurrencyError, EventStore, forkSession, sessionStateAt } from '@parley/event-store';
import type { TenantContext } from '../auth/auth.guard';
import { ApiError } from '../http/api-error';
import { SessionsService } from '../sessions/sessions.service';
import { parseResponseId } from './responses-shapes';

const previousNotFound = (id: string) =>
  new ApiError('RESPONSE.PREVIOUS_NOT_FOUND', `Previous response with id '${id}' not found.`, { param: 'previous_response_id' });

/** Where a previous response leaves its conversation: its session, and the version its context ends at. */
export interface PreviousResponse {
  id: string;
  sessionId: string;
  turnId: string;
  /** The last version of the session that belongs to the response's context. */
  endsAt: number;
  /** Later turns followed it: continuing from it branches off (a fork). */
  followed: boolean;
  /** The next turn carries this Idempotency-Key (a retry of the request that made it continues it). */
  nextKey: string | null;
}

/**
 * Stored responses as the log holds them: a response is a turn of a session, so it is read from
 * the session's stream, continued in its session, or — when the conversation went on after it —
 * in a fork of the session at it.
 */
@Injectable()
export class StoredResponses {
  constructor(
    private readonly sessions: SessionsService,
    private readonly store: EventStore,
  ) {}

  /** A stored response's turn, read from the log: this tenant's, not erased. */
  async turnOf(tenant: TenantContext, responseId: string) {
    const notFound = new ApiError('RESPONSE.NOT_FOUND', `Response with id '${responseId}' not found.`, { param: 'response_id' });
    const named = parseResponseId(responseId);
    if (!named) throw notFound;
    const info = await this.sessions.streamOf(tenant.tenantId, named.sessionId).catch(() => null);
    if (!info || info.erased) throw notFound;
    const events = await this.store.readStream(sessionStreamId(named.sessionId), {
      types: ['UserMessageReceived', 'AssistantReplied', 'TurnFailed', 'ResponseDeleted'],
    });
    const ofTurn = events.filter((e) => 'turnId' in e.data && e.data.turnId === named.turnId);
    const asked = ofTurn.find((e): e is RecordedEvent<'UserMessageReceived'> => e.type === 'UserMessageReceived');
    if (!asked || ofTurn.some((e) => e.type === 'ResponseDeleted')) throw notFound;
    const replied = ofTurn.find((e): e is RecordedEvent<'AssistantReplied'> => e.type === 'AssistantReplied');
    const failed = ofTurn.find((e): e is RecordedEvent<'TurnFailed'> => e.type === 'TurnFailed');
    return { named, asked, replied, failed };
  }

  /** The response `previous_response_id` names, if it is this tenant's, stored, and answered. */
  async previous(tenant: TenantContext, id: string, key: string | undefined): Promise<PreviousResponse> {
    const named = parseResponseId(id);
    if (!named) throw previousNotFound(id);
    const info = await this.sessions.streamOf(tenant.tenantId, named.sessionId).catch(() => null);
    if (!info || info.erased) throw previousNotFound(id);
    const place = await this.sessions.turnPlace(tenant.tenantId, named.sessionId, named.turnId);
    if (!place || place.answeredAt === null) throw previousNotFound(id);
    const next = place.nextAskedAt;
    // a retry of the request that continued it: its turn is next, with the same key
    const retried = next !== null && key !== undefined && place.nextKey === key;
    return {
      id,
      ...named,
      endsAt: next === null ? info.version : Math.max(place.answeredAt, next - 1),
      followed: next !== null && !retried,
      nextKey: place.nextKey,
    };
  }

  /** The session a response continues: its own, or — when the conversation went on after it — a fork at it. */
  async continueFrom(tenant: TenantContext, previous: PreviousResponse, key: string | undefined): Promise<string> {
    if (!previous.followed) return previous.sessionId;
    // a retry of the same branching request finds the fork it made
    const forkId = key ? derivedId(`${tenant.tenantId}\u0000${previous.id}\u0000${key}`, 'fork') : undefined;
    try {
      const fork = await forkSession(this.store, tenant.tenantId, previous.sessionId, { atVersion: previous.endsAt, newSessionId: forkId });
      await this.sessions.published(fork.events);
      return fork.sessionId;
    } catch (error) {
      if (forkId && error instanceof ConcurrencyError) return forkId;
      throw error;
    }
  }

  /** A new conversation: its own session (named by the Idempotency-Key, so a retry finds it). */
  async startSession(tenant: TenantContext, user: string | undefined, key: string | undefined): Promise<string> {
    const body = user ? { userId: user } : {};
    if (!key) return (await this.sessions.create(tenant.tenantId, body)).sessionId;
    const sessionId = derivedId(`${tenant.tenantId}\u0000responses\u0000${key}`, 'session');
    await this.sessions.ensure(tenant.tenantId, sessionId, body);
    return sessionId;
  }

  /** Ids of the tool calls a previous response made. */
  async callsOf(previous: PreviousResponse): Promise<Set<string>> {
    const events = await this.store.readStream(sessionStreamId(previous.sessionId), { types: ['AssistantReplied'] });
    const reply = events.find((e) => e.type === 'AssistantReplied' && e.data.turnId === previous.turnId);
    return new Set(reply?.type === 'AssistantReplied' ? (reply.data.toolCalls ?? []).map((c) => c.id) : []);
  }

  /** The conversation up to a previous response, as chat messages (for `store: false`). */
  async transcript(previous: PreviousResponse): Promise<ClientMessage[]> {
    const state = await sessionStateAt(this.store, previous.sessionId, previous.endsAt);
    return [
      ...(state.summary ? [summaryMessage(state.summary.text)] : []),
      ...state.messages.map((m) => ({ role: m.role, content: m.text })),
    ] as ClientMessage[];
  }
}
