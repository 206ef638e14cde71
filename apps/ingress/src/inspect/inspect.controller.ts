import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Controller, Get, Header, Param, Query, Res } from '@nestjs/common';
import { InspectSessionQuery, InspectSessionsQuery, SessionIdParam } from '@parley/contracts';
import type { FastifyReply } from 'fastify';
import { Public, Tenant, type TenantContext } from '../auth/auth.guard';
import { ApiExceptionFilter } from '../http/api-error';
import { SseResponse } from '../http/sse-response';
import { ZodPipe } from '../http/zod.pipe';
import { InspectService } from './inspect.service';

/** The page's files, read once (they ship beside the compiled code; see tools/build-assets.mjs). */
type PageFile = 'inspect.html' | 'inspect.js' | 'inspect.css';
const pageFile = (() => {
  const cache = new Map<string, Promise<string>>();
  return (file: PageFile) => {
    if (!cache.has(file)) cache.set(file, readFile(join(__dirname, 'page', file), 'utf8'));
    return cache.get(file)!;
  };
})();

/**
 * The inspector page (open: it holds no data, and asks for an API key) and the API it reads, behind
 * the key like every tenant route: the tenant's sessions, and one session replayed from the log
 * as `parley replay --json` shows it, at a point or followed live.
 */
@Controller()
export class InspectController {
  private readonly errors = new ApiExceptionFilter();

  constructor(private readonly inspect: InspectService) {}

  @Public()
  @Get('inspect')
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('content-security-policy', "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:")
  page() {
    return pageFile('inspect.html');
  }

  @Public()
  @Get('inspect/inspect.js')
  @Header('content-type', 'text/javascript; charset=utf-8')
  script() {
    return pageFile('inspect.js');
  }

  @Public()
  @Get('inspect/inspect.css')
  @Header('content-type', 'text/css; charset=utf-8')
  style() {
    return pageFile('inspect.css');
  }

  /** The tenant's sessions, most recently active first. */
  @Get('v1/inspect/sessions')
  async sessions(@Tenant() tenant: TenantContext, @Query(new ZodPipe(InspectSessionsQuery)) query: InspectSessionsQuery) {
    return { sessions: await this.inspect.sessions(tenant.tenantId, query) };
  }

  /** One session replayed from the log: its events, each turn's route, context, reply, tokens and timings, and its state. */
  @Get('v1/inspect/sessions/:sessionId')
  replay(
    @Tenant() tenant: TenantContext,
    @Param('sessionId', new ZodPipe(SessionIdParam)) sessionId: string,
    @Query(new ZodPipe(InspectSessionQuery)) query: InspectSessionQuery,
  ) {
    return this.inspect.replay(tenant.tenantId, sessionId, query.at);
  }

  /**
   * The same, followed live as Server-Sent Events: a `replay` event now and after each change of
   * the session's log, and a keep-alive comment while nothing changes.
   */
  @Get('v1/inspect/sessions/:sessionId/live')
  async live(
    @Tenant() tenant: TenantContext,
    @Param('sessionId', new ZodPipe(SessionIdParam)) sessionId: string,
    @Res() reply: FastifyReply,
  ) {
    const sse = new SseResponse(reply);
    try {
      await this.inspect.follow(
        tenant.tenantId,
        sessionId,
        (replay) => (replay === null ? sse.comment('nothing new') : sse.send(replay, 'replay')),
        sse.left.signal,
      );
    } catch (error) {
      if (!sse.isOpen) throw error; // nothing sent yet: the usual JSON error with its status
      sse.send(this.errors.toResponse(error).body, 'error');
    }
    if (sse.isOpen) sse.end();
  }
}
