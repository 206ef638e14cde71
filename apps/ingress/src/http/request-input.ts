import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { findUnstorableText, UNSTORABLE_TEXT } from '@parley/contracts';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Observable } from 'rxjs';
import { ApiError } from './api-error';

/**
 * Every string a request brings — in its body (values and keys), query or path — is checked once,
 * here, before any handler sees it: a NUL character or an unpaired surrogate cannot be stored
 * (Postgres's JSON refuses both) and is `400 REQUEST.INVALID`, naming where it was. Handlers' own
 * schemas then check shapes and lengths.
 */
@Injectable()
export class StorableInput implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    for (const [part, value] of [
      ['body', request.body],
      ['query', request.query],
      ['path', request.params],
    ] as const) {
      const where = findUnstorableText(value);
      if (where !== null) {
        throw new ApiError('REQUEST.INVALID', `The request ${part}${where ? ` (at ${where})` : ''} ${UNSTORABLE_TEXT}, or nests too deep`, [
          { path: where, message: UNSTORABLE_TEXT },
        ]);
      }
    }
    return next.handle();
  }
}

/**
 * JSON bodies as Fastify parses them (prototype poisoning refused), except that an empty body is
 * no body: clients that always send `content-type: application/json` can still call routes that
 * take none (`DELETE /v1/users/{id}`, a fork at the latest version).
 */
export function acceptEmptyJsonBodies(fastify: FastifyInstance): void {
  const parse = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    parse(request, text, done);
  });
}
