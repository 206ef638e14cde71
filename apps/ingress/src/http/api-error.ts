import { ArgumentsHost, Catch, HttpException, Logger, type ExceptionFilter } from '@nestjs/common';
import type { ErrorBody } from '@parley/contracts';
import type { FastifyReply } from 'fastify';
import { ZodError } from 'zod';

/** An error ingress itself raises, with a stable code from the table below. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The one place where error codes become HTTP statuses. */
export const HTTP_STATUS: Record<string, number> = {
  'REQUEST.INVALID': 400,
  'AUTH.MISSING_KEY': 401,
  'AUTH.INVALID_KEY': 401,
  RATE_LIMITED: 429,
  'IDEMPOTENCY.KEY_REUSED': 409,
  'REQUEST.TOO_LARGE': 413,
  'REQUEST.UNSUPPORTED_MEDIA_TYPE': 415,
  'ROUTE.NOT_FOUND': 404,
  'SESSION.NOT_FOUND': 404,
  'MEMORY.NOT_FOUND': 404,
  'USER.NOT_FOUND': 404,
  'TURN.NOT_FOUND': 404,
  'TURN.NOT_INTERRUPTIBLE': 409,
  'EVENT_STORE.STREAM_NOT_FOUND': 404,
  'EVENT_STORE.CONCURRENCY': 409,
  'SESSION.EXPIRED': 409,
  'SESSION.ERASED': 410,
  'USER.ERASED': 410,
  'LLM.UPSTREAM': 502,
  'LLM.UNREACHABLE': 502,
  'LLM.BAD_RESPONSE': 502,
  'LLM.ABORTED': 502,
  'LLM.TIMEOUT': 504,
  'TURN.TIMEOUT': 504,
  NOT_READY: 503,
  'EVENT_STORE.UNAVAILABLE': 503,
  'MESSAGING.UNAVAILABLE': 503,
  INTERNAL: 500,
};

const BY_HTTP_STATUS: Record<number, string> = {
  400: 'REQUEST.INVALID',
  404: 'ROUTE.NOT_FOUND',
  405: 'ROUTE.NOT_FOUND',
  413: 'REQUEST.TOO_LARGE',
  415: 'REQUEST.UNSUPPORTED_MEDIA_TYPE',
};

/** Maps anything thrown in a request to `{ error: { code, message } }` with the table's status. */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly log = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { status, body } = this.toResponse(exception);
    if (status >= 500 && status !== 502 && status !== 504) this.log.error(exception instanceof Error ? exception.stack : String(exception));
    if (status === 401) void reply.header('www-authenticate', 'Bearer');
    const retryAfter = (body.error.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
    if (status === 429 && typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
    void reply.status(status).header('content-type', 'application/json; charset=utf-8').send(body);
  }

  toResponse(exception: unknown): { status: number; body: ErrorBody } {
    if (exception instanceof ZodError) {
      return this.body('REQUEST.INVALID', 'The request body is invalid', exception.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      return this.body(BY_HTTP_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'REQUEST.INVALID'), exception.message, undefined, status);
    }
    const coded = exception as { code?: unknown; statusCode?: unknown; message?: unknown; details?: unknown };
    if (typeof coded.code === 'string' && coded.code in HTTP_STATUS) {
      return this.body(coded.code, String(coded.message), coded.details);
    }
    // errors fastify raises before our handlers run (bad JSON, wrong media type, body too large)
    if (typeof coded.statusCode === 'number' && coded.statusCode >= 400 && coded.statusCode < 500) {
      return this.body(BY_HTTP_STATUS[coded.statusCode] ?? 'REQUEST.INVALID', String(coded.message), undefined, coded.statusCode);
    }
    return this.body('INTERNAL', 'Internal error');
  }

  private body(code: string, message: string, details?: unknown, status = HTTP_STATUS[code] ?? 500) {
    return { status, body: { error: { code, message, ...(details === undefined ? {} : { details }) } } };
  }
}
