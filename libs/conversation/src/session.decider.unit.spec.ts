/** Starting and forking sessions, and a user's memory set through the API, as specifications. */
import { eventRecorder } from './recorded-events';
import { forked, started } from './session.decider';
import { foldSession } from './session.state';
import { foldUserMemory, forgottenByApi, rememberedByApi } from './user-memory.state';

const ids = () => {
  let n = 0;
  return () => `id-${++n}`;
};

describe('starting a session', () => {
  it('records who it belongs to and what it carries, correlated by its own id unless told', () => {
    expect(started({ sessionId: 's1', tenantId: 'acme', userId: 'u1', metadata: { channel: 'voice' } }, ids())).toEqual({
      eventId: 'id-1',
      type: 'SessionStarted',
      data: { sessionId: 's1', userId: 'u1', metadata: { channel: 'voice' } },
      metadata: { tenantId: 'acme', correlationId: 's1' },
    });
    expect(started({ sessionId: 's1', tenantId: 'acme', userId: null, metadata: {}, correlationId: 'req-9' }, ids()).metadata).toEqual({
      tenantId: 'acme',
      correlationId: 'req-9',
    });
  });
});

describe('forking a session', () => {
  const original = eventRecorder('session-s1');
  const history = [
    original.record('SessionStarted', { sessionId: 's1', userId: 'u1', metadata: { plan: 'gold' } }),
    original.record('UserMessageReceived', { turnId: 't1', text: 'Book a table for two', requestedMode: 'auto' }),
    original.record('TurnRouted', { turnId: 't1', mode: 'stateful', route: 'llm', reason: 'r', features: {} }),
    original.record('AssistantReplied', {
      turnId: 't1',
      text: 'For when?',
      model: 'm',
      usage: null,
      latencyMs: 1,
      contextMessages: 2,
      interrupted: null,
    }),
    original.record('UserMessageReceived', { turnId: 't2', text: 'Friday at eight', requestedMode: 'auto' }),
  ];

  it('gives the fork the conversation as it stood at the version: folded, it holds the same messages', () => {
    const at = foldSession(history.slice(0, 4)).state;
    if (at.status !== 'open') throw new Error('not open');
    const events = forked(at, { sessionId: 's1', atVersion: 4 }, { sessionId: 'f1', tenantId: 'acme' }, ids());
    expect(events.map((e) => e.type)).toEqual(['SessionStarted', 'SessionForked']);
    expect(events[1].data).toMatchObject({ fromSessionId: 's1', atVersion: 4, summary: null, llmTurns: 1 });
    const fork = eventRecorder('session-f1');
    const { state } = foldSession(events.map((e) => fork.record(e.type, e.data as never)));
    if (state.status !== 'open') throw new Error('not open');
    expect(state).toMatchObject({ sessionId: 'f1', userId: 'u1', metadata: { plan: 'gold' }, llmTurns: 1 });
    expect(state.messages.map((m) => [m.role, m.text])).toEqual([
      ['user', 'Book a table for two'],
      ['assistant', 'For when?'],
    ]);
  });
});

describe("a user's memory through the API", () => {
  it('records one fact per name, and forgets only a fact it holds', () => {
    const user = eventRecorder('user-acme-u1');
    const put = rememberedByApi('acme', { home_station: 'Didcot', seat: 'aisle' }, ids());
    expect(put.map((e) => [e.type, e.data.name, e.data.value, e.data.source])).toEqual([
      ['MemoryRemembered', 'home_station', 'Didcot', 'api'],
      ['MemoryRemembered', 'seat', 'aisle', 'api'],
    ]);
    const memory = foldUserMemory(put.map((e) => user.record(e.type, e.data)));
    expect(forgottenByApi(memory, 'acme', 'seat', ids())).toMatchObject({ type: 'MemoryForgotten', data: { name: 'seat', source: 'api' } });
    expect(forgottenByApi(memory, 'acme', 'window', ids())).toBeUndefined();
    // not a fact, whatever an object inherits
    expect(forgottenByApi(memory, 'acme', 'toString', ids())).toBeUndefined();
  });
});
