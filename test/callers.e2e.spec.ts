/**
 * Callers become users (tenant setting `callerUsers`): a voice platform's caller number names a
 * Parley user, kept as a keyed hash, so a second call resumes what was remembered in the first;
 * erasing the user erases the mapping. Driven as Vapi drives a custom LLM: chat completions with
 * `call.id` and `customer.number`.
 */
import { Client } from 'pg';
import { runCli, seatMemoryScript, startTestCluster, TEST_NATS_URL, type ChatRequest, type TestCluster } from '@parley/testing';

jest.setTimeout(60_000);

describe('voice callers as users', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster({ label: 'callers', script: seatMemoryScript });
  });
  afterAll(() => t?.stop());

  /** One Vapi custom-LLM request: the call so far, and who is calling. */
  const vapi = (callId: string, number: string, text: string, where: 'top' | 'call' = 'top') =>
    t.post('/v1/chat/completions', {
      model: 'parley',
      messages: [{ role: 'user', content: text }],
      call: { id: callId, ...(where === 'call' ? { customer: { number } } : {}) },
      ...(where === 'top' ? { customer: { number } } : {}),
    });
  const userOf = async (sessionId: string) => (await t.get(`/v1/sessions/${sessionId}`)).body.userId as string | null;
  const lastRequestWith = (text: string) => [...t.llm.requests].reverse().find((r) => r.messages.some((m) => m.content === text))!;
  const memoryLine = (request: ChatRequest) =>
    request.messages.find((m) => m.role === 'system' && String(m.content).startsWith('What you know about this user'))?.content;
  const setCallerUsers = async (value: 'on' | 'off') => {
    // the CLI tells the running services, which drop the tenant's cached settings at once
    const set = await runCli(['tenants', 'set', '--tenant', 'default', '--caller-users', value], {
      DATABASE_URL: t.db.url,
      NATS_URL: TEST_NATS_URL,
      PARLEY_NATS_PREFIX: t.prefix,
    });
    expect(set.stdout).toContain('Applied at once by every running service.');
  };

  it('keeps every call a stranger while the tenant has not opted in', async () => {
    const res = await vapi('call-off', '+44 20 7946 0001', 'Hello there');
    expect(res.status).toBe(200);
    expect(await userOf(res.body.parley.sessionId)).toBeNull();
  });

  it('resumes in a second call what was remembered about the caller in the first, stored as a keyed hash', async () => {
    await setCallerUsers('on');
    const first = await vapi('call-1', '+44 20 7946 0958', 'For flights I prefer an aisle seat, please.');
    expect(first.body.choices[0].message.content).toBe('Noted, I will keep that in mind.');
    const caller = await userOf(first.body.parley.sessionId);
    expect(caller).toMatch(/^caller-[0-9a-f-]{36}$/);

    // another call, the number written another way and sent inside `call`
    const second = await vapi('call-2', '+442079460958', 'Book me on the 9am flight to Lisbon.', 'call');
    expect(second.body.parley.sessionId).not.toBe(first.body.parley.sessionId);
    expect(await userOf(second.body.parley.sessionId)).toBe(caller);
    expect(memoryLine(lastRequestWith('Book me on the 9am flight to Lisbon.'))).toBe(
      'What you know about this user from earlier conversations:\n- seat_preference: aisle seat',
    );

    // the number is nowhere in the database: only its HMAC under the tenant's key
    const db = new Client({ connectionString: t.db.url });
    await db.connect();
    try {
      const { rows } = await db.query<{ caller_hash: string; user_id: string }>('select caller_hash, user_id from caller_users');
      expect(rows).toEqual([{ caller_hash: expect.stringMatching(/^[0-9a-f]{64}$/), user_id: caller }]);
      const dump = JSON.stringify(
        (await db.query('select * from caller_users, caller_keys where caller_keys.tenant_id = caller_users.tenant_id')).rows,
      );
      expect(dump).not.toMatch(/7946/);
    } finally {
      await db.end();
    }
  });

  it('makes the caller a stranger again once the user is erased', async () => {
    const before = await vapi('call-3', '+44 20 7946 0958', 'Is my seat noted?');
    const caller = (await userOf(before.body.parley.sessionId))!;
    expect((await t.call('DELETE', `/v1/users/${caller}`)).body).toMatchObject({ erased: true });
    const after = await vapi('call-4', '+44 20 7946 0958', 'Who am I?');
    const fresh = await userOf(after.body.parley.sessionId);
    expect(fresh).toMatch(/^caller-/);
    expect(fresh).not.toBe(caller);
    expect(memoryLine(lastRequestWith('Who am I?'))).toBeUndefined();
  });

  it('refuses a number that is not one', async () => {
    const res = await vapi('call-5', 'call me maybe', 'Hello');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ param: 'customer.number' });
  });
});
