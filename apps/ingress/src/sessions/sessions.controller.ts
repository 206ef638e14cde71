import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { CreateSessionBody, StreamPageQuery } from '@parley/contracts';
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

  @Get(':sessionId')
  async get(@Tenant() tenant: TenantContext, @Param('sessionId') sessionId: string) {
    const { state, version } = await this.sessions.state(tenant.tenantId, sessionId);
    return {
      sessionId: state.sessionId,
      userId: state.userId,
      metadata: state.metadata,
      startedAt: state.startedAt,
      expiredAt: state.expiredAt,
      version,
      summary: state.summary,
      messages: state.messages.map(({ role, text, turnId, at }) => ({ role, text, turnId, at })),
      turnCount: state.turnCount,
      turns: state.turns,
      usage: state.usage,
    };
  }

  /** The session's log, a page at a time. */
  @Get(':sessionId/events')
  async events(@Tenant() tenant: TenantContext, @Param('sessionId') sessionId: string, @Query(new ZodPipe(StreamPageQuery)) page: StreamPageQuery) {
    const events = await this.sessions.events(tenant.tenantId, sessionId, page);
    return { sessionId, events, nextAfter: events.length === page.limit ? events[events.length - 1].version : null };
  }

  /** The whole transcript, read from the log a page at a time (the state keeps only the recent part). */
  @Get(':sessionId/messages')
  async messages(@Tenant() tenant: TenantContext, @Param('sessionId') sessionId: string, @Query(new ZodPipe(StreamPageQuery)) page: StreamPageQuery) {
    const events = await this.sessions.events(tenant.tenantId, sessionId, { ...page, types: ['UserMessageReceived', 'AssistantReplied'] });
    return {
      sessionId,
      messages: events.map((e) => ({
        role: e.type === 'UserMessageReceived' ? 'user' : 'assistant',
        text: 'text' in e.data ? e.data.text : '',
        turnId: 'turnId' in e.data ? e.data.turnId : null,
        version: e.version,
        at: e.recordedAt,
      })),
      nextAfter: events.length === page.limit ? events[events.length - 1].version : null,
    };
  }
}
