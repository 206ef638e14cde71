import type { GenerationOptions, TokenUsage } from '@parley/contracts';
import { LlmError, type Llm, type LlmMessage, type ToolCall, type ToolSpec } from '@parley/llm';
import { z } from 'zod';

/** The tool through which the model keeps what it learns about the user for later sessions. */
export const REMEMBER_TOOL: ToolSpec = {
  name: 'remember',
  description:
    'Remember a lasting fact or preference about the user (for example a seat preference, dietary need or preferred language) so it is known in their future conversations. Use a short snake_case name; remembering a name again replaces its value.',
  parameters: {
    type: 'object',
    properties: {
      name: { type: 'string', description: 'short snake_case key, e.g. seat_preference' },
      value: { type: 'string', description: 'the fact, in a few words' },
    },
    required: ['name', 'value'],
    additionalProperties: false,
  },
};
const RememberArgs = z.object({ name: z.string().trim().min(1).max(100), value: z.string().trim().min(1).max(2_000) });
const MAX_TOOL_ROUNDS = 3;

export interface Conversation {
  /** The context, system prompt first. */
  context: LlmMessage[];
  /** The client's own functions. */
  tools: ToolSpec[];
  /** Whether the model may `remember` (the session has a user). */
  remembers: boolean;
  /** What the client asked of the model (recorded with the message). */
  generation?: GenerationOptions;
  signal: AbortSignal;
  onDelta: (text: string) => void;
  /** Whose turn it is (a metrics label). */
  tenantId: string;
}

export interface ConversationResult {
  text: string;
  model: string;
  usage: TokenUsage | null;
  /** Facts the model asked to remember, to be recorded with the turn. */
  remembered: { name: string; value: string }[];
  /** The generation was cut short (`text` is what came until then). */
  interrupted: boolean;
  /** Calls to the client's tools: the client runs them and sends the results. */
  toolCalls: ToolCall[];
}

/**
 * Calls the LLM, running its `remember` calls until it answers in text (at most three rounds).
 * Calls to the client's own tools end the turn: they are returned for the client to run.
 */
export async function converse(llm: Llm, request: Conversation): Promise<ConversationResult> {
  const messages: LlmMessage[] = [...request.context];
  const clientTools = new Set(request.tools.map((t) => t.name));
  const offered = [...request.tools, ...(request.remembers && !clientTools.has(REMEMBER_TOOL.name) ? [REMEMBER_TOOL] : [])];
  const tools = offered.length ? offered : undefined;
  const remembered: { name: string; value: string }[] = [];
  let usage = null as TokenUsage | null;
  for (let round = 1; ; round++) {
    const result = await llm.complete({
      messages,
      tools,
      options: request.generation,
      signal: request.signal,
      onDelta: request.onDelta,
      purpose: 'reply',
      tenantId: request.tenantId,
    });
    if (result.usage) {
      usage = {
        promptTokens: (usage?.promptTokens ?? 0) + result.usage.promptTokens,
        completionTokens: (usage?.completionTokens ?? 0) + result.usage.completionTokens,
      };
    }
    const done = (interrupted: boolean, toolCalls: ToolCall[] = []) => ({
      text: result.text,
      model: result.model,
      usage,
      remembered,
      interrupted,
      toolCalls,
    });
    if (result.interrupted) return done(true);
    const forClient = result.toolCalls.filter((call) => clientTools.has(call.name));
    if (forClient.length) return done(false, forClient);
    if (!result.toolCalls.length || !tools || round >= MAX_TOOL_ROUNDS) {
      if (!result.text) throw new LlmError('LLM.BAD_RESPONSE', 'The LLM kept calling tools without answering');
      return done(false);
    }
    messages.push({ role: 'assistant', content: result.text || null, toolCalls: result.toolCalls });
    for (const call of result.toolCalls) {
      const args = call.name === REMEMBER_TOOL.name ? RememberArgs.safeParse(safeJson(call.arguments)) : null;
      if (args?.success) remembered.push(args.data);
      messages.push({
        role: 'tool',
        toolCallId: call.id,
        content: args?.success ? 'Remembered.' : `Error: ${args ? 'invalid arguments' : `no tool named ${call.name}`}`,
      });
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
