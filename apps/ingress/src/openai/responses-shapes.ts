import { createHash } from 'node:crypto';
import type { ClientMessage, ToolCallData, ToolSpecData } from '@parley/contracts';
import { functionCallItemId, replyItemId } from '@parley/conversation';
import { z } from 'zod';
import { ApiError } from '../http/api-error';
import { ResponsesGenerationParams } from './generation-params';

/** Text parts of a message (`input_text`, `output_text`), joined; other parts carry no text we use. */
const Content = z.union([
  z.string(),
  z
    .array(z.looseObject({ type: z.string(), text: z.string().optional() }))
    .transform((parts) =>
      parts.map((p) => (p.type === 'input_text' || p.type === 'output_text' || p.type === 'text' ? (p.text ?? '') : '')).join(''),
    ),
]);

/** The `input` items Parley understands: messages, and function calls with their outputs. */
export const InputItem = z.union([
  z.looseObject({ type: z.literal('message').optional(), role: z.enum(['user', 'assistant', 'system', 'developer']), content: Content }),
  z.looseObject({ type: z.literal('function_call'), call_id: z.string().min(1), name: z.string().min(1), arguments: z.string() }),
  z.looseObject({ type: z.literal('function_call_output'), call_id: z.string().min(1), output: Content }),
]);
export type InputItem = z.infer<typeof InputItem>;

const Tool = z.looseObject({
  type: z.string(),
  name: z.string().min(1).max(64).optional(),
  description: z.string().max(4_000).nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
});

/** `POST /v1/responses` as OpenAI defines it; unknown fields are ignored, not rejected. */
export const ResponsesRequest = z.looseObject({
  model: z.string().max(200).optional(),
  ...ResponsesGenerationParams,
  input: z.union([z.string().min(1).max(32_000), z.array(InputItem).min(1).max(10_000)]),
  instructions: z.string().max(32_000).nullable().optional(),
  previous_response_id: z.string().max(200).nullable().optional(),
  /** A conversation (`conv_…`, or `{ id }`) the response continues; its input and output join it. */
  conversation: z
    .union([z.string().min(1).max(200), z.looseObject({ id: z.string().min(1).max(200) })])
    .nullable()
    .optional(),
  /** Default true: the response is kept and can be continued. */
  store: z.boolean().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  tools: z.array(Tool).max(128).optional(),
  /** The end user: a new conversation is a session of this user (and sees what is remembered about them). */
  user: z.string().min(1).max(200).optional(),
});
export type ResponsesRequest = z.infer<typeof ResponsesRequest>;

/** `input` as chat messages: consecutive function calls become one assistant message, outputs tool messages. */
export function inputMessages(input: ResponsesRequest['input'] | InputItem[]): ClientMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  const messages: ClientMessage[] = [];
  for (const item of input as InputItem[]) {
    if (item.type === 'function_call') {
      const call = { id: item.call_id, name: item.name, arguments: item.arguments };
      const last = messages.at(-1);
      if (last?.role === 'assistant' && last.toolCalls) last.toolCalls.push(call);
      else messages.push({ role: 'assistant', content: null, toolCalls: [call] });
    } else if (item.type === 'function_call_output') messages.push({ role: 'tool', toolCallId: item.call_id, content: item.output });
    else if ('role' in item)
      messages.push(
        item.role === 'developer' || item.role === 'system'
          ? { role: 'system', content: item.content }
          : { role: item.role, content: item.content },
      );
  }
  return messages;
}

/** Function tools in our form; other kinds (web search, files) are not Parley's to run. */
export function functionTools(tools: ResponsesRequest['tools']): ToolSpecData[] {
  return (tools ?? []).map((tool, index) => {
    if (tool.type !== 'function' || !tool.name)
      throw new ApiError('REQUEST.INVALID', `Only function tools are supported (tools[${index}] is ${tool.type})`, {
        param: `tools[${index}]`,
      });
    return {
      name: tool.name,
      ...(tool.description ? { description: tool.description } : {}),
      ...(tool.parameters ? { parameters: tool.parameters } : {}),
    };
  });
}

const hex = (uuid: string) => uuid.replace(/-/g, '');
const uuid = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;

/**
 * A response's id names its turn, and the session it is kept in: `resp_<session><turn>` (hex).
 * A response that is not stored has no session: `resp_<turn>`, and cannot be continued.
 */
export const responseIdOf = (turnId: string, sessionId: string | null) => `resp_${sessionId ? hex(sessionId) : ''}${hex(turnId)}`;

export function parseResponseId(id: string): { sessionId: string; turnId: string } | null {
  const match = /^resp_([0-9a-f]{32})([0-9a-f]{32})$/.exec(id);
  return match ? { sessionId: uuid(match[1]), turnId: uuid(match[2]) } : null;
}

/** OpenAI's id for a session's conversation: `conv_<session>` (hex). Every session is one. */
export const conversationIdOf = (sessionId: string) => `conv_${hex(sessionId)}`;

/** The session a `conv_…` id names, or null when it is not one. */
export function sessionOfConversation(id: string): string | null {
  const match = /^conv_([0-9a-f]{32})$/.exec(id);
  return match ? uuid(match[1]) : null;
}

export interface ResponseFacts {
  id: string;
  createdAt: number;
  model: string;
  status: 'in_progress' | 'completed' | 'incomplete' | 'failed';
  instructions: string | null;
  previousResponseId: string | null;
  store: boolean;
  tools: ToolSpecData[];
  user: string | null;
  turnId: string;
  text: string;
  toolCalls: ToolCallData[];
  usage: { promptTokens: number; completionTokens: number } | null;
  error: { code: string; message: string } | null;
  interrupted?: string | null;
  /** The conversation (`conv_…`) the response was made in, when the request named one. */
  conversation?: string | null;
}

export const messageItemId = replyItemId;

export function messageItem(turnId: string, text: string, status: 'in_progress' | 'completed') {
  return {
    id: messageItemId(turnId),
    type: 'message',
    status,
    role: 'assistant',
    content: status === 'in_progress' ? [] : [outputText(text)],
  };
}

export const outputText = (text: string) => ({ type: 'output_text', text, annotations: [], logprobs: [] });

export function functionCallItem(call: ToolCallData, status: 'in_progress' | 'completed') {
  return {
    id: functionCallItemId(call.id),
    type: 'function_call',
    status,
    call_id: call.id,
    name: call.name,
    arguments: status === 'completed' ? call.arguments : '',
  };
}

/** The `response` object, as OpenAI shapes it. */
export function responseObject(r: ResponseFacts) {
  const done = r.status !== 'in_progress';
  const output = !done
    ? []
    : [
        ...(r.text || !r.toolCalls.length ? [messageItem(r.turnId, r.text, 'completed')] : []),
        ...r.toolCalls.map((c) => functionCallItem(c, 'completed')),
      ];
  return {
    id: r.id,
    object: 'response',
    created_at: r.createdAt,
    status: r.status,
    error: r.error,
    incomplete_details: r.status === 'incomplete' ? { reason: r.interrupted ?? 'interrupted' } : null,
    instructions: r.instructions,
    max_output_tokens: null,
    model: r.model,
    output,
    parallel_tool_calls: true,
    previous_response_id: r.previousResponseId,
    conversation: r.conversation ? { id: r.conversation } : null,
    reasoning: { effort: null, summary: null },
    store: r.store,
    temperature: null,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: r.tools.map((t) => ({
      type: 'function',
      name: t.name,
      description: t.description ?? null,
      parameters: t.parameters ?? null,
      strict: false,
    })),
    top_p: null,
    truncation: 'disabled',
    usage: done
      ? {
          input_tokens: r.usage?.promptTokens ?? 0,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: r.usage?.completionTokens ?? 0,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: (r.usage?.promptTokens ?? 0) + (r.usage?.completionTokens ?? 0),
        }
      : null,
    user: r.user,
    metadata: {},
  };
}

/** `GET /v1/responses/{id}/input_items` query, as OpenAI defines it. */
export const InputItemsQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    order: z.enum(['asc', 'desc']).default('desc'),
    after: z.string().max(200).optional(),
    before: z.string().max(200).optional(),
    include: z.union([z.string(), z.array(z.string())]).optional(),
  })
  .strict();
export type InputItemsQuery = z.infer<typeof InputItemsQuery>;

/**
 * What a response was given, as OpenAI's input items: the conversation it brought (earlier
 * messages, function calls and their outputs) and the user's message, in the order sent. Ids
 * derive from the turn and the item's place, so they are the same on every read.
 */
export function inputItems(turnId: string, brought: readonly ClientMessage[], text: string) {
  const id = (kind: string, index: number) =>
    `${kind}_${createHash('sha256').update(`${turnId}\u0000${index}`).digest('hex').slice(0, 40)}`;
  const items: Record<string, unknown>[] = [];
  brought.forEach((m, index) => {
    if (m.role === 'tool')
      items.push({ id: id('fco', index), type: 'function_call_output', call_id: m.toolCallId, output: m.content, status: 'completed' });
    else if (m.role === 'assistant' && m.toolCalls?.length) {
      if (m.content)
        items.push({ id: id('msg', index), type: 'message', role: 'assistant', status: 'completed', content: [outputText(m.content)] });
      for (const call of m.toolCalls) items.push(functionCallItem(call, 'completed'));
    } else {
      const content = m.content ?? '';
      items.push({
        id: id('msg', index),
        type: 'message',
        role: m.role,
        status: 'completed',
        content: [m.role === 'assistant' ? outputText(content) : { type: 'input_text', text: content }],
      });
    }
  });
  if (text)
    items.push({
      id: id('msg', brought.length),
      type: 'message',
      role: 'user',
      status: 'completed',
      content: [{ type: 'input_text', text }],
    });
  return items;
}

/** A page of items, OpenAI's list shape: `order`, then after/before an item id, at most `limit`. */
export function itemsPage(items: Record<string, unknown>[], query: InputItemsQuery) {
  let ordered = query.order === 'desc' ? [...items].reverse() : items;
  const at = (cursor: string | undefined) => (cursor === undefined ? -1 : ordered.findIndex((item) => item.id === cursor));
  if (query.after !== undefined) ordered = ordered.slice(at(query.after) + 1);
  if (query.before !== undefined) ordered = ordered.slice(0, Math.max(0, at(query.before)));
  const data = ordered.slice(0, query.limit);
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: ordered.length > data.length };
}
