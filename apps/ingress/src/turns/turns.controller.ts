import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { SessionTurnBody, StatelessTurnBody } from '@parley/contracts';
import { ZodPipe } from '../http/zod.pipe';
import { TurnsService } from './turns.service';

@Controller('v1')
export class TurnsController {
  constructor(private readonly turns: TurnsService) {}

  @Post('sessions/:sessionId/turns')
  @HttpCode(200)
  inSession(@Param('sessionId') sessionId: string, @Body(new ZodPipe(SessionTurnBody)) body: SessionTurnBody) {
    return this.turns.inSession(sessionId, body.text, body.mode);
  }

  @Post('turns')
  @HttpCode(200)
  stateless(@Body(new ZodPipe(StatelessTurnBody)) body: StatelessTurnBody) {
    return this.turns.stateless(body.text);
  }
}
