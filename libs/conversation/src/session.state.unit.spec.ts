import type { RecordedEvent } from '@parley/contracts';
import { eventRecorder } from './recorded-events';
import { buildStatefulContext, buildStatelessContext } from './llm-context';
import { evolveSession, foldSession, initialSessionState, routingHistory, SessionFolder, type SessionState } from './session.state';

const stream = eventRecorder();
const recorded = stream.record;

const given = (...events: RecordedEvent[]) => ({
  then: (check: (state: SessionState) => void) => check(events.reduce(evolveSession, initialSessionState())),
});

function twoTurnConversation(): RecordedEvent[] {
  stream.reset();
  return [
    recorded('SessionStarted', { sessionId: 's1', userId: 'u1', metadata: { channel: 'voice' } }),
    recorded('UserMessageReceived', { turnId: 't1', text: 'I need a table for two', requestedMode: 'auto' }),
    recorded('TurnRouted', { turnId: 't1', mode: 'stateful', route: 'llm', reason: 'session-default-stateful', features: {} }),
    recorded('AssistantReplied', {
      turnId: 't1',
      text: 'For when?',
      model: 'm',
      usage: null,
      latencyMs: 3,
      contextMessages: 2,
      interrupted: null,
    }),
    recorded('UserMessageReceived', { turnId: 't2', text: 'Friday at 7', requestedMode: 'auto' }),
    recorded('TurnRouted', { turnId: 't2', mode: 'stateful', route: 'llm', reason: 'session-default-stateful', features: {} }),
  ];
}

describe('evolveSession', () => {
  it('starts with no session', () => {
    expect(initialSessionState()).toEqual({ status: 'none' });
  });

  it('opens a session with its user and metadata', () => {
    stream.reset();
    given(recorded('SessionStarted', { sessionId: 's1', userId: null, metadata: { a: 1 } })).then((state) => {
      expect(state).toMatchObject({ status: 'open', sessionId: 's1', userId: null, metadata: { a: 1 }, messages: [] });
    });
  });

  it('keeps the transcript in log order and tracks each turn', () => {
    given(...twoTurnConversation()).then((state) => {
      if (state.status !== 'open') throw new Error('expected open');
      expect(state.messages.map((m) => [m.role, m.text, m.turnId])).toEqual([
        ['user', 'I need a table for two', 't1'],
        ['assistant', 'For when?', 't1'],
        ['user', 'Friday at 7', 't2'],
      ]);
      expect(state.turns).toEqual([
        {
          turnId: 't1',
          status: 'replied',
          mode: 'stateful',
          route: 'llm',
          intent: null,
          reason: 'session-default-stateful',
          error: null,
          interrupted: null,
          heard: null,
        },
        {
          turnId: 't2',
          status: 'routed',
          mode: 'stateful',
          route: 'llm',
          intent: null,
          reason: 'session-default-stateful',
          error: null,
          interrupted: null,
          heard: null,
        },
      ]);
    });
  });

  it('records a failed turn without adding an assistant message', () => {
    const events = twoTurnConversation();
    events.push(recorded('TurnFailed', { turnId: 't2', code: 'LLM.TIMEOUT', message: 'slow' }));
    given(...events).then((state) => {
      if (state.status !== 'open') throw new Error('expected open');
      expect(state.messages).toHaveLength(3);
      expect(state.turns[1]).toMatchObject({ status: 'failed', error: { code: 'LLM.TIMEOUT', message: 'slow' } });
    });
  });

  it('ignores turn events that arrive before the session started', () => {
    stream.reset(1);
    given(recorded('UserMessageReceived', { turnId: 't', text: 'x', requestedMode: 'auto' })).then((state) =>
      expect(state).toEqual({ status: 'none' }),
    );
  });
});

describe('usage', () => {
  it('adds the tokens of each reply to the kind of answer its turn got', () => {
    const events = twoTurnConversation();
    events.push(
      recorded('AssistantReplied', {
        turnId: 't2',
        text: 'Booked.',
        model: 'm',
        usage: { promptTokens: 40, completionTokens: 3 },
        latencyMs: 1,
        contextMessages: 4,
        interrupted: null,
      }),
    );
    events.push(recorded('UserMessageReceived', { turnId: 't3', text: 'opening hours?', requestedMode: 'auto' }));
    events.push(
      recorded('TurnRouted', { turnId: 't3', mode: 'stateless', route: 'faq', reason: 'faq-confident', features: { intent: 'hours' } }),
    );
    events.push(
      recorded('AssistantReplied', {
        turnId: 't3',
        text: '9 to 5',
        model: 'kb:v1',
        usage: null,
        latencyMs: 0,
        contextMessages: 0,
        interrupted: null,
      }),
    );
    const { state } = foldSession(events);
    if (state.status !== 'open') throw new Error('expected open');
    expect(state.usage).toEqual({
      faq: { turns: 1, promptTokens: 0, completionTokens: 0 },
      stateless: { turns: 0, promptTokens: 0, completionTokens: 0 },
      stateful: { turns: 2, promptTokens: 40, completionTokens: 3 },
    });
    expect(state.turns[2]).toMatchObject({ route: 'faq', intent: 'hours', status: 'replied' });
  });
});

describe('routingHistory', () => {
  it('counts the stateful LLM turns before this one, names the last, and what the user said before it', () => {
    const { state } = foldSession(twoTurnConversation());
    expect(routingHistory(state, 't2')).toEqual({
      llmTurns: 1,
      lastTurn: { route: 'llm', intent: null },
      previousText: 'I need a table for two',
    });
    expect(routingHistory(state, 't1')).toEqual({ llmTurns: 0, lastTurn: null, previousText: null });
  });
});

describe('foldSession', () => {
  it('folding on top of a partial state equals folding everything', () => {
    const events = twoTurnConversation();
    const whole = foldSession(events);
    const partial = foldSession(events.slice(0, 3));
    expect(foldSession(events, partial)).toEqual(whole);
    expect(whole.version).toBe(6);
  });

  it('skips events the state already reflects, so redelivery changes nothing', () => {
    const events = twoTurnConversation();
    const once = foldSession(events);
    expect(foldSession([...events, events[1], events[3]], once)).toEqual(once);
  });

  it('never changes a state it was given, however many events follow', () => {
    const events = twoTurnConversation();
    events.push(
      recorded('AssistantReplied', {
        turnId: 't2',
        text: 'Booked.',
        model: 'm',
        usage: { promptTokens: 9, completionTokens: 2 },
        latencyMs: 3,
        contextMessages: 4,
        interrupted: null,
      }),
      recorded('ReplyInterrupted', { turnId: 't2', spokenText: 'Boo' }),
      recorded('ConversationSummarized', {
        turnId: 't2',
        model: 'm',
        summary: 'A table for two on Friday.',
        throughVersion: 4,
        summarizedMessages: 2,
        usage: { promptTokens: 5, completionTokens: 1 },
      }),
    );
    const partial = foldSession(events.slice(0, 4));
    const before = structuredClone(partial);
    const whole = foldSession(events, partial);
    expect(partial).toEqual(before);
    // one event at a time through the pure step gives the same state as the fold
    expect(whole.state).toEqual(events.slice(4).reduce(evolveSession, partial.state));
    expect(partial).toEqual(before);
  });

  it('a folder fed events one at a time hands out states later events do not change', () => {
    const events = twoTurnConversation();
    const folder = new SessionFolder();
    events.slice(0, 3).forEach((e) => folder.add(e));
    const early = folder.result();
    const snapshot = structuredClone(early);
    events.slice(3).forEach((e) => folder.add(e));
    expect(early).toEqual(snapshot);
    expect(folder.at).toBe(6);
    expect(folder.result()).toEqual(foldSession(events));
  });
});

describe('buildStatefulContext', () => {
  it('gives the system prompt and the transcript up to this turn', () => {
    const { state } = foldSession(twoTurnConversation());
    expect(buildStatefulContext(state, 't2', 'be brief')).toEqual([
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'I need a table for two' },
      { role: 'assistant', content: 'For when?' },
      { role: 'user', content: 'Friday at 7' },
    ]);
  });

  it('leaves out turns that arrived after this one', () => {
    const { state } = foldSession(twoTurnConversation());
    expect(buildStatefulContext(state, 't1', 'p')).toEqual([
      { role: 'system', content: 'p' },
      { role: 'user', content: 'I need a table for two' },
    ]);
  });

  it('puts a reply recorded after the next question right after its own question', () => {
    stream.reset();
    const events = [
      recorded('SessionStarted', { sessionId: 's1', userId: null, metadata: {} }),
      recorded('UserMessageReceived', { turnId: 't1', text: 'first', requestedMode: 'auto' }),
      recorded('TurnRouted', { turnId: 't1', mode: 'stateful', route: 'llm', reason: 'r', features: {} }),
      recorded('UserMessageReceived', { turnId: 't2', text: 'second, while the first was answered', requestedMode: 'auto' }),
      recorded('TurnRouted', { turnId: 't2', mode: 'stateful', route: 'llm', reason: 'r', features: {} }),
      recorded('AssistantReplied', {
        turnId: 't1',
        text: 'answer to first',
        model: 'm',
        usage: null,
        latencyMs: 1,
        contextMessages: 2,
        interrupted: null,
      }),
    ];
    const { state } = foldSession(events);
    expect(buildStatefulContext(state, 't2', 'p').map((m) => m.content)).toEqual([
      'p',
      'first',
      'answer to first',
      'second, while the first was answered',
    ]);
    expect(buildStatefulContext(state, 't1', 'p').map((m) => m.content)).toEqual(['p', 'first']);
  });

  it('refuses a turn the state does not hold yet', () => {
    const { state } = foldSession(twoTurnConversation());
    expect(() => buildStatefulContext(state, 't9', 'p')).toThrow(expect.objectContaining({ code: 'TURN.NOT_IN_STATE' }));
    expect(() => buildStatefulContext({ status: 'none' }, 't1', 'p')).toThrow(expect.objectContaining({ code: 'SESSION.NOT_FOUND' }));
  });

  it('a stateless context is the request alone', () => {
    expect(buildStatelessContext('hi', 'p')).toEqual([
      { role: 'system', content: 'p' },
      { role: 'user', content: 'hi' },
    ]);
  });
});

describe('barge-in', () => {
  it('replaces the reply with what the user heard, for every later context', () => {
    const events = twoTurnConversation().slice(0, 4);
    events.push(recorded('ReplyInterrupted', { turnId: 't1', spokenText: 'For' }));
    events.push(recorded('UserMessageReceived', { turnId: 't2', text: 'Friday at 7', requestedMode: 'auto' }));
    const { state } = foldSession(events);
    expect(buildStatefulContext(state, 't2', 'p').map((m) => m.content)).toEqual(['p', 'I need a table for two', 'For', 'Friday at 7']);
    if (state.status !== 'open') throw new Error('expected open');
    expect(state.turns[0]).toMatchObject({ turnId: 't1', interrupted: 'barge-in', heard: 'For' });
  });

  it('applies a barge-in recorded while the reply was still being generated', () => {
    stream.reset();
    const events = [
      recorded('SessionStarted', { sessionId: 's1', userId: null, metadata: {} }),
      recorded('UserMessageReceived', { turnId: 't1', text: 'tell me everything', requestedMode: 'auto' }),
      recorded('ReplyInterrupted', { turnId: 't1', spokenText: 'Well, first' }),
      recorded('AssistantReplied', {
        turnId: 't1',
        text: 'Well, first of all',
        model: 'm',
        usage: null,
        latencyMs: 1,
        contextMessages: 2,
        interrupted: 'barge-in',
      }),
    ];
    const { state } = foldSession(events);
    if (state.status !== 'open') throw new Error('expected open');
    expect(state.messages.map((m) => m.text)).toEqual(['tell me everything', 'Well, first']);
  });
});
