import { createHash } from 'node:crypto';
import type { NewEvent, RecordedEvent, ToolCallData } from '@parley/contracts';
import { derivedId } from './ids';
import type { TranscriptMessage } from './transcript';

/**
 * A conversation's transcript as OpenAI's Conversations API lists it: messages, the function
 * calls an assistant message made, and their outputs, each under an id that derives from where
 * it was said — the same on every read, and the same the Responses API gives a reply's items.
 */
export type TranscriptItem =
  | { id: string; type: 'message'; role: 'user' | 'assistant'; text: string; at: string }
  | { id: string; type: 'function_call'; call: ToolCallData; at: string }
  | { id: string; type: 'function_call_output'; callId: string; output: string; at: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const hashed = (prefix: string, ...parts: string[]) =>
  `${prefix}_${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 40)}`;

/** The item id of a turn's reply (`msg_<turn>`): a response's output message and its conversation item. */
export const replyItemId = (turnId: string) => `msg_${turnId.replace(/-/g, '')}`;

/** The item id of a function call, from the id the model gave it. */
export const functionCallItemId = (callId: string) => `fc_${callId.replace(/[^0-9a-zA-Z_]/g, '')}`;

function messageItemId(message: TranscriptMessage): string {
  // a turn's own reply has the id its response gave it; everything else is named by where it was said
  if (message.role === 'assistant' && UUID.test(message.turnId)) return replyItemId(message.turnId);
  return hashed('msg', message.turnId, message.role);
}

/** The transcript's items, in order. An assistant message that only called tools is its calls. */
export function transcriptItems(messages: readonly TranscriptMessage[]): TranscriptItem[] {
  return messages.flatMap((m): TranscriptItem[] => {
    if (m.role === 'tool')
      return [
        {
          id: hashed('fco', m.turnId, m.toolCallId ?? ''),
          type: 'function_call_output',
          callId: m.toolCallId ?? '',
          output: m.text,
          at: m.at,
        },
      ];
    const calls = m.toolCalls ?? [];
    const text: TranscriptItem[] =
      m.text || !calls.length ? [{ id: messageItemId(m), type: 'message', role: m.role, text: m.text, at: m.at }] : [];
    return [...text, ...calls.map((call): TranscriptItem => ({ id: functionCallItemId(call.id), type: 'function_call', call, at: m.at }))];
  });
}

/**
 * The transcript without the item: a message goes (an assistant message that also called tools
 * keeps its calls); a function call and its output go together, since a model cannot be given
 * one without the other. An id the transcript does not have changes nothing.
 */
export function withoutItem(messages: TranscriptMessage[], itemId: string): TranscriptMessage[] {
  const item = transcriptItems(messages).find((i) => i.id === itemId);
  if (!item) return messages;
  if (item.type === 'message') {
    return messages.flatMap((m) => {
      if (m.role === 'tool' || messageItemId(m) !== itemId) return [m];
      return m.toolCalls?.length ? [{ ...m, text: '' }] : [];
    });
  }
  const callId = item.type === 'function_call' ? item.call.id : item.callId;
  return messages.flatMap((m) => {
    if (m.role === 'tool') return m.toolCallId === callId ? [] : [m];
    if (!m.toolCalls?.some((c) => c.id === callId)) return [m];
    const toolCalls = m.toolCalls.filter((c) => c.id !== callId);
    if (!toolCalls.length && !m.text) return [];
    const { toolCalls: _dropped, ...rest } = m;
    return [toolCalls.length ? { ...rest, toolCalls } : rest];
  });
}

/** Messages added to the conversation without a turn (`ConversationItemsAdded`), each under an id of its own. */
export function addedItems(event: RecordedEvent<'ConversationItemsAdded'>): TranscriptMessage[] {
  return event.data.items.map((m, i): TranscriptMessage => {
    const line = { turnId: `${event.eventId}/item/${i}`, version: event.version, at: event.recordedAt };
    if (m.role === 'tool') return { ...line, role: 'tool', text: m.content, toolCallId: m.toolCallId };
    if (m.role === 'assistant')
      return { ...line, role: 'assistant', text: m.content ?? '', ...(m.toolCalls?.length ? { toolCalls: m.toolCalls } : {}) };
    return { ...line, role: 'user', text: m.content };
  });
}

/** What changes a conversation outside its turns (OpenAI's Conversations API). */
export type ConversationChange = 'ConversationItemsAdded' | 'ConversationItemDeleted' | 'SessionMetadataUpdated' | 'ConversationDeleted';

/** The data of one kind of conversation change. */
export type ConversationChangeData<T extends ConversationChange> = Extract<NewEvent, { type: T }>['data'];

/**
 * A change of a conversation, as its session's stream records it. The caller names the event's id:
 * derived from what makes a retry the same change (an `Idempotency-Key`, the item, the
 * conversation), or fresh when every request is a change of its own.
 */
export function conversationChange<T extends ConversationChange>(
  type: T,
  data: ConversationChangeData<T>,
  tenantId: string,
  eventId: string,
): Extract<NewEvent, { type: T }> {
  return { eventId, type, data, metadata: { tenantId, correlationId: eventId } } as Extract<NewEvent, { type: T }>;
}

/** A stored response deleted (OpenAI's `DELETE /v1/responses/{id}`): one id per response, so a second delete racing it is the same event. */
export function responseDeleted(tenantId: string, responseId: string, turnId: string): NewEvent<'ResponseDeleted'> {
  return {
    eventId: derivedId(`${tenantId}\u0000${responseId}`, 'ResponseDeleted'),
    type: 'ResponseDeleted',
    data: { turnId },
    metadata: { tenantId, correlationId: turnId },
  };
}
