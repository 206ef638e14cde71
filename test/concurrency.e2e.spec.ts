/**
 * Hundreds of turns in flight against a slow model, with two replicas of every worker: sessions
 * are answered side by side, each session's turns in order with every earlier turn in their
 * context, one outcome per turn, none lost — also with a replica killed mid-run, and under the
 * `interrupt` policy.
 */
import { connectDatabase, EventStore, updateTenantSettings, type Database } from '@parley/event-store';
import type { RecordedEvent } from '@parley/contracts';
import { announceTenantChange } from '@parley/messaging';
import { freePort, startTestCluster, TEST_NATS_URL, waitFor, type ClusterService, type TestCluster } from '@parley/testing';

jest.setTimeout(180_000);

const SESSIONS = 64;
const TURNS = 3;
/** Per responder replica: low, so that two replicas answering at once is visible in the LLM's load. */
const LIMIT = 6;
const LLM_MS = 250;

describe('turns of many sessions in flight, two replicas of every worker', () => {
  let t: TestCluster;
  let database: Database;
  let store: EventStore;

  beforeAll(async () => {
    t = await startTestCluster({
      label: 'concurrency',
      script: (request) => {
        const last = String(request.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '');
        return { text: `answer to: ${last}`, delayMs: LLM_MS };
      },
      env: { PARLEY_MAX_CONCURRENT_TURNS: String(LIMIT), PARLEY_ACK_WAIT_MS: '3000', PARLEY_RATE_LIMIT_PER_MINUTE: '100000' },
    });
    for (const service of ['router', 'responder', 'session-projector'] as ClusterService[]) t.cluster.startReplica(service, {});
    // every replica consumes: two durable pullers per worker
    await waitFor(
      () =>
        ['router', 'responder', 'session-projector'].every(
          (s) => t.cluster.logs.filter((l) => l.includes(`[${s}]`) && l.includes('consuming from')).length >= 2,
        ),
      {
        what: 'the replicas to consume',
        timeoutMs: 30_000,
      },
    );
    database = await connectDatabase(t.db.url);
    store = new EventStore(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await t?.stop();
  });

  /** Sends each session's turns back to back, not waiting for answers: the user keeps talking. */
  async function talk(label: string): Promise<{ sessions: string[]; statuses: number[] }> {
    const sessions: string[] = [];
    for (let i = 0; i < SESSIONS; i++) sessions.push((await t.post('/v1/sessions', {})).body.sessionId);
    const turns: Promise<number>[] = [];
    for (let k = 1; k <= TURNS; k++) {
      for (const [i, sessionId] of sessions.entries())
        turns.push(t.post(`/v1/sessions/${sessionId}/turns`, { text: `${label} s${i} turn ${k}`, mode: 'stateful' }).then((r) => r.status));
      await new Promise((r) => setTimeout(r, 30));
    }
    return { sessions, statuses: await Promise.all(turns) };
  }

  /**
   * Every turn of the session has one outcome, and every reply was given the transcript in order:
   * each earlier turn's question followed by its recorded reply, then its own question.
   */
  async function checkSession(sessionId: string, contexts: Map<string, string[][]>): Promise<void> {
    const events = await store.readStream(`session-${sessionId}`);
    const asked = events.filter((e): e is RecordedEvent<'UserMessageReceived'> => e.type === 'UserMessageReceived');
    expect(asked).toHaveLength(TURNS);
    const outcomes = events.filter((e) => e.type === 'AssistantReplied' || e.type === 'TurnFailed') as RecordedEvent<
      'AssistantReplied' | 'TurnFailed'
    >[];
    expect(outcomes.map((e) => e.data.turnId).sort()).toEqual(asked.map((e) => e.data.turnId).sort());
    const replyOf = new Map(outcomes.map((e) => [e.data.turnId, e.type === 'AssistantReplied' ? e.data.text : null]));
    const transcript: string[] = [];
    for (const message of asked) {
      const sent = contexts.get(message.data.text) ?? [];
      // a superseded turn (interrupt) never reached the model; every other one did, with the transcript so far
      if (sent.length) expect(sent.at(-1)).toEqual([...transcript, message.data.text]);
      transcript.push(message.data.text, replyOf.get(message.data.turnId) ?? '');
    }
  }

  /** What the model was given for each question (after the system prompt), every time it was asked. */
  function contextsByQuestion(): Map<string, string[][]> {
    const contexts = new Map<string, string[][]>();
    for (const request of t.llm.requests) {
      const question = String(request.messages.at(-1)?.content ?? '');
      contexts.set(question, [...(contexts.get(question) ?? []), request.messages.slice(1).map((m) => String(m.content ?? ''))]);
    }
    return contexts;
  }

  it('answers every session’s turns in order, once each, with both responder replicas busy and neither over its limit', async () => {
    t.llm.resetPeak();
    const { sessions, statuses } = await talk('queue');
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    // two replicas answering at once, each no more than its own limit
    expect(t.llm.peakInFlight).toBeGreaterThan(LIMIT);
    expect(t.llm.peakInFlight).toBeLessThanOrEqual(2 * LIMIT);
    const contexts = contextsByQuestion();
    for (const sessionId of sessions) await checkSession(sessionId, contexts);
    // exactly one LLM call per turn: no turn answered twice
    expect([...contexts.entries()].filter(([q, sent]) => q.startsWith('queue ') && sent.length !== 1)).toEqual([]);
  });

  it('keeps every guarantee with a responder replica killed in the middle (SIGKILL), its turns redelivered', async () => {
    const running = talk('crash');
    await waitFor(() => t.llm.inFlight >= LIMIT, { what: 'the replicas to be busy' });
    await t.cluster.kill('responder'); // one of the two: its turns are in the middle of their LLM calls
    t.cluster.startService('responder');
    const { sessions, statuses } = await running;
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const contexts = contextsByQuestion();
    for (const sessionId of sessions) await checkSession(sessionId, contexts);
    await t.cluster.waitUntilReady();
  });

  it('under the interrupt policy, each turn sees every earlier one with the reply as it was cut', async () => {
    await updateTenantSettings(database.db, 'default', { concurrentTurns: 'interrupt' });
    // as `parley tenants set` does: the services drop the tenant's cached settings at once
    expect(await announceTenantChange(TEST_NATS_URL, t.prefix, 'default')).toBe(true);
    try {
      const { sessions, statuses } = await talk('interrupt');
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      const contexts = contextsByQuestion();
      for (const sessionId of sessions) await checkSession(sessionId, contexts);
      // the user kept talking: replies were cut short
      const cut = (await Promise.all(sessions.map((id) => store.readStream(`session-${id}`))))
        .flat()
        .filter((e) => e.type === 'AssistantReplied' && e.data.interrupted === 'next-turn');
      expect(cut.length).toBeGreaterThan(0);
    } finally {
      await updateTenantSettings(database.db, 'default', { concurrentTurns: null });
      await announceTenantChange(TEST_NATS_URL, t.prefix, 'default');
    }
  });

  it('past the turns an ingress holds open, answers 503 with Retry-After at once, recording nothing', async () => {
    const port = await freePort();
    t.cluster.startReplica('ingress', { PORT: String(port), PARLEY_MAX_OPEN_TURNS: '4' });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/readyz`).catch(() => null))?.ok, { what: 'the small ingress', timeoutMs: 30_000 });
    const { sessionId } = (await t.post('/v1/sessions', {})).body;
    const settled: { status: number; retryAfter: string | null; body: any }[] = [];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        fetch(`${base}/v1/sessions/${sessionId}/turns`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ text: `overload ${i}`, mode: 'stateful' }),
        }).then(
          async (res) => void settled.push({ status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() }),
        ),
      ),
    );
    const refused = settled.filter((r) => r.status === 503);
    expect(settled.filter((r) => r.status === 200)).toHaveLength(4);
    expect(refused).toHaveLength(8);
    // refused at once: every refusal came back before any accepted turn was answered
    expect(settled.slice(0, 8).every((r) => r.status === 503)).toBe(true);
    expect(refused[0]).toMatchObject({
      retryAfter: '1',
      body: { error: { code: 'SERVICE.OVERLOADED', details: { retryAfterSeconds: 1 } } },
    });
    const said = (await store.readStream(`session-${sessionId}`)).filter((e) => e.type === 'UserMessageReceived');
    expect(said).toHaveLength(4);
  });
});
