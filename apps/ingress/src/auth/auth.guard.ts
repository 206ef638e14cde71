import { Injectable, SetMetadata, createParamDecorator, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ResolvedTenantSettings } from '@parley/contracts';
import { TenantDirectory, type Caller } from '@parley/event-store';
import type { LogContext } from '@parley/runtime';
import type { FastifyRequest } from 'fastify';
import { logContextOf } from '../http/access-log';
import { ApiError } from '../http/api-error';
import { RateLimiter } from './rate-limiter';

const PUBLIC = 'parley:public';
/** Marks a controller or route that needs no API key (health checks, the API document). */
export const Public = () => SetMetadata(PUBLIC, true);

/** The tenant a request speaks for, with its settings. */
export interface TenantContext extends Caller {
  settings: ResolvedTenantSettings;
  /** The request's log context: what handles the request adds the session and turn to it. */
  log?: LogContext;
}

type AuthenticatedRequest = FastifyRequest & { tenant?: TenantContext };

/** Route parameter: the authenticated caller's tenant. */
export const Tenant = createParamDecorator((_: unknown, context: ExecutionContext): TenantContext => {
  const tenant = context.switchToHttp().getRequest<AuthenticatedRequest>().tenant;
  if (!tenant) throw new Error('Tenant() used on a public route');
  return tenant;
});

/**
 * Every route needs `Authorization: Bearer <API key>` unless marked `@Public()`. The key names the
 * tenant, whose data alone the request may see; each key is rate limited by its tenant's
 * `rateLimitPerMinute`.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tenants: TenantDirectory,
    /** One budget per key, shared with Retell's WebSocket (each response it asks for counts). */
    private readonly limiter: RateLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = request.headers.authorization;
    if (!header) throw new ApiError('AUTH.MISSING_KEY', 'Send your API key as "Authorization: Bearer <key>"');
    const match = /^Bearer\s+(\S{1,512})\s*$/i.exec(header);
    if (!match) throw new ApiError('AUTH.INVALID_KEY', 'The Authorization header must be "Bearer <key>"');
    const caller = await this.tenants.authenticate(match[1]);
    if (!caller) throw new ApiError('AUTH.INVALID_KEY', 'Unknown or revoked API key');
    const settings = await this.tenants.settings(caller.tenantId);
    const wait = this.limiter.take(caller.keyId, settings.rateLimitPerMinute);
    if (wait > 0)
      throw new ApiError('RATE_LIMITED', `Rate limit of ${settings.rateLimitPerMinute} requests per minute reached; retry in ${wait} s`, {
        retryAfterSeconds: wait,
      });
    const log = logContextOf(request);
    log.tenantId = caller.tenantId; // the request's lines name its tenant from here
    request.tenant = { ...caller, settings, log };
    return true;
  }
}
