import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { CreateSessionBody, ForkSessionBody, StreamPageQuery } from '@parley/contracts';
import { Tenant, type TenantContext } from '../auth/auth.guard';
import { ZodPipe } from '../http/zod.pipe';
import { SessionsService } from './sessions.service';

@Controller('v1/sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  @Post()
  create(@Tenant() tenant: TenantContext, @Body(new ZodPipe(CreateSessionBody)) body: CreateSessionBody) {
    return this.sessions.create(tenant.tenantId, body);
  }

  /** A new session that continues this one from a point in its history, to try another path. */
  @Post(':sessionId/fork')
  fork(@Tenant() tenant: TenantContext, @Param('sessionId') sessionId: string, @Body(new ZodPipe(ForkSessionBody)) body: ForkSessionBody) {
    return this.sessions.fork(tenant.tenantId, sessionId, body.atVersion);
  }

  @Get(':sessionId')
  async get(@Tenant() tenant: TenantContext, @Param('sessionId') sessionId: string) {
    const { state, version } = await this.sessions.state(tenant.tenantId, sessionId);
    return {
      sessionId: state.sessionId,
      userId: state.userId,
      metadata: state.metadata,
      startedAt: state.startedAt,
      expiredAt: state.expiredAt,
      forkedFrom: state.forkedFrom,
      version,
      summary: state.summary,
      messages: state.messages.map(({ version: _version, ...message }) => message),
      turnCount: state.turnCount,
      turns: state.turns,
      usage: state.usage,
    };
  }

  /** The session's log, a page at a time. */
  @Get(':sessionId/events')
  async events(
    @Tenant() tenant: TenantContext,
    @Param('sessionId') sessionId: string,
    @Query(new ZodPipe(StreamPageQuery)) page: StreamPageQuery,
  ) {
    const events = await this.sessions.events(tenant.tenantId, sessionId, page);
    return { sessionId, events, nextAfter: events.length === page.limit ? events[events.length - 1].version : null };
  }

  /** The whole transcript, read from the log a page at a time (the state keeps only the recent part). */
  @Get(':sessionId/messages')
  async messages(
    @Tenant() tenant: TenantContext,
    @Param('sessionId') sessionId: string,
    @Query(new ZodPipe(StreamPageQuery)) page: StreamPageQuery,
  ) {
    const events = await this.sessions.events(tenant.tenantId, sessionId, {
      ...page,
      types: ['SessionForked', 'UserMessageReceived', 'AssistantReplied'],
    });
    return {
      sessionId,
      messages: events.flatMap((e) => {
        if (e.type === 'SessionForked') return e.data.messages.map((m) => ({ ...m, version: e.version })); // what the fork started with
        if (e.type !== 'UserMessageReceived' && e.type !== 'AssistantReplied') return [];
        return [
          {
            role: e.type === 'UserMessageReceived' ? 'user' : 'assistant',
            text: e.data.text,
            turnId: e.data.turnId,
            version: e.version,
            at: e.recordedAt,
          },
        ];
      }),
      nextAfter: events.length === page.limit ? events[events.length - 1].version : null,
    };
  }
}
