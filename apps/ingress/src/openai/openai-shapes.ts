import type { ClientMessage, ToolCallData, ToolSpecData } from '@parley/contracts';
import { z } from 'zod';
import { ApiError } from '../http/api-error';
import { ChatGenerationParams } from './generation-params';
import type { TurnResult } from '../turns/turn-result';

/** Message content: a string, or (newer clients) an array of parts of which the text parts count. */
const Content = z.union([
  z.string(),
  z
    .array(z.looseObject({ type: z.string(), text: z.string().optional() }))
    .transform((parts) =>
      parts.map((p) => (p.type === 'text' || p.type === 'input_text' || p.type === 'output_text' ? (p.text ?? '') : '')).join(''),
    ),
]);

const OpenAiToolCall = z.looseObject({
  id: z.string(),
  type: z.literal('function').optional(),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});

/** One message of `messages`, as OpenAI clients send it; fields we do not use are ignored. */
const OpenAiMessage = z.discriminatedUnion('role', [
  z.looseObject({ role: z.enum(['system', 'developer']), content: Content }),
  z.looseObject({ role: z.literal('user'), content: Content }),
  z.looseObject({
    role: z.literal('assistant'),
    content: Content.nullable().optional(),
    tool_calls: z.array(OpenAiToolCall).nullable().optional(),
  }),
  z.looseObject({ role: z.literal('tool'), tool_call_id: z.string(), content: Content }),
]);

const OpenAiTool = z.looseObject({
  type: z.literal('function'),
  function: z.looseObject({
    name: z.string().min(1).max(64),
    description: z.string().max(4_000).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** Who is on the line, as Vapi sends it (top level, or in `call`). */
const VapiCustomer = z.looseObject({ number: z.string().max(64).nullable().optional() });

/** `POST /v1/chat/completions` as OpenAI defines it; unknown fields are ignored, not rejected. */
export const ChatCompletionRequest = z.looseObject({
  model: z.string().max(200).optional(),
  ...ChatGenerationParams,
  messages: z.array(OpenAiMessage).min(1).max(10_000),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  tools: z.array(OpenAiTool).max(128).optional(),
  /** The end user: Parley keeps one live session per user (as `POST /v1/users/{user}/turns`). */
  user: z.string().min(1).max(200).optional(),
  /** Vapi's custom-LLM requests name the call: one session per call. */
  call: z
    .looseObject({ id: z.string().min(1).max(200), customer: VapiCustomer.nullable().optional() })
    .nullable()
    .optional(),
  /** Vapi's caller: with the tenant's `callerUsers` on, the number names the session's user. */
  customer: VapiCustomer.nullable().optional(),
});
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>;
type OpenAiMessage = z.infer<typeof OpenAiMessage>;

/** OpenAI's messages in our format (system and developer alike). */
export function clientMessages(messages: OpenAiMessage[]): ClientMessage[] {
  return messages.map((m): ClientMessage => {
    switch (m.role) {
      case 'system':
      case 'developer':
        return { role: 'system', content: m.content };
      case 'user':
        return { role: 'user', content: m.content };
      case 'assistant':
        return {
          role: 'assistant',
          content: m.content ?? null,
          ...(m.tool_calls?.length
            ? { toolCalls: m.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })) }
            : {}),
        };
      case 'tool':
        return { role: 'tool', toolCallId: m.tool_call_id, content: m.content };
    }
  });
}

export function toolSpecs(tools: ChatCompletionRequest['tools']): ToolSpecData[] {
  return (tools ?? []).map((t) => ({ name: t.function.name, description: t.function.description, parameters: t.function.parameters }));
}

export const openAiToolCalls = (calls: ToolCallData[]) =>
  calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } }));

/** What a stateful request adds to the conversation Parley keeps (see `reconcile`). */
export interface Reconciled {
  /** The user's new message(s), joined; '' when the request only brings tool results. */
  text: string;
  /** Results of the client's tools, answering the assistant's last calls. */
  toolResults: ClientMessage[];
  /** The client's system prompt. */
  instructions: string | undefined;
  /** Everything before the new messages (a new conversation takes it in). */
  earlier: ClientMessage[];
  /** The client's copy of the last assistant message, if any (what the user heard, or the calls the results answer). */
  lastAssistant: Extract<ClientMessage, { role: 'assistant' }> | null;
}

/**
 * What a stateful request adds to the conversation Parley keeps: the messages after the client's
 * last assistant message — the user's new message(s), or the results of the tools that message
 * called. A client that sends only its newest message and one that resends the whole history, as
 * Vapi does, both add just the new part. Null when there is nothing new.
 */
export function reconcile(messages: ClientMessage[]): Reconciled | null {
  const lastAssistant = messages.map((m) => m.role).lastIndexOf('assistant');
  const fresh = messages.slice(lastAssistant + 1).filter((m) => m.role !== 'system');
  const users = fresh.filter((m) => m.role === 'user');
  const toolResults = fresh.filter((m) => m.role === 'tool');
  if (!users.length && !toolResults.length) return null;
  const system = messages.filter((m) => m.role === 'system');
  const assistant = lastAssistant >= 0 ? messages[lastAssistant] : null;
  return {
    text: users.map((m) => m.content).join('\n'),
    toolResults,
    instructions: system.length ? system.map((m) => m.content).join('\n\n') : undefined,
    earlier: messages.slice(0, lastAssistant + 1).filter((m) => m.role !== 'system'),
    lastAssistant: assistant?.role === 'assistant' ? assistant : null,
  };
}

/**
 * The context a turn of a kept conversation brings: tool results, preceded by the client's copy of
 * the calls they answer when Parley's last reply did not make them (tools the client ran itself).
 */
export function toolTurnContext(added: Reconciled, knownCallIds: ReadonlySet<string>): ClientMessage[] {
  if (!added.toolResults.length) return [];
  const answered = added.toolResults.map((m) => (m.role === 'tool' ? m.toolCallId : ''));
  const calls = added.lastAssistant?.toolCalls ?? [];
  const unknown = answered.some((id) => !knownCallIds.has(id)) && calls.length > 0;
  return [...(unknown && added.lastAssistant ? [added.lastAssistant] : []), ...added.toolResults];
}

/** A client's `Idempotency-Key`, checked. */
export function validKey(key: string): string {
  if (!/^[\x21-\x7e]{1,255}$/.test(key))
    throw new ApiError('REQUEST.INVALID', 'Idempotency-Key must be 1 to 255 visible ASCII characters', { param: 'Idempotency-Key' });
  return key;
}

/** Where a turn went, for clients that want to know without parsing the body. */
export function parleyHeaders(result: TurnResult): Record<string, string> {
  return {
    'x-parley-turn-id': result.turnId,
    ...(result.sessionId ? { 'x-parley-session-id': result.sessionId } : {}),
    'x-parley-route': `${result.route.mode}; reason=${result.route.reason}`,
  };
}
