import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { sessionStreamId, type InspectSessionsQuery } from '@parley/contracts';
import {
  listSessions,
  normalizeSessionId,
  ReplayPointError,
  replaySession,
  StreamNotFoundError,
  type SessionListing,
  type SessionReplay,
} from '@parley/event-store';
import { StreamSignals } from '@parley/messaging';
import { RESOURCES, type Connections } from '@parley/runtime';
import { ApiError } from '../http/api-error';
import { SYSTEM_PROMPT } from '../ingress.tokens';
import { sessionNotFound } from '../sessions/sessions.service';

/** Most inspector pages one ingress instance follows live at once (each holds a bus subscription). */
export const MAX_LIVE_INSPECTORS = 64;
/** A page following a session that has not changed gets a keep-alive comment this often. */
const KEEPALIVE_MS = 15_000;
/** After a change, wait this long for the rest of the turn's events before replaying (a turn writes several). */
const SETTLE_MS = 100;

/**
 * What the inspector page shows: the tenant's sessions, and one session replayed from the log with
 * `replaySession` — the code `parley replay` runs — as of now or of a point, or followed live.
 */
@Injectable()
export class InspectService implements OnModuleDestroy {
  private readonly signals: StreamSignals;
  private following = 0;

  constructor(
    @Inject(RESOURCES) private readonly resources: Connections,
    @Inject(SYSTEM_PROMPT) private readonly systemPrompt: string,
  ) {
    this.signals = new StreamSignals(resources.bus.core, resources.prefix);
  }

  sessions(tenantId: string, query: InspectSessionsQuery): Promise<SessionListing[]> {
    return listSessions(this.resources.database.db, {
      tenantId,
      userId: query.userId,
      since: query.since ? new Date(query.since) : undefined,
      limit: query.limit,
    });
  }

  async replay(tenantId: string, sessionId: string, at?: number | Date): Promise<SessionReplay> {
    try {
      return await replaySession(this.resources.store, { sessionId, tenantId, at, systemPrompt: this.systemPrompt });
    } catch (error) {
      if (error instanceof StreamNotFoundError) throw sessionNotFound(normalizeSessionId(sessionId));
      if (error instanceof ReplayPointError)
        throw new ApiError('SESSION.VERSION_OUT_OF_RANGE', error.message, { latestVersion: error.latestVersion });
      throw error;
    }
  }

  /**
   * Sends the session replayed now, then again each time its log grows (woken by its events on the
   * bus, and looking at the log every `KEEPALIVE_MS` anyway), until `signal` fires. The first
   * replay happens before anything is sent, so a session that is not there is a plain 404.
   */
  async follow(tenantId: string, sessionId: string, send: (replay: SessionReplay | null) => void, signal: AbortSignal): Promise<void> {
    if (this.following >= MAX_LIVE_INSPECTORS) {
      throw new ApiError('SERVICE.OVERLOADED', `This instance already follows ${MAX_LIVE_INSPECTORS} sessions live; retry later`, {
        retryAfterSeconds: 5,
      });
    }
    this.following++;
    const streamId = sessionStreamId(normalizeSessionId(sessionId));
    try {
      let watch = this.signals.watch(tenantId, streamId, KEEPALIVE_MS);
      let shown = await this.replay(tenantId, sessionId);
      send(shown);
      const left = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      while (!signal.aborted) {
        await Promise.race([watch.changed, left]);
        watch.cancel();
        if (signal.aborted) break;
        await Promise.race([new Promise((resolve) => setTimeout(resolve, SETTLE_MS)), left]);
        watch = this.signals.watch(tenantId, streamId, KEEPALIVE_MS); // before the look, so no change is missed
        const info = await this.resources.store.streamInfo(streamId);
        if (info && info.version !== shown.version) {
          shown = await this.replay(tenantId, sessionId);
          send(shown);
        } else send(null);
      }
      watch.cancel();
    } finally {
      this.following--;
    }
  }

  onModuleDestroy(): void {
    this.signals.close();
  }
}
