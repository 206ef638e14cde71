/** The turn decider, as specifications: given the session's events, when a turn comes up, then what may happen. */
import type { RecordedEvent } from '@parley/contracts';
import { eventRecorder } from './recorded-events';
import { foldSession } from './session.state';
import {
  admitAnswer,
  admitInterrupt,
  admitRouting,
  expired,
  failed,
  gaveUp,
  interrupted,
  isIdle,
  outcomeIdOf,
  received,
  receivedWithRouting,
  replied,
  superseded,
  TURN_UNANSWERED,
} from './turn.decider';

const stream = eventRecorder();
const { record } = stream;
const start = () => {
  stream.reset();
  return [record('SessionStarted', { sessionId: 's1', userId: null, metadata: {} })];
};
const asked = (turnId: string) => record('UserMessageReceived', { turnId, text: `question ${turnId}`, requestedMode: 'auto' });
const routed = (turnId: string, mode: 'stateful' | 'stateless' = 'stateful', route: 'llm' | 'faq' = 'llm') =>
  record('TurnRouted', { turnId, mode, route, reason: 'r', features: {} });
const answered = (turnId: string) =>
  record('AssistantReplied', {
    turnId,
    text: `answer ${turnId}`,
    model: 'm',
    usage: null,
    latencyMs: 1,
    contextMessages: 1,
    interrupted: null,
  });
const failedTurn = (turnId: string) => record('TurnFailed', { turnId, code: 'LLM.TIMEOUT', message: 'slow' });
const given = (events: RecordedEvent[]) => foldSession(events).state;

describe('admitting a stateful turn to be answered', () => {
  it('answers it when every earlier turn has an outcome', () => {
    const state = given([
      ...start(),
      asked('a'),
      routed('a'),
      answered('a'),
      asked('b'),
      routed('b'),
      failedTurn('b'),
      asked('c'),
      routed('c'),
    ]);
    expect(admitAnswer(state, 'c', 'queue')).toEqual({ kind: 'answer' });
  });

  it('makes it wait for earlier turns without an outcome — routed or not yet — whatever the bus delivered first', () => {
    const state = given([...start(), asked('a'), routed('a'), asked('b'), asked('c'), routed('c')]);
    expect(admitAnswer(state, 'c', 'queue')).toEqual({ kind: 'wait', for: ['a', 'b'] });
    expect(admitAnswer(state, 'c', 'interrupt')).toEqual({ kind: 'wait', for: ['a', 'b'] }); // the earlier reply is being cut: its outcome first
  });

  it('does not wait for a knowledge base answer (recorded with its routing) nor for later turns under queue', () => {
    const state = given([...start(), asked('a'), routed('a', 'stateless', 'faq'), answered('a'), asked('b'), routed('b'), asked('c')]);
    expect(admitAnswer(state, 'b', 'queue')).toEqual({ kind: 'answer' });
  });

  it('under interrupt, records a turn as superseded when the user spoke again before its reply began', () => {
    const state = given([...start(), asked('a'), routed('a'), asked('b')]);
    expect(admitAnswer(state, 'a', 'interrupt')).toEqual({ kind: 'superseded' });
    expect(admitAnswer(state, 'a', 'queue')).toEqual({ kind: 'answer' });
  });

  it('finds a redelivered turn answered', () => {
    const state = given([...start(), asked('a'), routed('a'), answered('a')]);
    expect(admitAnswer(state, 'a', 'queue')).toEqual({ kind: 'answered' });
  });
});

describe('admitting a message to be routed with its history', () => {
  it('routes it once every earlier message is routed, and makes it wait otherwise', () => {
    expect(admitRouting(given([...start(), asked('a'), routed('a'), asked('b')]), 'b')).toEqual({ kind: 'route' });
    expect(admitRouting(given([...start(), asked('a'), asked('b')]), 'b')).toEqual({ kind: 'wait', for: ['a'] });
    expect(admitRouting(given([...start(), asked('a'), failedTurn('a'), asked('b')]), 'b')).toEqual({ kind: 'route' }); // given up on: not waited for
  });
});

describe('what records a turn’s outcome', () => {
  const events = [...start(), asked('a')];
  const routing = routed('a') as RecordedEvent<'TurnRouted'>;
  const base = {
    text: 'hi',
    model: 'm',
    usage: null,
    latencyMs: 3,
    contextMessages: 2,
    contextDigest: 'd',
    interrupted: null,
    toolCalls: [],
  };

  it('derives one id from the routing, whatever the outcome, so a turn is recorded once', () => {
    const ids = [
      replied(routing, base).eventId,
      failed(routing, { code: 'LLM.TIMEOUT', message: 'x' }).eventId,
      superseded(routing).eventId,
      gaveUp({ eventId: events[1].eventId, turnId: 'a', metadata: routing.metadata }, routing.eventId).eventId,
    ];
    expect(new Set(ids)).toEqual(new Set([outcomeIdOf(routing)]));
  });

  it('records the state the context was built from, and only the messages that did not fit when some did not', () => {
    expect(replied(routing, { ...base, stateVersion: 3, droppedMessages: 0 }).data).toEqual({
      turnId: 'a',
      ...base,
      toolCalls: undefined,
      stateVersion: 3,
    } as never);
    expect(replied(routing, { ...base, stateVersion: 3, droppedMessages: 4 }).data).toMatchObject({ stateVersion: 3, droppedMessages: 4 });
  });

  it('gives up on a message never routed under an id of its own, with a stable code and no user text', () => {
    const message = events[1] as RecordedEvent<'UserMessageReceived'>;
    const failure = gaveUp({ eventId: message.eventId, turnId: 'a', metadata: message.metadata });
    expect(failure.eventId).not.toBe(outcomeIdOf(routing));
    expect(failure.data).toEqual({ turnId: 'a', code: TURN_UNANSWERED, message: expect.not.stringContaining('question') });
  });
});

describe('a barge-in on a reply', () => {
  it('records what was heard of a replied turn, and stops a reply still being generated', () => {
    const state = given([...start(), asked('a'), routed('a'), answered('a'), asked('b'), routed('b')]);
    expect(admitInterrupt(state, 'a')).toEqual({ kind: 'record', stop: false });
    expect(admitInterrupt(state, 'b')).toEqual({ kind: 'record', stop: true });
  });

  it('refuses a failed turn (no reply to interrupt) and one the session does not have', () => {
    const state = given([...start(), asked('a'), routed('a'), failedTurn('a')]);
    expect(admitInterrupt(state, 'a')).toEqual({ kind: 'failed' });
    expect(admitInterrupt(state, 'zzz')).toEqual({ kind: 'unknown' });
  });

  it('is one event per turn: a repeat has the same id, so the log keeps the first', () => {
    const first = interrupted('session-s1', 'acme', 'a', 'Once upon');
    expect(first).toMatchObject({
      type: 'ReplyInterrupted',
      data: { turnId: 'a', spokenText: 'Once upon' },
      metadata: { tenantId: 'acme', correlationId: 'a' },
    });
    expect(interrupted('session-s1', 'acme', 'a', 'Once upon a time').eventId).toBe(first.eventId);
    expect(interrupted('session-s1', 'acme', 'b', 'Once upon').eventId).not.toBe(first.eventId);
  });
});

describe('recording a message', () => {
  const ids = () => {
    let n = 0;
    return () => `id-${++n}`;
  };
  const asking = { tenantId: 'acme', sessionId: 's1', text: 'hello', mode: 'auto' as const, replyTo: 'parley.replies.i1' };

  it('gives a fresh request fresh ids, in the session stream, with where the answer goes', () => {
    const { streamId, message } = received(asking, ids());
    expect(streamId).toBe('session-s1');
    expect(message).toEqual({
      eventId: 'id-2',
      type: 'UserMessageReceived',
      data: { turnId: 'id-1', text: 'hello', requestedMode: 'auto' },
      metadata: { tenantId: 'acme', correlationId: 'id-1', replyTo: 'parley.replies.i1' },
    });
  });

  it('derives the ids of a request with an Idempotency-Key, so a retry meets the original (per tenant and session)', () => {
    const first = received({ ...asking, idempotencyKey: 'k1' }, ids());
    const retry = received({ ...asking, idempotencyKey: 'k1', text: 'hello again' }, ids());
    expect(retry.message.eventId).toBe(first.message.eventId);
    expect(retry.message.data.turnId).toBe(first.message.data.turnId);
    expect(first.message.metadata.idempotencyKey).toBe('k1');
    for (const other of [{ idempotencyKey: 'k2' }, { idempotencyKey: 'k1', tenantId: 'globex' }, { idempotencyKey: 'k1', sessionId: 's2' }])
      expect(received({ ...asking, ...other }, ids()).message.eventId).not.toBe(first.message.eventId);
  });

  it('gives a sessionless turn a stream of its own, and keeps the client context, tools and parameters it sent', () => {
    const context = [{ role: 'user' as const, content: 'before' }];
    const tools = [{ name: 'lookup', parameters: {} }];
    const { streamId, message } = received(
      { ...asking, sessionId: null, context, tools, instructions: 'Be brief.', generation: { temperature: 0.2 }, stream: true },
      ids(),
    );
    expect(streamId).toBe('turn-id-1');
    expect(message.data).toMatchObject({ context, tools, instructions: 'Be brief.', generation: { temperature: 0.2 } });
    expect(message.metadata.stream).toBe(true);
    // in a session, an empty client context adds nothing
    expect(received({ ...asking, context: [] }, ids()).message.data).not.toHaveProperty('context');
  });

  it('records a message routed as it arrives with its routing, a knowledge base answer naming no waiter', () => {
    const { message } = received({ ...asking, stream: true }, ids());
    const decision = { mode: 'stateless' as const, route: 'faq' as const, reason: 'faq-confident', features: {} };
    const match = { intent: 'card_arrival', confidence: 0.9, kbVersion: 3, answer: 'In a week.' };
    const events = receivedWithRouting(message, decision, match, true);
    expect(events.map((e) => e.type)).toEqual(['UserMessageReceived', 'TurnRouted', 'AssistantReplied']);
    expect(events[0].metadata).toEqual({ tenantId: 'acme', correlationId: 'id-1', routed: true });
    expect(events[2]).toMatchObject({ data: { text: 'In a week.', model: 'kb:v3' }, metadata: { causationId: events[1].eventId } });
    // for the LLM: the responder answers it on the bus, to the waiting ingress
    const forLlm = receivedWithRouting(message, { ...decision, route: 'llm' }, null);
    expect(forLlm.map((e) => e.type)).toEqual(['UserMessageReceived', 'TurnRouted']);
    expect(forLlm[1].metadata).toMatchObject({ replyTo: 'parley.replies.i1', stream: true, causationId: message.eventId });
  });
});

describe('expiring an idle session', () => {
  it('is idle once the tenant limit has passed since the last activity, by the clock it is given', () => {
    const last = '2026-11-30T10:00:00.000Z';
    expect(isIdle(last, Date.parse('2026-11-30T10:29:59.999Z'), 1800)).toBe(false);
    expect(isIdle(last, Date.parse('2026-11-30T10:30:00.000Z'), 1800)).toBe(true);
  });

  it('expires it as of its last activity, once, whichever replica notices', () => {
    const event = expired('session-s1', 'acme', '2026-11-30T10:00:00.000Z', 1800);
    expect(event).toMatchObject({ type: 'SessionExpired', data: { idleSeconds: 1800, lastActivityAt: '2026-11-30T10:00:00.000Z' } });
    expect(expired('session-s1', 'acme', '2026-11-30T10:00:00.000Z', 1800).eventId).toBe(event.eventId);
    expect(expired('session-s1', 'acme', '2026-11-30T11:00:00.000Z', 1800).eventId).not.toBe(event.eventId);
  });
});
