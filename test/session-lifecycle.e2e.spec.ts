/**
 * Sessions expire after inactivity; turns addressed by user resume or start sessions. Time is the
 * subject, so the test moves it instead of waiting: it sets a session's last activity back past
 * the limit in the log's stream row, which is what every process reads it from.
 */
import { Client } from 'pg';
import { runCli, startTestCluster, type TestCluster } from '@parley/testing';

jest.setTimeout(60_000);
const IDLE_SECONDS = 1_800;

describe('session lifecycle', () => {
  let t: TestCluster;

  beforeAll(async () => {
    t = await startTestCluster({
      label: 'lifecycle',
      script: (request) => ({ text: `(${request.messages.length} messages) answer to: ${request.messages.at(-1)?.content}` }),
      env: { PARLEY_SESSION_IDLE_SECONDS: String(IDLE_SECONDS) },
    });
  });
  afterAll(() => t?.stop());

  /** What half an hour's silence leaves in the log: the session last active more than the limit ago. */
  async function leaveIdle(sessionId: string): Promise<void> {
    const db = new Client({ connectionString: t.db.url });
    await db.connect();
    try {
      const { rowCount } = await db.query('update streams set updated_at = updated_at - make_interval(secs => $2) where stream_id = $1', [
        `session-${sessionId}`,
        IDLE_SECONDS + 1,
      ]);
      expect(rowCount).toBe(1);
    } finally {
      await db.end();
    }
  }

  const lastRequestWith = (text: string) => [...t.llm.requests].reverse().find((r) => r.messages.at(-1)?.content === text)!;

  it('resumes the live session of a user, and starts a new one once it expired, carrying memory over', async () => {
    const first = await t.post('/v1/users/commuter/turns', { text: 'Is the 8:15 train on time?' });
    expect(first.status).toBe(200);
    expect(first.body.sessionResumed).toBe(false);
    const again = await t.post('/v1/users/commuter/turns', { text: 'And the 8:45?' });
    expect(again.body).toMatchObject({ sessionId: first.body.sessionId, sessionResumed: true });
    expect(lastRequestWith('And the 8:45?').messages.map((m) => m.content)).toContain('Is the 8:15 train on time?');
    await t.call('PUT', '/v1/users/commuter/memory', { facts: { home_station: 'Didcot' } });

    await leaveIdle(first.body.sessionId);
    const later = await t.post('/v1/users/commuter/turns', { text: 'Any delays this evening?' });
    expect(later.body.sessionResumed).toBe(false);
    expect(later.body.sessionId).not.toBe(first.body.sessionId);
    const context = lastRequestWith('Any delays this evening?').messages.map((m) => m.content);
    expect(context).not.toContain('Is the 8:15 train on time?'); // a new conversation...
    expect(context.join('\n')).toContain('home_station: Didcot'); // ...that knows the user

    // the old session's expiry is in its history, and it takes no more turns
    const old = await t.get(`/v1/sessions/${first.body.sessionId}`);
    expect(old.body.expiredAt).toEqual(expect.any(String));
    const events = (await t.get(`/v1/sessions/${first.body.sessionId}/events`)).body.events;
    expect(events.at(-1)).toMatchObject({ type: 'SessionExpired', data: { idleSeconds: IDLE_SECONDS } });
    const refused = await t.post(`/v1/sessions/${first.body.sessionId}/turns`, { text: 'hello?' });
    expect([refused.status, refused.body.error.code]).toEqual([409, 'SESSION.EXPIRED']);

    // `parley sessions` finds them, most recently active first
    const env = { DATABASE_URL: t.db.url };
    const found = JSON.parse((await runCli(['sessions', '--user', 'commuter', '--json'], env)).stdout);
    expect(found.map((s: { sessionId: string; status: string; turns: number }) => [s.sessionId, s.status, s.turns])).toEqual([
      [later.body.sessionId, 'live', 1],
      [first.body.sessionId, 'expired', 2],
    ]);
    expect(JSON.parse((await runCli(['sessions', '--user', 'commuter', '--limit', '1', '--json'], env)).stdout)).toHaveLength(1);
    expect(JSON.parse((await runCli(['sessions', '--since', '1h', '--json'], env)).stdout).length).toBeGreaterThanOrEqual(2);
    expect((await runCli(['sessions', '--since', '2099-01-01T00:00:00Z'], env)).stdout).toContain('No sessions found.');
    const text = (await runCli(['sessions', '--user', 'commuter'], env)).stdout;
    expect(text).toContain(`${later.body.sessionId}`);
    expect(text).toMatch(/1 turns\s+commuter\s+live/);
    expect((await runCli(['sessions', '--since', 'last week'], env)).code).toBe(2);
    expect((await runCli(['sessions', '--limit', '0'], env)).code).toBe(2);
  });

  it('expires a session addressed directly once it has been idle too long', async () => {
    const { sessionId } = (await t.post('/v1/sessions', {})).body;
    expect((await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'hi' })).status).toBe(200);
    await leaveIdle(sessionId);
    const late = await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'still there?' });
    expect([late.status, late.body.error.code]).toEqual([409, 'SESSION.EXPIRED']);
    const events = (await t.get(`/v1/sessions/${sessionId}/events`)).body.events.map((e: { type: string }) => e.type);
    expect(events).toEqual(['SessionStarted', 'UserMessageReceived', 'TurnRouted', 'AssistantReplied', 'SessionExpired']);
    expect((await t.post('/v1/users/' + 'x'.repeat(201) + '/turns', { text: 'hi' })).status).toBe(400);
  });
});
