import { Body, Controller, Headers, HttpCode, Param, Post } from '@nestjs/common';
import { IdempotencyKey, SessionTurnBody, StatelessTurnBody, UserIdParam, UserTurnBody } from '@parley/contracts';
import { ApiError } from '../http/api-error';
import { Tenant, type TenantContext } from '../auth/auth.guard';
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
    @Tenant() tenant: TenantContext,
    @Param('sessionId') sessionId: string,
    @Body(new ZodPipe(SessionTurnBody)) body: SessionTurnBody,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    return this.turns.inSession(tenant, sessionId, body.text, body.mode, idempotencyKeyOf(idempotencyKey));
  }

  @Post('users/:userId/turns')
  @HttpCode(200)
  forUser(
    @Tenant() tenant: TenantContext,
    @Param('userId') userId: string,
    @Body(new ZodPipe(UserTurnBody)) body: UserTurnBody,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    if (!UserIdParam.safeParse(userId).success) throw new ApiError('REQUEST.INVALID', 'userId must be 1 to 200 characters');
    return this.turns.forUser(tenant, userId, body.text, body.mode, idempotencyKeyOf(idempotencyKey));
  }

  @Post('turns')
  @HttpCode(200)
  stateless(
    @Tenant() tenant: TenantContext,
    @Body(new ZodPipe(StatelessTurnBody)) body: StatelessTurnBody,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    return this.turns.stateless(tenant, body.text, idempotencyKeyOf(idempotencyKey));
  }
}
