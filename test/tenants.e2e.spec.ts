/**
 * Tenants and API keys through the running services: every route needs a key, a key sees only
 * its tenant's data (another tenant's is "not found", never forbidden or shown), keys are created
 * and revoked with the CLI and stored hashed, and each key is rate limited.
 */
import { Client } from 'pg';
import { runCli, startTestCluster, TEST_NATS_URL, type TestCluster } from '@parley/testing';

jest.setTimeout(90_000);

describe('tenants and API keys', () => {
  let t: TestCluster;
  let env: Record<string, string>;

  beforeAll(async () => {
    // a long tenant cache: what the CLI changes must reach the services through its notice, not by expiry
    t = await startTestCluster({ label: 'tenants', env: { PARLEY_TENANT_CACHE_MS: '600000' } });
    env = { DATABASE_URL: t.db.url, NATS_URL: TEST_NATS_URL, PARLEY_NATS_PREFIX: t.prefix };
  });
  afterAll(() => t?.stop());

  const createKey = async (tenant: string) => {
    const created = await runCli(['keys', 'create', '--tenant', tenant, '--name', 'test', '--json'], env);
    expect(created.code).toBe(0);
    return JSON.parse(created.stdout) as { key: string; keyId: string; tenantId: string };
  };
  const as = (key: string) => ({ authorization: `Bearer ${key}` });

  it('refuses requests without a valid key, in a typed 401, and leaves health checks open', async () => {
    const missing = await t.call('GET', '/v1/usage', undefined, { authorization: '' });
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe('AUTH.MISSING_KEY');
    const wrong = await t.call('GET', '/v1/usage', undefined, as('pk_not-a-key'));
    expect(wrong).toEqual({ status: 401, body: { error: { code: 'AUTH.INVALID_KEY', message: 'Unknown or revoked API key' } } });
    expect((await t.call('GET', '/v1/usage', undefined, { authorization: 'Basic abc' })).body.error.code).toBe('AUTH.INVALID_KEY');
    const res = await fetch(`${t.baseUrl}/v1/usage`);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect((await t.call('GET', '/healthz', undefined, { authorization: '' })).status).toBe(200);
  });

  it("shows a tenant only its own sessions, events, transcripts, users and usage: another's are not found", async () => {
    // tenant "default" (the dev key) has a user with a session and memory
    const { sessionId } = (await t.post('/v1/sessions', { userId: 'grace' })).body;
    expect((await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'hello from grace' })).status).toBe(200);
    expect((await t.call('PUT', '/v1/users/grace/memory', { facts: { seat: 'aisle' } })).status).toBe(200);

    const acme = as((await createKey('acme')).key);
    const notFound = async (method: string, path: string, body?: unknown) => {
      const res = await t.call(method, path, body, acme);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      return res.body.error.code as string;
    };
    expect(await notFound('GET', `/v1/sessions/${sessionId}`)).toBe('SESSION.NOT_FOUND');
    expect(await notFound('GET', `/v1/sessions/${sessionId}/events`)).toBe('SESSION.NOT_FOUND');
    expect(await notFound('GET', `/v1/sessions/${sessionId}/messages`)).toBe('SESSION.NOT_FOUND');
    expect(await notFound('POST', `/v1/sessions/${sessionId}/turns`, { text: 'let me in' })).toBe('SESSION.NOT_FOUND');
    expect(await notFound('POST', `/v1/sessions/${sessionId}/fork`, {})).toBe('SESSION.NOT_FOUND');
    const turnId = (await t.get(`/v1/sessions/${sessionId}`)).body.turns[0].turnId as string;
    expect(await notFound('POST', `/v1/sessions/${sessionId}/turns/${turnId}/interrupt`, { spokenText: 'hello' })).toBe(
      'SESSION.NOT_FOUND',
    );
    expect(await notFound('GET', '/v1/users/grace/memory')).toBe('USER.NOT_FOUND');
    expect(await notFound('DELETE', '/v1/users/grace/memory/seat')).toBe('MEMORY.NOT_FOUND');
    // acme's own "grace" is someone else: turns, memory and erasure stay within acme
    const acmeTurn = await t.call('POST', '/v1/users/grace/turns', { text: 'hello from acme' }, acme);
    expect(acmeTurn.status).toBe(200);
    expect(acmeTurn.body.sessionResumed).toBe(false);
    expect(acmeTurn.body.sessionId).not.toBe(sessionId);
    expect((await t.call('DELETE', '/v1/users/grace', undefined, acme)).body).toMatchObject({ erased: true, streamsErased: 1 });
    expect((await t.get('/v1/users/grace/memory')).body.facts).toEqual({
      seat: { value: 'aisle', source: 'api', updatedAt: expect.any(String) },
    });
    expect((await t.get(`/v1/sessions/${sessionId}`)).status).toBe(200);
    // usage is per tenant
    expect((await t.call('GET', '/v1/usage', undefined, acme)).body).toMatchObject({ tenantId: 'acme', usage: { stateful: { turns: 1 } } });

    // events carry their tenant all the way: acme's turn was recorded under acme
    const client = new Client({ connectionString: t.db.url });
    await client.connect();
    try {
      const rows = (await client.query('select tenant_id, count(*)::int as n from events group by tenant_id order by tenant_id')).rows;
      expect(rows.map((r) => r.tenant_id)).toEqual(['acme', 'default']);
      // keys are stored hashed: the key itself is nowhere in the database
      const keys = (await client.query('select hash, prefix from api_keys')).rows;
      expect(keys.length).toBeGreaterThanOrEqual(2);
      expect(keys.every((k) => Buffer.isBuffer(k.hash) && k.hash.length === 32)).toBe(true);
      const dump = JSON.stringify((await client.query('select * from api_keys')).rows);
      expect(dump).not.toContain(acme.authorization.slice('Bearer '.length));
    } finally {
      await client.end();
    }
  });

  it('stops accepting a revoked key', async () => {
    const { key, keyId } = await createKey('revoking');
    expect((await t.call('GET', '/v1/usage', undefined, as(key))).status).toBe(200);
    const revoked = await runCli(['keys', 'revoke', keyId], env);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toBe(`Revoked key ${keyId} of tenant revoking: applied at once by every running service\n`);
    // the key was cached as valid (for ten minutes here): the notice dropped it
    expect((await t.call('GET', '/v1/usage', undefined, as(key))).status).toBe(401);
    const listed = JSON.parse((await runCli(['keys', 'list', '--tenant', 'revoking', '--json'], env)).stdout);
    expect(listed).toEqual([expect.objectContaining({ keyId, tenantId: 'revoking', revokedAt: expect.any(String) })]);
  });

  it("limits each key to its tenant's rate, answering 429 with Retry-After", async () => {
    expect((await runCli(['tenants', 'set', '--tenant', 'limited', '--rate-limit', '3'], env)).code).toBe(0);
    const { key } = await createKey('limited');
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${t.baseUrl}/v1/usage`, { headers: as(key) });
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await limited!.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    // the dev key of another tenant is not affected
    expect((await t.get('/v1/usage')).status).toBe(200);
  });

  it('validates the CLI arguments', async () => {
    const bad = await runCli(['tenants', 'set', '--tenant', 'limited', '--routing-policy', 'sometimes'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--routing-policy sometimes');
    expect((await runCli(['keys', 'create'], env)).code).toBe(2);
    expect((await runCli(['keys', 'create', '--tenant', 'Not A Slug'], env)).code).toBe(2);
    expect((await runCli(['keys', 'revoke', 'nope'], env)).code).toBe(2);
    const unknown = await runCli(['keys', 'revoke', '3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('No API key');
    const shown = JSON.parse((await runCli(['tenants', 'show', '--tenant', 'limited', '--json'], env)).stdout);
    expect(shown).toMatchObject({
      tenantId: 'limited',
      own: { rateLimitPerMinute: 3 },
      effective: { routingPolicy: 'hybrid', rateLimitPerMinute: 3 },
    });
  });
});
