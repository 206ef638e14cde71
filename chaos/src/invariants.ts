import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { eventsStreamName, sessionStreamId, type RecordedEvent } from '@parley/contracts';
import { isDeepStrictEqual } from 'node:util';
import { foldSession, rebuiltContext, recordedTurns } from '@parley/conversation';
import { EventStore, SessionProjectionRepository, type Database } from '@parley/event-store';
import { listDeadLetters } from '@parley/messaging';
import type { ChatRequest } from '@parley/testing';
import type { TurnRecord } from './clients';

export interface Invariant {
  name: string;
  ok: boolean;
  /** What was seen, in numbers, and the first few violations if any. */
  detail: string;
}

const first = (items: string[]) => (items.length ? `; e.g. ${items.slice(0, 3).join(' | ')}` : '');

/**
 * What must hold after any fault: every turn a client was answered for is in the log once with one
 * outcome, and that outcome is what the client got; no turn has two; each session's turns are in
 * the order they were sent; every reply was built from a state holding every earlier turn's
 * outcome, and what the model received is exactly the context the log rebuilds for it (the
 * replay's own check: summary, recent turns question-then-answer, the recorded digest); every
 * session's read model equals a fresh fold of its log; no consumer is left with work; nothing sits
 * in the dead letters.
 */
export async function checkInvariants(input: {
  database: Database;
  nc: NatsConnection;
  prefix: string;
  sessions: string[];
  turns: TurnRecord[];
  llmRequests: ChatRequest[];
  /** The responder's system prompt, to rebuild contexts with. */
  systemPrompt: string;
}): Promise<Invariant[]> {
  const { database, nc, prefix, sessions, turns } = input;
  const store = new EventStore(database.db);
  const logs = new Map<string, RecordedEvent[]>();
  for (const sessionId of sessions) logs.set(sessionId, await store.readStream(sessionStreamId(sessionId)));

  const answered = turns.filter((t) => t.status === 200);
  const once: string[] = [];
  for (const turn of answered) {
    const events = logs.get(turn.sessionId)!;
    const messages = events.filter((e) => e.type === 'UserMessageReceived' && e.data.turnId === turn.turnId);
    const outcomes = events.filter((e) => (e.type === 'AssistantReplied' || e.type === 'TurnFailed') && e.data.turnId === turn.turnId);
    const reply = outcomes[0]?.type === 'AssistantReplied' ? outcomes[0].data.text : null;
    if (messages.length !== 1 || outcomes.length !== 1 || reply !== turn.reply)
      once.push(`${turn.text}: ${messages.length} message(s), ${outcomes.length} outcome(s)`);
  }

  const doubled: string[] = [];
  const order: string[] = [];
  const contexts: string[] = [];
  const requestsByQuestion = new Map<string, string[]>();
  for (const request of input.llmRequests) {
    const question = String(request.messages.at(-1)?.content ?? '');
    requestsByQuestion.set(question, [
      ...(requestsByQuestion.get(question) ?? []),
      JSON.stringify(request.messages.map((m) => [m.role, String(m.content ?? '')])),
    ]);
  }
  let checked = 0;
  for (const [sessionId, events] of logs) {
    const asked = events.filter((e): e is RecordedEvent<'UserMessageReceived'> => e.type === 'UserMessageReceived');
    const outcomes = events.filter((e) => e.type === 'AssistantReplied' || e.type === 'TurnFailed') as RecordedEvent<
      'AssistantReplied' | 'TurnFailed'
    >[];
    const byTurn = new Map<string, number>();
    for (const o of outcomes) byTurn.set(o.data.turnId, (byTurn.get(o.data.turnId) ?? 0) + 1);
    for (const [turnId, n] of byTurn) if (n > 1) doubled.push(`${sessionId} turn ${turnId}: ${n} outcomes`);
    // sent one after another by one client: the log holds them in that order
    const indexes = asked.map((e) => Number(/ turn (\d+)$/.exec(e.data.text)?.[1] ?? -1));
    if (indexes.some((n, i) => i > 0 && n <= indexes[i - 1])) order.push(`${sessionId}: ${indexes.join(',')}`);
    const outcomeVersion = new Map(outcomes.map((o) => [o.data.turnId, o.version]));
    const earlier: number[] = [];
    for (const turn of recordedTurns(events)) {
      const reply = turn.outcome;
      if (reply?.type === 'AssistantReplied' && reply.data.stateVersion !== undefined) {
        checked++;
        // built once every earlier turn had its outcome in the log
        if (earlier.some((v) => v > reply.data.stateVersion!))
          contexts.push(`${turn.message.data.text}: built from v${reply.data.stateVersion}, before an earlier outcome`);
        const rebuilt = rebuiltContext(turn, input.systemPrompt, null);
        if (!rebuilt || rebuilt.digest !== rebuilt.recorded)
          contexts.push(`${turn.message.data.text}: the context rebuilt from the log differs from the one recorded`);
        // and it is what the model received
        const sent = requestsByQuestion.get(turn.message.data.text) ?? [];
        if (rebuilt && !sent.includes(JSON.stringify(rebuilt.messages.map((m) => [m.role, String(m.content ?? '')]))))
          contexts.push(`${turn.message.data.text}: the model was not given the context the log rebuilds`);
      }
      const at = outcomeVersion.get(turn.turnId);
      if (at !== undefined) earlier.push(at);
    }
  }

  const projections = new SessionProjectionRepository(database.db);
  const stale: string[] = [];
  let rows = 0;
  for (const [sessionId, events] of logs) {
    const row = await projections.load(sessionStreamId(sessionId));
    if (!row) continue;
    rows++;
    // as stored: through JSON (Postgres orders a jsonb's keys its own way, and drops nothing else)
    const fresh = JSON.parse(JSON.stringify(foldSession(events.filter((e) => e.version <= row.version)).state));
    if (!isDeepStrictEqual(fresh, row.state)) stale.push(`${sessionId}@${row.version}`);
  }

  const jsm = await jetstreamManager(nc);
  const stuck: string[] = [];
  for (const durable of ['router', 'responder', 'session-projector']) {
    const info = await jsm.consumers.info(eventsStreamName(prefix), durable);
    if (info.num_pending || info.num_ack_pending)
      stuck.push(`${durable}: ${info.num_pending} pending, ${info.num_ack_pending} unacknowledged`);
  }
  const letters = await listDeadLetters(jsm, prefix);

  return [
    {
      name: 'every turn answered with 200 is in the log once, with one outcome: the one the client got',
      ok: once.length === 0,
      detail: `${answered.length} turns checked${first(once)}`,
    },
    { name: 'no turn has two outcomes', ok: doubled.length === 0, detail: `${sessions.length} sessions${first(doubled)}` },
    {
      name: "each session's turns are in the log in the order they were sent",
      ok: order.length === 0,
      detail: `${sessions.length} sessions${first(order)}`,
    },
    {
      name: 'every reply saw every earlier turn answered, and the model got the context the log rebuilds',
      ok: contexts.length === 0,
      detail: `${checked} replies, ${input.llmRequests.length} LLM calls${first(contexts)}`,
    },
    { name: 'every read model equals a fresh fold of its log', ok: stale.length === 0, detail: `${rows} rows${first(stale)}` },
    {
      name: 'no consumer is left with work',
      ok: stuck.length === 0,
      detail: stuck.length ? stuck.join('; ') : 'router, responder, session-projector: 0 pending',
    },
    {
      name: 'nothing in the dead letters',
      ok: letters.length === 0,
      detail: `${letters.length} letters${first(letters.map((l) => `${l.service}: ${l.reason}`))}`,
    },
  ];
}
