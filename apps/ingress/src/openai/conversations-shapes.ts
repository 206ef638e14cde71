import { UserIdParam, type ConversationItemData } from '@parley/contracts';
import type { TranscriptItem } from '@parley/conversation';
import { z } from 'zod';
import { ApiError } from '../http/api-error';
import { functionCallItem, InputItem, inputMessages, outputText } from './responses-shapes';

/** OpenAI's metadata: at most 16 pairs, keys up to 64 characters, values up to 512. */
const Metadata = z
  .record(z.string().min(1).max(64), z.string().max(512))
  .refine((m) => Object.keys(m).length <= 16, { message: 'at most 16 key-value pairs' })
  .nullable();

/** At most 20 items a request, as OpenAI allows. */
const Items = z.array(InputItem).min(1).max(20);

export const CreateConversation = z.looseObject({
  items: Items.nullable().optional(),
  metadata: Metadata.optional(),
  /** Parley's own: the end user the conversation belongs to — it sees what is remembered about them, and is erased with them. */
  user: UserIdParam.optional(),
});
export const UpdateConversation = z.looseObject({ metadata: Metadata });
export const AddItems = z.looseObject({ items: Items });
export type CreateConversation = z.infer<typeof CreateConversation>;
export type UpdateConversation = z.infer<typeof UpdateConversation>;
export type AddItems = z.infer<typeof AddItems>;

/** A conversation item, as OpenAI shapes it. */
export function itemObject(item: TranscriptItem): Record<string, unknown> {
  if (item.type === 'function_call') return functionCallItem(item.call, 'completed');
  if (item.type === 'function_call_output')
    return { id: item.id, type: 'function_call_output', call_id: item.callId, output: item.output, status: 'completed' };
  const content = item.role === 'assistant' ? outputText(item.text) : { type: 'input_text', text: item.text };
  return { id: item.id, type: 'message', status: 'completed', role: item.role, content: [content] };
}

/**
 * Items as the conversation keeps them. System and developer messages are refused: Parley takes
 * them per response, as `instructions`, so a conversation never carries a stale prompt.
 */
export function conversationItemsOf(items: InputItem[]): ConversationItemData[] {
  items.forEach((item, index) => {
    if ('role' in item && (item.role === 'system' || item.role === 'developer')) {
      throw new ApiError(
        'REQUEST.INVALID',
        `A conversation keeps user and assistant messages, function calls and their outputs; send ${item.role} messages as the response's instructions`,
        {
          param: `items[${index}]`,
        },
      );
    }
  });
  return inputMessages(items).flatMap((m): ConversationItemData[] => (m.role === 'system' ? [] : [m]));
}
