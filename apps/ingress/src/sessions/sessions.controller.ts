import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { CreateSessionBody } from '@parley/contracts';
import { ZodPipe } from '../http/zod.pipe';
import { SessionsService } from './sessions.service';

@Controller('v1/sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  @Post()
  create(@Body(new ZodPipe(CreateSessionBody)) body: CreateSessionBody) {
    return this.sessions.create(body);
  }

  @Get(':sessionId')
  async get(@Param('sessionId') sessionId: string) {
    const { state, version } = await this.sessions.state(sessionId);
    return {
      sessionId: state.sessionId,
      userId: state.userId,
      metadata: state.metadata,
      startedAt: state.startedAt,
      expiredAt: state.expiredAt,
      version,
      messages: state.messages.map(({ role, text, turnId, at }) => ({ role, text, turnId, at })),
      turns: state.turns,
      usage: state.usage,
    };
  }

  @Get(':sessionId/events')
  async events(@Param('sessionId') sessionId: string) {
    return { sessionId, events: await this.sessions.events(sessionId) };
  }
}
