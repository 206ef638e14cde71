import { Body, Controller, Headers, HttpCode, Param, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { IdempotencyKey, InterruptBody, SessionTurnBody, StatelessTurnBody, UserIdParam, UserTurnBody } from '@parley/contracts';
import { ApiError, ApiExceptionFilter } from '../http/api-error';
import { respond } from '../http/event-stream';
import { Tenant, type TenantContext } from '../auth/auth.guard';
import { ZodPipe } from '../http/zod.pipe';
import { TurnsService } from './turns.service';
import { BargeIn } from './barge-in.service';

/** Header values are validated like bodies; Nest's @Headers takes no pipes. */
function idempotencyKeyOf(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const parsed = IdempotencyKey.safeParse(raw);
  if (!parsed.success) throw new ApiError('REQUEST.INVALID', `Idempotency-Key header ${parsed.error.issues[0].message}`);
  return parsed.data;
}

/**
 * Turn requests answer JSON, or Server-Sent Events with `Accept: text/event-stream` (the reply's
 * pieces as the model generates them).
 */
@Controller('v1')
export class TurnsController {
  private readonly errors = new ApiExceptionFilter();

  constructor(
    private readonly turns: TurnsService,
    private readonly bargeIn: BargeIn,
  ) {}

  @Post('sessions/:sessionId/turns')
  inSession(
    @Tenant() tenant: TenantContext,
    @Param('sessionId') sessionId: string,
    @Body(new ZodPipe(SessionTurnBody)) body: SessionTurnBody,
    @Res() reply: FastifyReply,
    @Headers('idempotency-key') idempotencyKey?: string,
    @Headers('accept') accept?: string,
  ) {
    const key = idempotencyKeyOf(idempotencyKey);
    return respond(reply, accept, this.errors, (stream) =>
      this.turns.inSession(tenant, sessionId, body.text, body.mode, { idempotencyKey: key, stream }),
    );
  }

  /** Barge-in: the user spoke over the reply to this turn, having heard `spokenText`. */
  @Post('sessions/:sessionId/turns/:turnId/interrupt')
  @HttpCode(200)
  interrupt(
    @Tenant() tenant: TenantContext,
    @Param('sessionId') sessionId: string,
    @Param('turnId') turnId: string,
    @Body(new ZodPipe(InterruptBody)) body: InterruptBody,
  ) {
    return this.bargeIn.interrupt(tenant, sessionId, turnId, body.spokenText);
  }

  @Post('users/:userId/turns')
  forUser(
    @Tenant() tenant: TenantContext,
    @Param('userId') userId: string,
    @Body(new ZodPipe(UserTurnBody)) body: UserTurnBody,
    @Res() reply: FastifyReply,
    @Headers('idempotency-key') idempotencyKey?: string,
    @Headers('accept') accept?: string,
  ) {
    if (!UserIdParam.safeParse(userId).success) throw new ApiError('REQUEST.INVALID', 'userId must be 1 to 200 characters');
    const key = idempotencyKeyOf(idempotencyKey);
    return respond(reply, accept, this.errors, (stream) =>
      this.turns.forUser(tenant, userId, body.text, body.mode, { idempotencyKey: key, stream }),
    );
  }

  @Post('turns')
  stateless(
    @Tenant() tenant: TenantContext,
    @Body(new ZodPipe(StatelessTurnBody)) body: StatelessTurnBody,
    @Res() reply: FastifyReply,
    @Headers('idempotency-key') idempotencyKey?: string,
    @Headers('accept') accept?: string,
  ) {
    const key = idempotencyKeyOf(idempotencyKey);
    return respond(reply, accept, this.errors, (stream) => this.turns.stateless(tenant, body.text, { idempotencyKey: key, stream }));
  }
}
