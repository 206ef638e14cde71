/** What logs and dead letters say of errors — never the data — and which errors mean "a dependency is down". */
import { ClosedConnectionError, TimeoutError } from '@nats-io/transport-node';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { DatabaseError } from 'pg';
import { z } from 'zod';
import { describeError, unavailableDependency } from './describe-error';

const secret = 'my card number is 4111 1111 1111 1111';

function pgError(code: string, message: string): DatabaseError {
  const error = new DatabaseError(message, message.length, 'error');
  Object.assign(error, { code, severity: 'ERROR', detail: `Token "${secret}" is invalid.` });
  return error;
}

describe('describeError', () => {
  it('says what failed without the data it failed on', () => {
    // drizzle's wrapper prints the query and its parameters: the whole state of a session
    const wrapped = new DrizzleQueryError(
      'insert into session_projections ...',
      [JSON.stringify({ messages: [secret] })],
      pgError('22P05', 'unsupported Unicode escape sequence'),
    );
    expect(wrapped.message).toContain(secret);
    expect(describeError(wrapped)).toBe('postgres 22P05: unsupported Unicode escape sequence');
    // Postgres quotes the value it refused, after a colon
    expect(describeError(pgError('22P02', `invalid input syntax for type uuid: "${secret}"`))).toBe(
      'postgres 22P02: invalid input syntax for type uuid',
    );
    // JSON.parse quotes the text it could not read
    let parseError: unknown;
    try {
      JSON.parse(secret);
    } catch (error) {
      parseError = error;
    }
    expect(String(parseError)).toContain('my card');
    expect(describeError(parseError)).toBe('SyntaxError: not valid JSON');
    // zod: the paths and codes of the issues
    const zod = z.object({ text: z.string().max(3) }).safeParse({ text: secret }).error;
    expect(describeError(zod)).toBe('invalid data: text too_big');
    // anything else: quoted parts dropped, length bounded
    expect(describeError(new Error(`could not handle "${secret}" in turn t1`))).toBe('Error: could not handle … in turn t1');
    expect(describeError(Object.assign(new Error('x'.repeat(1_000)), { code: 'LLM.TIMEOUT' }))).toHaveLength(
      'Error LLM.TIMEOUT: '.length + 300,
    );
  });
});

describe('unavailableDependency', () => {
  it('tells a database or bus that is down from a bug', () => {
    expect(unavailableDependency(pgError('57P01', 'terminating connection due to administrator command'))).toBe('postgres');
    expect(unavailableDependency(new DrizzleQueryError('select 1', [], pgError('08006', 'connection failure')))).toBe('postgres');
    expect(unavailableDependency(new Error('Connection terminated unexpectedly'))).toBe('postgres');
    expect(unavailableDependency(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe(
      'postgres',
    );
    expect(unavailableDependency(new ClosedConnectionError())).toBe('nats');
    expect(unavailableDependency(new TimeoutError())).toBe('nats');
    expect(unavailableDependency(pgError('23505', 'duplicate key value violates unique constraint'))).toBeNull();
    expect(unavailableDependency(new TypeError('x is undefined'))).toBeNull();
  });
});
