import { Injectable } from '@nestjs/common';
import { derivedId, type OpenSession } from '@parley/conversation';
import { CallerUsers, normalizedNumber } from '@parley/event-store';
import { z } from 'zod';
import type { TenantContext } from '../auth/auth.guard';
import { ApiError } from '../http/api-error';
import { SessionsService } from '../sessions/sessions.service';
import { BargeIn } from '../turns/barge-in.service';

const Uuid = z.string().uuid();

/**
 * What voice platforms share, whichever way they call (Vapi's chat completions, Retell's
 * WebSocket): a call's conversation key names its session, a caller's number may name a user, and
 * the platform's copy of the last reply tells what the caller heard before barging in.
 */
@Injectable()
export class VoiceSessions {
  constructor(
    private readonly sessions: SessionsService,
    private readonly bargeIn: BargeIn,
    private readonly callers: CallerUsers,
  ) {}

  /**
   * The user a voice caller is, for a tenant that made callers users (`callerUsers`): the number
   * the platform sends maps to a Parley user id, so the call's session — and the next call's —
   * sees what is remembered about them. Undefined otherwise.
   */
  async callerUser(tenant: TenantContext, number: string | undefined, param: string): Promise<string | undefined> {
    if (!tenant.settings.callerUsers || !number) return undefined;
    const normalized = normalizedNumber(number);
    if (!normalized) throw new ApiError('REQUEST.INVALID', `${param} is not a phone number`, { param });
    return this.callers.userFor(tenant.tenantId, normalized);
  }

  /**
   * A Parley session id names itself; any other key names the session derived from it, started on
   * first use (for `userId`, when the caller is a user).
   */
  async sessionFor(tenantId: string, key: string, userId?: string): Promise<string> {
    if (key.length > 200)
      throw new ApiError('REQUEST.INVALID', 'The conversation key is longer than 200 characters', { param: 'X-Parley-Session' });
    if (Uuid.safeParse(key).success) {
      const existing = await this.sessions.streamOf(tenantId, key).catch(() => null);
      if (existing) return key;
    }
    const sessionId = derivedId(`${tenantId}\u0000conversation\u0000${key}`, 'session');
    await this.sessions.ensure(tenantId, sessionId, userId ? { userId } : {});
    return sessionId;
  }

  /**
   * A platform that resends the history sends the last reply as the user heard it. Shorter than
   * what was generated, and its beginning: the user barged in, and that is recorded (once) so the
   * conversation holds what they heard.
   */
  async noteWhatWasHeard(tenant: TenantContext, state: OpenSession, heard: string): Promise<void> {
    const last = [...state.messages].reverse().find((m) => m.role === 'assistant');
    if (!last) return;
    const said = last.text.trim();
    const kept = heard.trim();
    if (kept.length >= said.length || !said.startsWith(kept)) return;
    const turn = state.turns.find((t) => t.turnId === last.turnId);
    if (!turn || turn.heard !== null) return;
    await this.bargeIn.interrupt(tenant, state.sessionId, last.turnId, heard);
  }
}
