import type { IncomingMessage } from 'node:http';
import { Logger } from '@nestjs/common';
import { WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import { MAX_BODY_BYTES } from '@parley/contracts';
import { TenantDirectory } from '@parley/event-store';
import type WebSocket from 'ws';
import type { TenantContext } from '../auth/auth.guard';
import { RateLimiter } from '../auth/rate-limiter';
import { VoiceSessions } from '../openai/voice-sessions';
import { SessionsService } from '../sessions/sessions.service';
import { TurnsService } from '../turns/turns.service';
import { BargeIn } from '../turns/barge-in.service';
import { RetellCall } from './retell-call';

/** Where Retell connects: `/v1/retell/<API key>/<call_id>`, or `/v1/retell/<call_id>` with `Authorization: Bearer <API key>`. */
export const RETELL_PATH = '/v1/retell';

const CALL_ID = /^[A-Za-z0-9_.:-]{1,200}$/;
/** Frames kept while the key is being checked (a few milliseconds); a client that floods them is cut off. */
const MAX_EARLY_FRAMES = 64;
const log = new Logger('retell');

/**
 * Retell AI's custom-LLM WebSocket. Retell appends the call id to the URL it is given and sends no
 * headers of its own, so the tenant's API key may be a path segment before it (the URL is then a
 * secret, as Retell's dashboard keeps it); a client that can send headers uses `Authorization`.
 * A connection without a valid key or call id is closed with 1008 and a typed reason.
 */
@WebSocketGateway({ path: RETELL_PATH, maxPayload: MAX_BODY_BYTES })
export class RetellGateway implements OnGatewayConnection {
  constructor(
    private readonly tenants: TenantDirectory,
    private readonly voice: VoiceSessions,
    private readonly turns: TurnsService,
    private readonly bargeIn: BargeIn,
    private readonly sessions: SessionsService,
    private readonly limiter: RateLimiter,
  ) {}

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    // frames that come before the key is checked wait for it
    const early: string[] = [];
    let call: RetellCall | null = null;
    socket.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      if (call) call.receive(text);
      else if (early.length < MAX_EARLY_FRAMES) early.push(text);
      else socket.close(1008, 'REQUEST.INVALID: too many frames before the key was checked');
    });
    socket.on('close', () => call?.closed());
    void this.open(socket, request).then(
      (opened) => {
        if (!opened) return;
        call = opened;
        call.start();
        for (const frame of early.splice(0)) call.receive(frame);
      },
      (error: unknown) => {
        log.warn(`a call could not start (${error instanceof Error ? error.name : 'unknown'})`);
        socket.close(1011, 'SERVICE.UNAVAILABLE');
      },
    );
  }

  /** The call the URL names, for the tenant its key names; null (and the socket closed) when either is missing or wrong. */
  private async open(socket: WebSocket, request: IncomingMessage): Promise<RetellCall | null> {
    const pathname = new URL(request.url ?? '/', 'ws://localhost/').pathname;
    const segments = pathname.slice(RETELL_PATH.length).split('/').filter(Boolean).map(decodeURIComponent);
    const header = /^Bearer\s+(\S{1,512})\s*$/i.exec(request.headers.authorization ?? '')?.[1];
    const [key, callId] = segments.length === 2 ? segments : [header, segments[0]];
    if (segments.length < 1 || segments.length > 2 || !callId || !CALL_ID.test(callId)) {
      socket.close(1008, 'REQUEST.INVALID: connect to /v1/retell/<API key>/<call_id>');
      return null;
    }
    const caller = key ? await this.tenants.authenticate(key) : null;
    if (!caller) {
      socket.close(1008, key ? 'AUTH.INVALID_KEY' : 'AUTH.MISSING_KEY');
      return null;
    }
    const tenant: TenantContext = { ...caller, settings: await this.tenants.settings(caller.tenantId) };
    const admit = () => this.limiter.take(caller.keyId, tenant.settings.rateLimitPerMinute);
    return new RetellCall(socket, callId, tenant, {
      voice: this.voice,
      turns: this.turns,
      bargeIn: this.bargeIn,
      sessions: this.sessions,
      admit,
    });
  }
}
