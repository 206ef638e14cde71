import { Body, Controller, Headers, HttpCode, Param, Post } from '@nestjs/common';
import { IdempotencyKey, SessionTurnBody, StatelessTurnBody } from '@parley/contracts';
import { ApiError } from '../http/api-error';
import { ZodPipe } from '../http/zod.pipe';
import { TurnsService } from './turns.service';

/** Header values are validated like bodies; Nest's @Headers takes no pipes. */
function idempotencyKeyOf(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const parsed = IdempotencyKey.safeParse(raw);
  if (!parsed.success) throw new ApiError('REQUEST.INVALID', `Idempotency-Key header ${parsed.error.issues[0].message}`);
  return parsed.data;
}

@Controller('v1')
export class TurnsController {
  constructor(private readonly turns: TurnsService) {}

  @Post('sessions/:sessionId/turns')
  @HttpCode(200)
  inSession(
    @Param('sessionId') sessionId: string,
    @Body(new ZodPipe(SessionTurnBody)) body: SessionTurnBody,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    return this.turns.inSession(sessionId, body.text, body.mode, idempotencyKeyOf(idempotencyKey));
  }

  @Post('turns')
  @HttpCode(200)
  stateless(
    @Body(new ZodPipe(StatelessTurnBody)) body: StatelessTurnBody,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    return this.turns.stateless(body.text, idempotencyKeyOf(idempotencyKey));
  }
}
