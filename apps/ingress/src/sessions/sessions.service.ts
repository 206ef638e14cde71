import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { SessionIdParam, sessionStreamId, type CreateSessionBody, type EventType, type RecordedEvent } from '@parley/contracts';
import type { OpenSession, Versioned } from '@parley/conversation';
import { EventPublisher } from '@parley/messaging';
import { EventStore, loadSessionState, SessionProjectionRepository, UserErasedError, type StreamInfo } from '@parley/event-store';
import { ApiError } from '../http/api-error';

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

  async create(tenantId: string, body: CreateSessionBody): Promise<{ sessionId: string }> {
    const sessionId = randomUUID();
    const userId = body.userId ?? null;
    const events = await this.store
      .append(
      sessionStreamId(sessionId),
      tenantId,
      [
        {
          eventId: randomUUID(),
          type: 'SessionStarted',
          data: { sessionId, userId, metadata: body.metadata ?? {} },
          metadata: { tenantId, correlationId: sessionId },
        },
      ],
      'no_stream',
      // the session's personal data is sealed with a key of its own, owned by its user
      { newKey: { userId } },
      )
      .catch((error: unknown) => {
        if (error instanceof UserErasedError) throw new ApiError('USER.ERASED', `User ${userId} was erased; no new data is kept for them`);
        throw error;
      });
    await this.publisher.publish(this.store.sealed(events));
    return { sessionId };
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

  async events(tenantId: string, sessionId: string, page: { after: number; limit: number; types?: readonly EventType[] }): Promise<RecordedEvent[]> {
    await this.streamOf(tenantId, sessionId);
    return this.store.readStream(sessionStreamId(sessionId), page);
  }
}
