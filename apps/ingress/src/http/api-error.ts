import { ArgumentsHost, Catch, HttpException, Logger, type ExceptionFilter } from '@nestjs/common';
import type { ErrorBody, LogContext } from '@parley/contracts';
import { describeError, unavailableDependency } from '@parley/messaging';
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
  'REQUEST.HEADERS_TOO_LARGE': 431,
  'EVENT_STORE.EVENT_TOO_LARGE': 413,
  'REQUEST.UNSUPPORTED_MEDIA_TYPE': 415,
  'ROUTE.NOT_FOUND': 404,
  'SESSION.NOT_FOUND': 404,
  'SESSION.VERSION_OUT_OF_RANGE': 400,
  'MEMORY.NOT_FOUND': 404,
  'USER.NOT_FOUND': 404,
  'TURN.NOT_FOUND': 404,
  'TURN.NOT_INTERRUPTIBLE': 409,
  'RESPONSE.NOT_FOUND': 404,
  'CONVERSATION.NOT_FOUND': 404,
  'CONVERSATION.ITEM_NOT_FOUND': 404,
  'MODEL.NOT_FOUND': 404,
  'RESPONSE.PREVIOUS_NOT_FOUND': 400,
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
  'TURN.UNANSWERED': 500,
  'SERVICE.OVERLOADED': 503,
  NOT_READY: 503,
  'EVENT_STORE.UNAVAILABLE': 503,
  'EVENT_STORE.REFUSED': 503,
  'MESSAGING.UNAVAILABLE': 503,
  'SERVICE.UNAVAILABLE': 503,
  INTERNAL: 500,
};

const BY_HTTP_STATUS: Record<number, string> = {
  400: 'REQUEST.INVALID',
  404: 'ROUTE.NOT_FOUND',
  405: 'ROUTE.NOT_FOUND',
  413: 'REQUEST.TOO_LARGE',
  415: 'REQUEST.UNSUPPORTED_MEDIA_TYPE',
};

/** Routes that speak the OpenAI API, and so answer errors in its shape. */
export const isOpenAiPath = (url: string) => /^\/v1\/(chat\/completions|responses|conversations|models)(\/|\?|$)/.test(url);

/** OpenAI's error shape for one of our errors: `{error: {message, type, param, code}}`. */
export function openAiErrorBody(
  status: number,
  body: ErrorBody,
): { error: { message: string; type: string; param: string | null; code: string | null } } {
  const { code, message, details } = body.error;
  const param =
    (details as { param?: string } | undefined)?.param ??
    (Array.isArray(details) && typeof details[0]?.path === 'string' ? details[0].path : null);
  const known: Record<string, [string, string | null]> = {
    'AUTH.MISSING_KEY': ['invalid_request_error', 'invalid_api_key'],
    'AUTH.INVALID_KEY': ['invalid_request_error', 'invalid_api_key'],
    RATE_LIMITED: ['requests', 'rate_limit_exceeded'],
    'RESPONSE.PREVIOUS_NOT_FOUND': ['invalid_request_error', 'previous_response_not_found'],
    'RESPONSE.NOT_FOUND': ['invalid_request_error', 'not_found'],
    'CONVERSATION.NOT_FOUND': ['invalid_request_error', 'not_found'],
    'CONVERSATION.ITEM_NOT_FOUND': ['invalid_request_error', 'not_found'],
    'MODEL.NOT_FOUND': ['invalid_request_error', 'model_not_found'],
  };
  const [type, openAiCode] = known[code] ?? [
    status >= 500 ? 'server_error' : 'invalid_request_error',
    code.toLowerCase().replace(/\./g, '_'),
  ];
  return {
    error: {
      message:
        status === 400 && Array.isArray(details)
          ? `${message}: ${details.map((d: { path: string; message: string }) => `${d.path || 'body'}: ${d.message}`).join('; ')}`
          : message,
      type,
      param,
      code: openAiCode,
    },
  };
}

/**
 * Maps anything thrown in a request to `{ error: { code, message } }` with the table's status —
 * or, on the OpenAI-compatible routes, to OpenAI's `{ error: { message, type, param, code } }`.
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly log = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const request = host.switchToHttp().getRequest<{ url?: string; logContext?: LogContext }>();
    const ids = request.logContext ?? {};
    const { status, body: native } = this.toResponse(exception);
    const body = isOpenAiPath(request.url ?? '') ? openAiErrorBody(status, native) : native;
    // what failed and where, never the data it failed on (see describeError)
    if (status >= 500 && status !== 502 && status !== 503 && status !== 504)
      this.log.error(`${describeError(exception)}${stackOf(exception)}`, ids);
    if (status === 401) void reply.header('www-authenticate', 'Bearer');
    const retryAfter = (native.error.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
    if ((status === 429 || status === 503) && typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
    if (status === 503 && native.error.code === 'SERVICE.UNAVAILABLE') this.log.warn(describeError(exception), ids);
    void reply.status(status).header('content-type', 'application/json; charset=utf-8').send(body);
  }

  toResponse(exception: unknown): { status: number; body: ErrorBody } {
    if (exception instanceof ZodError) {
      return this.body(
        'REQUEST.INVALID',
        'The request body is invalid',
        exception.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      );
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
    // a dependency down for a moment (a restart, a failover): the client should retry, not report a bug
    const down = unavailableDependency(exception);
    if (down) {
      const what = down === 'postgres' ? 'The database' : 'The message bus';
      return this.body('SERVICE.UNAVAILABLE', `${what} is unavailable for the moment; retry shortly`, {
        dependency: down,
        retryAfterSeconds: 1,
      });
    }
    return this.body('INTERNAL', 'Internal error');
  }

  private body(code: string, message: string, details?: unknown, status = HTTP_STATUS[code] ?? 500) {
    return { status, body: { error: { code, message, ...(details === undefined ? {} : { details }) } } };
  }
}

/** The stack's frames without its first line (the message, which may hold data). */
function stackOf(error: unknown): string {
  const stack = error instanceof Error ? error.stack : undefined;
  return stack ? `\n${stack.split('\n').slice(1).join('\n')}` : '';
}
