import type { RecordedEvent } from '@parley/contracts';
import { conversationChange, replyItemId, responseDeleted } from './conversation-items';
import { buildStatefulContext } from './llm-context';
import { eventRecorder } from './recorded-events';
import { conversationItems, foldSession, type OpenSession } from './session.state';

const stream = eventRecorder();
const recorded = stream.record;
const TURN = '0b8f6a52-1c3d-4e5f-8a9b-0c1d2e3f4a5b';
const NEXT = '7d2c1b0a-9e8f-4a6b-8c5d-4e3f2a1b0c9d';

/** A conversation with seeded items, one answered turn whose reply called a tool, and the tool's result. */
function conversation(): RecordedEvent[] {
  stream.reset();
  return [
    recorded('SessionStarted', { sessionId: 's1', userId: null, metadata: { topic: 'booking' } }),
    recorded('ConversationItemsAdded', {
      items: [
        { role: 'user', content: 'My name is Ana' },
        { role: 'assistant', content: 'Hello Ana' },
      ],
    }),
    recorded('UserMessageReceived', { turnId: TURN, text: 'A table for two on Friday', requestedMode: 'auto' }),
    recorded('TurnRouted', { turnId: TURN, mode: 'stateful', route: 'llm', reason: 'session-default-stateful', features: {} }),
    recorded('AssistantReplied', {
      turnId: TURN,
      text: 'Let me look.',
      toolCalls: [{ id: 'call_1', name: 'find_table', arguments: '{"people":2}' }],
      model: 'm',
      usage: null,
      latencyMs: 3,
      contextMessages: 4,
      interrupted: null,
    }),
    recorded('UserMessageReceived', {
      turnId: NEXT,
      text: '',
      requestedMode: 'auto',
      context: [{ role: 'tool', toolCallId: 'call_1', content: '19:30 is free' }],
    }),
  ];
}

const open = (events: RecordedEvent[]) => foldSession(events).state as OpenSession;
const shape = (events: RecordedEvent[]) =>
  conversationItems(events).map((i) =>
    i.type === 'message' ? `${i.role}: ${i.text}` : i.type === 'function_call' ? `call ${i.call.name}` : `output ${i.output}`,
  );

describe('conversation items', () => {
  it('lists added items, messages, calls and outputs in log order, under ids that are the same on every read', () => {
    const events = conversation();
    expect(shape(events)).toEqual([
      'user: My name is Ana',
      'assistant: Hello Ana',
      'user: A table for two on Friday',
      'assistant: Let me look.',
      'call find_table',
      'output 19:30 is free',
    ]);
    expect(conversationItems(events).map((i) => i.id)).toEqual(conversationItems(conversation()).map((i) => i.id));
    expect(new Set(conversationItems(events).map((i) => i.id)).size).toBe(6);
    // a turn's reply is the item its response gave it
    expect(conversationItems(events)[3].id).toBe(replyItemId(TURN));
  });

  it('gives later turns the added items in their context', () => {
    const context = buildStatefulContext(open(conversation()), NEXT, 'sys');
    expect(context.map((m) => m.content)).toContain('My name is Ana');
  });

  it('leaves a deleted message out of the items and of later contexts', () => {
    const events = conversation();
    const ana = conversationItems(events)[0];
    events.push(recorded('ConversationItemDeleted', { itemId: ana.id }));
    expect(shape(events)).not.toContain('user: My name is Ana');
    expect(open(events).messages.map((m) => m.text)).not.toContain('My name is Ana');
  });

  it('deletes a function call together with its output, and keeps the text of the message that made it', () => {
    const events = conversation();
    const call = conversationItems(events).find((i) => i.type === 'function_call')!;
    events.push(recorded('ConversationItemDeleted', { itemId: call.id }));
    expect(shape(events)).toEqual([
      'user: My name is Ana',
      'assistant: Hello Ana',
      'user: A table for two on Friday',
      'assistant: Let me look.',
    ]);
    expect(open(events).messages.some((m) => m.role === 'tool' || m.toolCalls)).toBe(false);
  });

  it('deleting the text of a message that called tools keeps the calls', () => {
    const events = conversation();
    events.push(recorded('ConversationItemDeleted', { itemId: replyItemId(TURN) }));
    expect(shape(events)).toEqual([
      'user: My name is Ana',
      'assistant: Hello Ana',
      'user: A table for two on Friday',
      'call find_table',
      'output 19:30 is free',
    ]);
  });

  it('ignores an id the conversation does not have', () => {
    const events = conversation();
    const before = open(events).messages;
    events.push(recorded('ConversationItemDeleted', { itemId: 'msg_nope' }));
    expect(open(events).messages).toEqual(before);
  });

  it('lists messages the rolling summary folded away, which later contexts no longer carry', () => {
    const events = conversation();
    events.push(
      recorded('ConversationSummarized', {
        turnId: TURN,
        summary: 'Ana wants a table.',
        throughVersion: 5,
        summarizedMessages: 4,
        model: 'm',
        usage: null,
      }),
    );
    expect(open(events).messages.map((m) => m.text)).toEqual(['19:30 is free']);
    expect(shape(events)).toHaveLength(6);
  });

  it('replaces the metadata, and records when the conversation was deleted', () => {
    const events = conversation();
    events.push(recorded('SessionMetadataUpdated', { metadata: { topic: 'complaint' } }), recorded('ConversationDeleted', {}));
    const state = open(events);
    expect(state.metadata).toEqual({ topic: 'complaint' });
    expect(state.deletedAt).toBe(events.at(-1)!.recordedAt);
  });

  it('records a change under the id the caller derived, and a response deletion once per response', () => {
    expect(conversationChange('ConversationItemDeleted', { itemId: 'msg_1' }, 'acme', 'e-1')).toEqual({
      eventId: 'e-1',
      type: 'ConversationItemDeleted',
      data: { itemId: 'msg_1' },
      metadata: { tenantId: 'acme', correlationId: 'e-1' },
    });
    const first = responseDeleted('acme', 'resp_1', TURN);
    expect(first).toMatchObject({ type: 'ResponseDeleted', data: { turnId: TURN } });
    expect(responseDeleted('acme', 'resp_1', TURN).eventId).toBe(first.eventId);
    expect(responseDeleted('other', 'resp_1', TURN).eventId).not.toBe(first.eventId);
  });
});
