import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { findUnstorableText, UNSTORABLE_TEXT } from '@parley/contracts';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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

const typedBody = (code: string, message: string) => JSON.stringify({ error: { code, message, type: 'invalid_request_error' } });

/**
 * What Fastify itself refuses before any route runs — a URL that is not valid UTF-8 once
 * percent-decoded — answered in our typed error shape (with OpenAI's `type` too: the route is not
 * known yet).
 */
export function frameworkErrors(error: Error & { code?: string }, _request: FastifyRequest, reply: FastifyReply): void {
  void reply
    .status(400)
    .header('content-type', 'application/json; charset=utf-8')
    .send(
      typedBody(
        'REQUEST.INVALID',
        error.code === 'FST_ERR_BAD_URL' ? 'The URL is not valid: a percent-encoded part is not UTF-8' : 'The request is not valid',
      ),
    );
}

/**
 * What Node's HTTP parser refuses before Fastify sees a request — headers (with the URL) over 16 KB,
 * a malformed request — answered in our typed error shape, then the connection closed.
 */
export function clientErrors(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) return void socket.destroy();
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const [status, text, code, message] = tooLarge
    ? [431, 'Request Header Fields Too Large', 'REQUEST.HEADERS_TOO_LARGE', 'The request line and headers are over 16 KB']
    : [400, 'Bad Request', 'REQUEST.INVALID', 'The request is not valid HTTP'];
  const body = typedBody(code, message);
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
