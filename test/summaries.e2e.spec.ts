/**
 * Summaries stay bounded and off the turn's path whatever the model returns: with the built-in
 * demo model, which echoes the user's last message — for a summary request, every message to
 * summarize, so a summary, unchecked, grows past the budget and every turn summarizes again —
 * over 300 turns, every turn makes one LLM call of its own, every input
 * stays within the budget, summaries come after the reply they follow and are cut to their share,
 * and none covers a message of a turn without an outcome. A model that fails every summary fails
 * no turn.
 */
import { SUMMARY_INSTRUCTIONS, contextTokens, countTokens, summaryShare } from '@parley/conversation';
import { connectDatabase, EventStore, type Database } from '@parley/event-store';
import type { RecordedEvent } from '@parley/contracts';
import { echoScript, startTestCluster, waitFor, type TestCluster } from '@parley/testing';

jest.setTimeout(240_000);

const BUDGET = 1_200;
const TURNS = 300;
const isSummaryCall = (messages: { role: string; content: unknown }[]) => messages[0]?.content === SUMMARY_INSTRUCTIONS;

describe('summaries with a model that echoes the user', () => {
  let t: TestCluster;
  let database: Database;
  let store: EventStore;
  /** Sessions whose summary calls fail. */
  const failing = new Set<string>();

  beforeAll(async () => {
    t = await startTestCluster({
      label: 'summaries',
      script: (request, index) => {
        const all = request.messages.map((m) => String(m.content ?? '')).join('\n');
        if (isSummaryCall(request.messages) && [...failing].some((tag) => all.includes(tag))) return { status: 500 };
        return echoScript(request, index);
      },
      env: { PARLEY_CONTEXT_BUDGET_TOKENS: String(BUDGET), PARLEY_LLM_MAX_RETRIES: '0', PARLEY_RATE_LIMIT_PER_MINUTE: '100000' },
    });
    database = await connectDatabase(t.db.url);
    store = new EventStore(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await t?.stop();
  });

  async function converse(tag: string): Promise<RecordedEvent[]> {
    const { sessionId } = (await t.post('/v1/sessions', {})).body;
    for (let i = 1; i <= TURNS; i++) {
      const res = await t.post(`/v1/sessions/${sessionId}/turns`, {
        text: `${tag} message ${i}: please keep my booking for Friday at seven.`,
        mode: 'stateful',
      });
      expect(res.status).toBe(200);
    }
    // the last summary may still be on its way: every summary call the model answered is recorded
    const answered = () =>
      t.llm.requests.filter((r) => isSummaryCall(r.messages) && r.messages.some((m) => String(m.content).includes(tag))).length;
    return waitFor(
      async () => {
        const events = await store.readStream(`session-${sessionId}`);
        const recorded = events.filter((e) => e.type === 'ConversationSummarized').length;
        return t.llm.inFlight === 0 && (failing.has(tag) || recorded === answered()) ? events : undefined;
      },
      { what: 'the summaries under way', timeoutMs: 15_000 },
    );
  }

  it('keeps one call per turn, every input within the budget, and summaries after their reply, cut to their share', async () => {
    const events = await converse('echo-a');
    const requests = t.llm.requests.filter((r) => r.messages.some((m) => String(m.content).includes('echo-a message')));
    const answers = requests.filter((r) => !isSummaryCall(r.messages));
    const summaryCalls = requests.filter((r) => isSummaryCall(r.messages));
    expect(answers).toHaveLength(TURNS); // one call per turn: no summary inside a turn, no retry
    for (const r of answers)
      expect(contextTokens(r.messages.map((m) => ({ role: m.role as 'user', content: String(m.content) })))).toBeLessThanOrEqual(BUDGET);

    const summaries = events.filter((e): e is RecordedEvent<'ConversationSummarized'> => e.type === 'ConversationSummarized');
    expect(summaries.length).toBeGreaterThan(10);
    expect(summaries.length).toBeLessThan(TURNS / 4); // every few turns, never on every one
    expect(summaryCalls.length).toBe(summaries.length);
    for (const request of summaryCalls) expect(request.max_tokens).toBe(summaryShare(BUDGET));
    const versionOf = new Map<string, number>();
    for (const e of events) if (e.type === 'AssistantReplied' || e.type === 'TurnFailed') versionOf.set(e.data.turnId as string, e.version);
    for (const summary of summaries) {
      // the echo is far longer than its share: cut to it, and said so
      expect(countTokens(summary.data.summary)).toBeLessThanOrEqual(summaryShare(BUDGET));
      expect(summary.data.truncated).toBe(true);
      // written after the reply of the turn it follows
      expect(summary.version).toBeGreaterThan(versionOf.get(summary.data.turnId)!);
      // every message it covers belongs to a turn whose outcome was recorded before it
      const covered = events.filter(
        (e): e is RecordedEvent<'UserMessageReceived'> => e.type === 'UserMessageReceived' && e.version <= summary.data.throughVersion,
      );
      for (const message of covered) expect(versionOf.get(message.data.turnId)!).toBeLessThan(summary.version);
    }
    // what a turn costs stays flat: the last 100 turns store no more than the first 100
    const bytes = (from: number, to: number) =>
      events.filter((e) => e.version >= from && e.version < to).reduce((n, e) => n + JSON.stringify(e.data).length, 0);
    const third = Math.floor(events.length / 3);
    expect(bytes(2 * third, events.length)).toBeLessThan(1.5 * bytes(0, third) + 10_000);
  });

  it('fails no turn and delays none when every summary call fails: turns see the recent turns that fit', async () => {
    failing.add('echo-b');
    const events = await converse('echo-b');
    expect(events.filter((e) => e.type === 'ConversationSummarized')).toEqual([]);
    expect(events.filter((e) => e.type === 'TurnFailed')).toEqual([]);
    const replies = events.filter((e): e is RecordedEvent<'AssistantReplied'> => e.type === 'AssistantReplied');
    expect(replies).toHaveLength(TURNS);
    expect(replies.some((e) => (e.data.droppedMessages ?? 0) > 0)).toBe(true); // the window did the work the summary could not
    const answers = t.llm.requests.filter(
      (r) => !isSummaryCall(r.messages) && r.messages.some((m) => String(m.content).includes('echo-b message')),
    );
    for (const r of answers)
      expect(contextTokens(r.messages.map((m) => ({ role: m.role as 'user', content: String(m.content) })))).toBeLessThanOrEqual(BUDGET);
  });
});
