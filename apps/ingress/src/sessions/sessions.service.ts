import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import {
  SessionIdParam,
  sessionStreamId,
  type CreateSessionBody,
  type EventType,
  type NewEvent,
  type RecordedEvent,
} from '@parley/contracts';
import { expired, started, type OpenSession, type Versioned } from '@parley/conversation';
import { EventPublisher } from '@parley/messaging';
import {
  ConcurrencyError,
  DuplicateEventError,
  EventStore,
  forkSession,
  ForkVersionError,
  loadSessionState,
  SessionProjectionRepository,
  StreamErasedError,
  UserErasedError,
  type StreamInfo,
} from '@parley/event-store';
import { ApiError } from '../http/api-error';
import { sessionOfConversation } from '../openai/responses-shapes';

export const sessionNotFound = (sessionId: string) => new ApiError('SESSION.NOT_FOUND', `Session ${sessionId} not found`);
export const sessionErased = (sessionId: string) =>
  new ApiError('SESSION.ERASED', `Session ${sessionId} belonged to a user whose data was erased`);

@Injectable()
export class SessionsService {
  constructor(
    private readonly store: EventStore,
    private readonly projections: SessionProjectionRepository,
    private readonly publisher: EventPublisher,
  ) {}

  async create(tenantId: string, body: CreateSessionBody, sessionId: string = randomUUID()): Promise<{ sessionId: string }> {
    const userId = body.userId ?? null;
    const events = await this.store
      .append(
        sessionStreamId(sessionId),
        tenantId,
        [started({ sessionId, tenantId, userId, metadata: body.metadata ?? {} }, randomUUID)],
        'no_stream',
        // the session's personal data is sealed with a key of its own, owned by its user
        { newKey: { userId } },
      )
      .catch((error: unknown) => {
        if (error instanceof UserErasedError) throw new ApiError('USER.ERASED', `User ${userId} was erased; no new data is kept for them`);
        throw error;
      });
    await this.published(events);
    return { sessionId };
  }

  /**
   * The session with this id, started now unless it exists (for sessions named by a client's
   * conversation key, whose ids derive from it). Another tenant's stream is not found.
   */
  async ensure(tenantId: string, sessionId: string, body: CreateSessionBody = {}): Promise<void> {
    const info = await this.store.streamInfo(sessionStreamId(sessionId));
    if (info) {
      if (info.tenantId !== tenantId) throw sessionNotFound(sessionId);
      return;
    }
    try {
      await this.create(tenantId, body, sessionId);
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error; // started by a concurrent request: fine
    }
  }

  /** A new session continuing this one as it stood at `atVersion` (default: now); see `forkSession`. */
  async fork(
    tenantId: string,
    sessionId: string,
    atVersion?: number,
  ): Promise<{ sessionId: string; forkedFrom: { sessionId: string; version: number } }> {
    const info = await this.streamOf(tenantId, sessionId);
    if (info.erased) throw sessionErased(sessionId);
    try {
      const fork = await forkSession(this.store, tenantId, sessionId, { atVersion });
      await this.published(fork.events);
      return { sessionId: fork.sessionId, forkedFrom: { sessionId, version: fork.atVersion } };
    } catch (error) {
      if (error instanceof ForkVersionError)
        throw new ApiError('REQUEST.INVALID', error.message, { param: 'atVersion', latest: error.latest });
      if (error instanceof UserErasedError) throw sessionErased(sessionId);
      throw error;
    }
  }

  /**
   * Where a turn sits in the session's log: the version of its message, of its outcome (reply or
   * failure, once there is one), and of the next turn's message (if the session went on).
   */
  async turnPlace(
    tenantId: string,
    sessionId: string,
    turnId: string,
  ): Promise<{ askedAt: number; answeredAt: number | null; nextAskedAt: number | null; nextKey: string | null } | null> {
    const info = await this.streamOf(tenantId, sessionId);
    if (info.erased) return null;
    const events = await this.store.readStream(sessionStreamId(sessionId), {
      types: ['UserMessageReceived', 'AssistantReplied', 'TurnFailed', 'ResponseDeleted'],
    });
    const asked = events.find((e) => e.type === 'UserMessageReceived' && e.data.turnId === turnId);
    // a deleted response is not there to continue from
    if (!asked || events.some((e) => e.type === 'ResponseDeleted' && e.data.turnId === turnId)) return null;
    const answered = events.find((e) => (e.type === 'AssistantReplied' || e.type === 'TurnFailed') && e.data.turnId === turnId);
    const next = events.find((e) => e.type === 'UserMessageReceived' && e.version > asked.version);
    return {
      askedAt: asked.version,
      answeredAt: answered?.version ?? null,
      nextAskedAt: next?.version ?? null,
      nextKey: next?.metadata.idempotencyKey ?? null,
    };
  }

  /**
   * The one write path of a session's own events (not its turns): appends them and publishes them
   * at once (the relay would, a little later). An event id recorded before — a retry, or a second
   * request racing this one for the same derived id — is no error: null says it was there already.
   * An erased session is `410 SESSION.ERASED`.
   */
  async record(tenantId: string, sessionId: string, events: NewEvent[]): Promise<RecordedEvent[] | null> {
    try {
      const recorded = await this.store.append(sessionStreamId(sessionId), tenantId, events, 'exists');
      await this.published(recorded);
      return recorded;
    } catch (error) {
      if (error instanceof DuplicateEventError) return null;
      if (error instanceof StreamErasedError) throw sessionErased(sessionId);
      throw error;
    }
  }

  /** Records that a session went idle past its tenant's limit, and closes it (a concurrent expiry is fine). */
  async expire(tenantId: string, streamId: string, lastActivityAt: string, idleSeconds: number): Promise<void> {
    try {
      const recorded = await this.store.append(streamId, tenantId, [expired(streamId, tenantId, lastActivityAt, idleSeconds)], 'exists', {
        close: true,
      });
      await this.published(recorded);
    } catch (error) {
      if (!(error instanceof DuplicateEventError) && !(error instanceof StreamErasedError)) throw error;
    }
  }

  /** Publishes events this service's store just appended (the relay would, a little later). */
  async published(events: RecordedEvent[]): Promise<void> {
    await this.publisher.publish(this.store.sealed(events));
  }

  /** The session's stream, if it exists and belongs to the tenant: another tenant's session is not found, not forbidden. */
  async streamOf(tenantId: string, sessionId: string): Promise<StreamInfo> {
    if (!SessionIdParam.safeParse(sessionId).success) throw sessionNotFound(sessionId);
    const info = await this.store.streamInfo(sessionStreamId(sessionId));
    if (!info || info.tenantId !== tenantId) throw sessionNotFound(sessionId);
    return info;
  }

  /** The session as of the latest event in the log (never a lagging projection). */
  async state(tenantId: string, sessionId: string): Promise<Versioned<OpenSession>> {
    const info = await this.streamOf(tenantId, sessionId);
    if (info.erased) throw sessionErased(sessionId);
    const loaded = await loadSessionState(this.store, this.projections, sessionId);
    if (loaded.state.status !== 'open') throw sessionNotFound(sessionId);
    return { state: loaded.state, version: loaded.version };
  }

  /**
   * The session an OpenAI conversation id (`conv_<session>`) names, as of the latest event: every
   * session is a conversation. Another tenant's, an erased or a deleted one is not found.
   */
  async conversation(tenantId: string, conversationId: string, param = 'conversation_id'): Promise<Versioned<OpenSession>> {
    const notFound = new ApiError('CONVERSATION.NOT_FOUND', `Conversation with id '${conversationId}' not found.`, { param });
    const sessionId = sessionOfConversation(conversationId);
    if (!sessionId) throw notFound;
    const found = await this.state(tenantId, sessionId).catch((error: unknown) => {
      if (error instanceof ApiError && (error.code === 'SESSION.NOT_FOUND' || error.code === 'SESSION.ERASED')) return null;
      throw error;
    });
    if (!found || found.state.deletedAt) throw notFound;
    return found;
  }

  async events(
    tenantId: string,
    sessionId: string,
    page: { after: number; limit: number; types?: readonly EventType[] },
  ): Promise<RecordedEvent[]> {
    await this.streamOf(tenantId, sessionId);
    return this.store.readStream(sessionStreamId(sessionId), page);
  }
}
