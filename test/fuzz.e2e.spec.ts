/**
 * Property-based fuzzing of every route in the OpenAPI document, against the services as
 * processes: whatever the body, headers, query, path, size or Unicode, the answer comes in time,
 * is never a 5xx, and every error is typed. Then a tenant-isolation sweep generated from the same
 * document: every route with another tenant's ids answers 404 and changes nothing.
 */
import fc from 'fast-check';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { listDeadLetters } from '@parley/messaging';
import { runCli, startTestCluster, TEST_NATS_URL, type TestCluster } from '@parley/testing';

jest.setTimeout(300_000);

type Method = 'get' | 'post' | 'put' | 'delete';
interface Route {
  method: Method;
  path: string;
}

/** A valid body for each route that takes one: the fuzzer's starting point. */
const EXAMPLES: Record<string, unknown> = {
  'post /v1/sessions': { userId: 'fuzz-user', metadata: { plan: 'gold' } },
  'post /v1/sessions/{sessionId}/fork': { atVersion: 1 },
  'post /v1/sessions/{sessionId}/turns': { text: 'hello', mode: 'auto' },
  'post /v1/sessions/{sessionId}/turns/{turnId}/interrupt': { spokenText: 'hel' },
  'post /v1/users/{userId}/turns': { text: 'hello again' },
  'post /v1/turns': { text: 'what are your hours?' },
  'put /v1/users/{userId}/memory': { facts: { seat: 'aisle' } },
  'post /v1/chat/completions': { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
  'post /v1/responses': { model: 'gpt-4o-mini', input: 'hi' },
};

const OPENAI = /^\/v1\/(chat\/completions|responses|conversations|models)/;
/** Routes that follow something live (Server-Sent Events that end when the client leaves). */
const FOLLOWS = /\/live$/;
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
/** Text of every kind: any code point, lone surrogates, NUL, controls, long runs. */
const nastyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({
    unit: fc.oneof(
      fc.constantFrom('\u0000', '\u0001', '"', '\\', '\n', '中', '😀', '\u202e'),
      loneSurrogate,
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    ),
    maxLength: 60,
  }),
  fc.integer({ min: 1_000, max: 40_000 }).map((n) => 'x'.repeat(n)),
  fc.constantFrom('', ' ', '../../etc/passwd', "'; drop table events; --", '%00', '{{7*7}}'),
);
/** JSON values, sometimes holding nasty text anywhere. */
const nastyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    nastyText,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(nastyText, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A path segment: a real id, or anything percent-encoded byte by byte (NUL, broken UTF-8, slashes). */
const segment = (real: string) =>
  fc.oneof(
    fc.constant(real),
    fc.uuid(),
    fc
      .array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 30 })
      .map((bytes) => bytes.map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 600 }).map(encodeURIComponent),
  );

/** A body: the example with a field replaced or removed, any JSON, or bytes that are not JSON. */
function bodyFor(example: unknown): fc.Arbitrary<string | undefined> {
  const mutated =
    example && typeof example === 'object'
      ? fc
          .tuple(fc.constantFrom(...Object.keys(example)), fc.option(nastyJson, { nil: undefined }))
          .map(([key, value]) => JSON.stringify({ ...(example as object), [key]: value }))
      : fc.constant(JSON.stringify(example));
  return fc.oneof(
    mutated,
    nastyJson.map((v) => JSON.stringify(v)),
    fc.string({ unit: 'binary', maxLength: 50 }),
    fc.constant(undefined),
    fc.constant(JSON.stringify(example)),
  );
}

describe('fuzzing every route of the OpenAPI document', () => {
  let t: TestCluster;
  let routes: Route[];
  let ids: { sessionId: string; turnId: string; userId: string; name: string; responseId: string };
  const exits: string[] = [];

  beforeAll(async () => {
    t = await startTestCluster({ label: 'fuzz', env: { PARLEY_RATE_LIMIT_PER_MINUTE: '1000000' } });
    const document = (await (await fetch(`${t.baseUrl}/docs/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    routes = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({ method: method as Method, path })),
    );
    const { sessionId } = (await t.post('/v1/sessions', { userId: 'owner' })).body;
    const turn = (await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'a first turn' })).body;
    await t.call('PUT', '/v1/users/owner/memory', { facts: { seat: 'aisle' } });
    const response = (await t.post('/v1/responses', { input: 'remember me', store: true })).body;
    ids = { sessionId, turnId: turn.turnId, userId: 'owner', name: 'seat', responseId: response.id };
  });
  afterAll(() => t?.stop());

  /** The request as a client would send it, and what must hold of the answer. */
  async function call(route: Route, path: string, body: string | undefined, headers: Record<string, string>): Promise<string | null> {
    const res = await fetch(`${t.baseUrl}${path}`, {
      method: route.method.toUpperCase(),
      headers: { authorization: `Bearer ${t.apiKey}`, ...headers },
      body: route.method === 'get' ? undefined : body,
      signal: AbortSignal.timeout(20_000), // an answer, whatever it is, in time: no hang
    });
    const where = `${route.method.toUpperCase()} ${path.slice(0, 120)} → ${res.status}`;
    if (FOLLOWS.test(route.path) && res.ok) {
      // a live stream does not end: its first event, in time, is the answer
      const reader = res.body!.getReader();
      const { value } = await reader.read();
      await reader.cancel();
      return /^event: replay\n/.test(new TextDecoder().decode(value)) ? null : `${where}: a live stream that did not start with its replay`;
    }
    const text = await res.text();
    if (res.status >= 500) return `${where}: ${text.slice(0, 300)}`;
    if (res.headers.get('content-type')?.includes('text/event-stream')) {
      return /event: (done|error)\n/.test(text) || /data: \[DONE\]/.test(text) || /response\.(completed|failed)/.test(text)
        ? null
        : `${where}: a stream that did not end`;
    }
    if (res.status < 400) return null;
    let parsed: { error?: { code?: unknown; message?: unknown; type?: unknown } };
    try {
      parsed = JSON.parse(text);
    } catch {
      return `${where}: an error that is not JSON: ${text.slice(0, 200)}`;
    }
    const typed = OPENAI.test(path)
      ? typeof parsed.error?.type === 'string' && typeof parsed.error.message === 'string'
      : typeof parsed.error?.code === 'string' &&
        /^[A-Z_]+(\.[A-Z_]+)*$/.test(parsed.error.code) &&
        typeof parsed.error.message === 'string';
    return typed ? null : `${where}: an untyped error ${text.slice(0, 200)}`;
  }

  it('answers every request in time, never with a 5xx, with a typed error when it refuses', async () => {
    const failures: string[] = [];
    for (const route of routes) {
      const example = EXAMPLES[`${route.method} ${route.path}`];
      const real: Record<string, string> = {
        sessionId: ids.sessionId,
        turnId: ids.turnId,
        userId: ids.userId,
        name: ids.name,
        responseId: ids.responseId,
      };
      const params = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const request = fc.record({
        segments: fc.tuple(...params.map((p) => segment(real[p] ?? 'x'))),
        query: fc.dictionary(
          fc.constantFrom('after', 'limit', 'stream', 'x', 'after[]'),
          fc.oneof(fc.integer({ min: -5, max: 3_000_000_000 }).map(String), nastyText.map(encodeURIComponentSafe)),
          { maxKeys: 3 },
        ),
        body: example === undefined ? fc.option(fc.string({ maxLength: 20 }), { nil: undefined }) : bodyFor(example),
        contentType: fc.constantFrom('application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded', ''),
        accept: fc.constantFrom('application/json', 'text/event-stream', '*/*', ''),
        idempotencyKey: fc.option(fc.oneof(fc.string({ maxLength: 300 }), fc.constant('k'.repeat(256))), { nil: undefined }),
      });
      await fc.assert(
        fc.asyncProperty(request, async ({ segments, query, body, contentType, accept, idempotencyKey }) => {
          let path = route.path;
          params.forEach((p, i) => (path = path.replace(`{${p}}`, segments[i])));
          const qs = Object.entries(query)
            .map(([k, v]) => `${k}=${v}`)
            .join('&');
          const headers: Record<string, string> = {};
          if (contentType) headers['content-type'] = contentType;
          if (accept) headers.accept = accept;
          if (idempotencyKey !== undefined && /^[\x20-\x7e]*$/.test(idempotencyKey)) headers['idempotency-key'] = idempotencyKey;
          const failure = await call(route, qs ? `${path}?${qs}` : path, body, headers);
          if (failure) failures.push(failure);
          return true;
        }),
        { numRuns: 60, seed: 20261130 },
      );
    }
    expect(failures).toEqual([]);
    // every service still up and ready, and nothing got through to a worker and failed there
    expect(exits).toEqual([]);
    expect((await fetch(`${t.baseUrl}/readyz`)).status).toBe(200);
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      expect(await listDeadLetters(await jetstreamManager(nc), t.prefix)).toEqual([]);
    } finally {
      await nc.close();
    }
  });

  it("keeps tenants apart on every route: another tenant's ids are 404, and nothing of theirs changes", async () => {
    const env = { DATABASE_URL: t.db.url };
    expect((await runCli(['tenants', 'set', '--tenant', 'intruder', '--routing-policy', 'hybrid'], env)).code).toBe(0);
    const key = JSON.parse((await runCli(['keys', 'create', '--tenant', 'intruder', '--json'], env)).stdout).key as string;
    // the owner's things, made after the fuzzing (which may have erased what it was given): live ones, and an erased session
    const { sessionId } = (await t.post('/v1/sessions', { userId: 'owner-2' })).body;
    const turn = (await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'a first turn' })).body;
    await t.call('PUT', '/v1/users/owner-2/memory', { facts: { seat: 'window' } });
    const response = (await t.post('/v1/responses', { input: 'remember me', store: true })).body;
    const gone = (await t.post('/v1/sessions', { userId: 'owner-gone' })).body.sessionId as string;
    await t.post(`/v1/sessions/${gone}/turns`, { text: 'soon erased' });
    expect((await t.call('DELETE', '/v1/users/owner-gone')).status).toBe(200);
    const before = {
      events: (await t.get(`/v1/sessions/${sessionId}/events`)).body,
      memory: (await t.get('/v1/users/owner-2/memory')).body,
      response: (await t.get(`/v1/responses/${response.id}`)).body,
      gone: (await t.get(`/v1/sessions/${gone}/events`)).body,
    };
    const leaks: string[] = [];
    for (const owned of [
      { sessionId, turnId: turn.turnId, userId: 'owner-2', name: 'seat', responseId: response.id },
      { sessionId: gone, turnId: turn.turnId, userId: 'owner-gone', name: 'seat', responseId: response.id },
    ] as Record<string, string>[]) {
      for (const route of routes.filter((r) => /\{(sessionId|responseId)\}/.test(r.path))) {
        const path = route.path.replace(/\{(\w+)\}/g, (_, p: string) => owned[p]);
        const example = EXAMPLES[`${route.method} ${route.path}`];
        const res = await fetch(`${t.baseUrl}${path}`, {
          method: route.method.toUpperCase(),
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: route.method === 'get' ? undefined : JSON.stringify(example ?? {}),
        });
        // not found: not a 403, nor a 410 that would tell another tenant's session was erased
        if (res.status !== 404) leaks.push(`${route.method.toUpperCase()} ${path}: ${res.status}`);
      }
    }
    // a user id is the application's, not a secret: the intruder may have a user of that name of its own
    // (and read, write or erase it) — what it reaches is its own, never the owner's
    for (const route of routes.filter((r) => /\{userId\}/.test(r.path) && r.method !== 'delete')) {
      const path = route.path.replace('{userId}', 'owner-2').replace('{name}', 'seat');
      const res = await fetch(`${t.baseUrl}${path}`, {
        method: route.method.toUpperCase(),
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: route.method === 'get' ? undefined : JSON.stringify(EXAMPLES[`${route.method} ${route.path}`] ?? {}),
      });
      const text = await res.text();
      if (text.includes('window') || text.includes('a first turn'))
        leaks.push(`${route.method.toUpperCase()} ${path}: the owner's data in ${text.slice(0, 120)}`);
    }
    expect((await t.call('DELETE', '/v1/users/owner-2', undefined, { authorization: `Bearer ${key}` })).status).toBe(200); // the intruder's own owner-2
    expect(leaks).toEqual([]);
    // nothing of the owner's changed
    expect((await t.get(`/v1/sessions/${sessionId}/events`)).body).toEqual(before.events);
    expect((await t.get('/v1/users/owner-2/memory')).body).toEqual(before.memory);
    expect((await t.get(`/v1/responses/${response.id}`)).body).toEqual(before.response);
    expect((await t.get(`/v1/sessions/${gone}/events`)).body).toEqual(before.gone);
  });
});

function encodeURIComponentSafe(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ED%A0%80'; // a lone surrogate cannot be UTF-8: send the bytes one would have been
  }
}
