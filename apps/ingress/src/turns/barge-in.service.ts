import { Inject, Injectable } from '@nestjs/common';
import { SessionIdParam, sessionStreamId } from '@parley/contracts';
import { admitInterrupt, interrupted } from '@parley/conversation';
import { EventStore } from '@parley/event-store';
import { cancelTurn } from '@parley/messaging';
import { RESOURCES, type Connections } from '@parley/runtime';
import { ApiError } from '../http/api-error';
import type { TenantContext } from '../auth/auth.guard';
import { sessionErased, SessionsService } from '../sessions/sessions.service';

/** Barge-in: the user spoke over a reply (`POST …/turns/{turnId}/interrupt`, a voice platform's resent history, Retell). */
@Injectable()
export class BargeIn {
  constructor(
    private readonly store: EventStore,
    private readonly sessions: SessionsService,
    @Inject(RESOURCES) private readonly resources: Connections,
  ) {}

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
}
