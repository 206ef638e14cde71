import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  DEFAULT_TENANT,
  SessionIdParam,
  sessionStreamId,
  turnStreamId,
  type RecordedEvent,
  type RequestedMode,
  type RouteInfo,
  type TurnReplyMessage,
} from '@parley/contracts';
import { EventStore, StreamNotFoundError } from '@parley/event-store';
import { EventPublisher, TurnReplies } from '@parley/messaging';
import { ApiError } from '../http/api-error';
import { TURN_REPLIES, TURN_TIMEOUT_MS } from '../ingress.tokens';
import { sessionNotFound } from '../sessions/sessions.service';

export interface TurnResult {
  turnId: string;
  sessionId: string | null;
  reply: { text: string };
  route: RouteInfo;
}

/**
 * A turn from ingress's side: record the user's message, hand it to the bus, wait for the answer.
 * Ingress never routes or answers itself; it only records and waits.
 */
@Injectable()
export class TurnsService {
  constructor(
    private readonly store: EventStore,
    private readonly publisher: EventPublisher,
    @Inject(TURN_REPLIES) private readonly replies: TurnReplies,
    @Inject(TURN_TIMEOUT_MS) private readonly timeoutMs: number,
  ) {}

  async inSession(sessionId: string, text: string, mode: RequestedMode): Promise<TurnResult> {
    if (!SessionIdParam.safeParse(sessionId).success) throw sessionNotFound(sessionId);
    return this.run(sessionStreamId(sessionId), sessionId, text, mode);
  }

  async stateless(text: string): Promise<TurnResult> {
    const turnId = randomUUID();
    return this.run(turnStreamId(turnId), null, text, 'stateless', turnId);
  }

  private async run(streamId: string, sessionId: string | null, text: string, mode: RequestedMode, turnId = randomUUID()): Promise<TurnResult> {
    // listen before publishing, so even an instant answer is caught
    const waiting = this.replies.expect(turnId, this.timeoutMs);
    try {
      let recorded: RecordedEvent[];
      try {
        recorded = await this.store.append(
          streamId,
          DEFAULT_TENANT,
          [
            {
              eventId: randomUUID(),
              type: 'UserMessageReceived',
              data: { turnId, text, requestedMode: mode },
              metadata: { tenantId: DEFAULT_TENANT, correlationId: turnId, replyTo: this.replies.subject },
            },
          ],
          sessionId ? 'exists' : 'no_stream',
        );
      } catch (error) {
        if (error instanceof StreamNotFoundError && sessionId) throw sessionNotFound(sessionId);
        throw error;
      }
      await this.publisher.publish(recorded);
      const reply = (await waiting.reply) ?? (await this.outcomeFromLog(streamId, recorded[0].version, turnId));
      if (!reply) throw new ApiError('TURN.TIMEOUT', `Turn ${turnId} was not answered within ${this.timeoutMs} ms; it stays recorded`, { turnId });
      if (!reply.ok) throw new ApiError(reply.code, reply.message, { turnId, route: reply.route });
      return { turnId, sessionId, reply: { text: reply.text }, route: reply.route };
    } finally {
      waiting.cancel();
    }
  }

  /** The fast reply is core NATS and may be lost; the log is where the answer really lives. */
  private async outcomeFromLog(streamId: string, after: number, turnId: string): Promise<TurnReplyMessage | null> {
    const events = await this.store.readStream(streamId, { after });
    const routed = events.find((e) => e.type === 'TurnRouted' && e.data.turnId === turnId);
    const outcome = events.find((e) => (e.type === 'AssistantReplied' || e.type === 'TurnFailed') && e.data.turnId === turnId);
    if (!routed || routed.type !== 'TurnRouted' || !outcome) return null;
    const route = { mode: routed.data.mode, reason: routed.data.reason };
    if (outcome.type === 'AssistantReplied') return { ok: true, turnId, text: outcome.data.text, route };
    if (outcome.type === 'TurnFailed') return { ok: false, turnId, route, code: outcome.data.code, message: outcome.data.message };
    return null;
  }
}
