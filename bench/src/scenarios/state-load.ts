import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sessionStreamId, type NewEvent } from '@parley/contracts';
import { foldSession, planSummary, type SessionState } from '@parley/conversation';
import { EventStore, loadSessionState, SessionProjectionRepository, type Database } from '@parley/event-store';
import { parseCsv } from '@parley/knowledge';
import { ms, timed, timedInTurns } from '../measure';
import type { ScenarioResult } from '../report';

const BUDGET = 6_000; // PARLEY_CONTEXT_BUDGET_TOKENS' default
const SUMMARY = 'The user is a retail banking customer. '.repeat(12).trim();

/**
 * Writes a session of `turns` stateful turns the way the services would: each turn's message,
 * routing and reply, and a `ConversationSummarized` after a reply whenever the responder's
 * summary policy would write one. The projection (the snapshot) is saved a turn behind the log, as a projector that lags
 * slightly would leave it, so every load reads the snapshot and a tail of events.
 */
async function writeSession(
  store: EventStore,
  projections: SessionProjectionRepository,
  turns: number,
  texts: string[][],
): Promise<string> {
  const sessionId = randomUUID();
  const streamId = sessionStreamId(sessionId);
  const meta = { tenantId: 'default' };
  let folded = foldSession(
    await store.append(
      streamId,
      'default',
      [{ eventId: randomUUID(), type: 'SessionStarted', data: { sessionId, userId: `bench-${sessionId}`, metadata: {} }, metadata: meta }],
      'no_stream',
      {
        newKey: { userId: `bench-${sessionId}` },
      },
    ),
  );
  let snapshot: { state: SessionState; version: number } = folded;
  for (let i = 0; i < turns; i++) {
    const turnId = randomUUID();
    const [question, answer] = texts[i % texts.length];
    const asked = await store.append(
      streamId,
      'default',
      [{ eventId: randomUUID(), type: 'UserMessageReceived', data: { turnId, text: question, requestedMode: 'auto' }, metadata: meta }],
      folded.version,
    );
    folded = foldSession(asked, folded);
    const events: NewEvent[] = [
      {
        eventId: randomUUID(),
        type: 'TurnRouted',
        data: { turnId, mode: 'stateful', route: 'llm', reason: 'session-default-stateful', features: {} },
        metadata: meta,
      },
    ];
    events.push({
      eventId: randomUUID(),
      type: 'AssistantReplied',
      data: {
        turnId,
        text: answer,
        model: 'bench',
        usage: { promptTokens: 500, completionTokens: 40 },
        latencyMs: 1,
        contextMessages: 10,
        interrupted: null,
      },
      metadata: meta,
    });
    snapshot = folded;
    folded = foldSession(await store.append(streamId, 'default', events, folded.version), folded);
    const due = planSummary(folded.state, BUDGET);
    if (due) {
      const { throughVersion, summarizedMessages } = due;
      const summary: NewEvent = {
        eventId: randomUUID(),
        type: 'ConversationSummarized',
        data: { turnId, summary: SUMMARY, throughVersion, summarizedMessages, model: 'bench', usage: null },
        metadata: meta,
      };
      folded = foldSession(await store.append(streamId, 'default', [summary], folded.version), folded);
    }
  }
  await projections.save(streamId, 'default', snapshot, new Date().toISOString());
  return sessionId;
}

/** Scenario 5: loading a session's state costs the same at 2,000 turns as at 20. */
export async function stateLoad(database: Database, root: string): Promise<ScenarioResult> {
  const questions = parseCsv(readFileSync(join(root, 'data/demo-bank/questions.csv'), 'utf8')).slice(1);
  const answers = JSON.parse(readFileSync(join(root, 'data/demo-bank/answers.json'), 'utf8')) as Record<string, string>;
  const texts = questions.map(([text, intent]) => [text, answers[intent] ?? 'Let me check that for you.']);
  const store = new EventStore(database.db);
  const projections = new SessionProjectionRepository(database.db);
  const sizes = [20, 2_000];
  const rows: (string | number)[][] = [];
  const figures: Record<string, unknown> = {};
  const loads = 400;
  const sessions = new Map<number, string>();
  for (const turns of sizes) sessions.set(turns, await writeSession(store, projections, turns, texts));
  // the sizes' loads take turns, so background work after the writes (an autovacuum) weighs on both alike
  const loadsOf = await timedInTurns(
    loads,
    50,
    Object.fromEntries(
      sizes.map((turns) => [String(turns), () => loadSessionState(new EventStore(database.db), projections, sessions.get(turns)!)]),
    ),
  );
  for (const turns of sizes) {
    const sessionId = sessions.get(turns)!;
    const streamId = sessionStreamId(sessionId);
    const snapshot = loadsOf[String(turns)];
    const fromLog = await timed(turns > 100 ? 20 : loads, 5, async () =>
      foldSession(await new EventStore(database.db).readStream(streamId)),
    );
    const size = await database.pool.query<{ bytes: number; version: number }>(
      'select pg_column_size(state)::int as bytes, version from session_projections where stream_id = $1',
      [streamId],
    );
    const events = (await store.readStream(streamId)).length;
    rows.push([turns, events, size.rows[0].bytes, ms(snapshot.p50), ms(snapshot.p99), ms(fromLog.p50)]);
    figures[`turns${turns}`] = { events, snapshotBytes: size.rows[0].bytes, snapshot, fromLog };
  }
  const small = figures.turns20 as { snapshot: { p50: number } };
  const large = figures.turns2000 as { snapshot: { p50: number } };
  const ratio = large.snapshot.p50 / small.snapshot.p50;
  figures.ratio = ratio;
  return {
    id: 'state-load',
    title: "5. Loading a session's state: 20 vs 2,000 turns",
    setup:
      `Sessions written as the services write them (summaries at a ${BUDGET}-token budget); the snapshot is one turn behind the log. ` +
      `Median of ${loads} loads of each (snapshot + tail, with a fresh key cache each time), the two sessions' loads taking turns, after 50 warm-up loads; folding the whole log shown for comparison.`,
    columns: ['turns', 'events', 'snapshot bytes', 'load p50 ms', 'load p99 ms', 'fold whole log p50 ms'],
    rows,
    targets: [{ target: '2,000-turn load ≤ 2× the 20-turn one', actual: `${ratio.toFixed(2)}×`, met: ratio <= 2 }],
    figures,
  };
}
