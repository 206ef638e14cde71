import type { ClientMessage, ContextMessage } from '@parley/contracts';
import { buildStatefulContext, contextTranscript } from './llm-context';
import type { SessionState, TranscriptMessage } from './session.state';

type Tokenizer = typeof import('gpt-tokenizer/encoding/o200k_base');
let tokenizer: Tokenizer | undefined;

/** Counts kept: a conversation's messages are counted again on each of its turns. */
export const TOKEN_COUNTS_KEPT = 20_000;
const counted = new Map<string, number>();

/**
 * o200k token count. The encoder's tables take about 70 MB once loaded, so they are loaded on the
 * first count: only processes that budget contexts (the responder, the CLI) pay for them. Each
 * turn of a conversation counts its whole window again (a 120-message window: 0.7 ms), so counts
 * are kept by text, the oldest dropped first past `TOKEN_COUNTS_KEPT`.
 */
export function countTokens(text: string): number {
  const known = counted.get(text);
  if (known !== undefined) return known;
  tokenizer ??= require('gpt-tokenizer/encoding/o200k_base') as Tokenizer;
  const count = tokenizer.countTokens(text);
  if (counted.size >= TOKEN_COUNTS_KEPT) counted.delete(counted.keys().next().value!);
  counted.set(text, count);
  return count;
}

/** How many counts are kept (for tests). */
export const tokenCountsKept = () => counted.size;

/** What the chat format adds per message (role and separators), as OpenAI documents it. */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/** Tokens of a chat input, counted with the o200k tokenizer (GPT-4o and later). */
export function contextTokens(messages: readonly ClientMessage[]): number {
  let total = 3; // every reply is primed with <|start|>assistant<|message|>
  for (const message of messages) {
    total += MESSAGE_OVERHEAD_TOKENS + countTokens(message.content ?? '');
    if (message.role === 'assistant') for (const call of message.toolCalls ?? []) total += countTokens(`${call.name}${call.arguments}`);
  }
  return total;
}

/** Older messages to fold into the rolling summary before the turn can be answered. */
export interface SummaryRequest {
  /** The summary so far, if any. */
  previous: string | null;
  /** The messages to fold in, oldest first. */
  messages: TranscriptMessage[];
  /** Stream version of the last of them. */
  throughVersion: number;
  /** Messages the new summary will cover (the previous summary's plus these). */
  summarizedMessages: number;
}

export type ContextPlan =
  | { kind: 'ready'; context: ClientMessage[]; tokens: number }
  | { kind: 'summarize'; request: SummaryRequest };

export interface ContextPlanInput {
  state: SessionState;
  turnId: string;
  systemPrompt: string;
  memory: string | null;
  /** Most tokens the context may hold. */
  budget: number;
}

/**
 * The context of a stateful turn within the token budget. When the whole transcript fits, it is
 * the context. When it does not, the oldest messages must first be folded into the rolling
 * summary: everything before the most recent turns that fit in half the budget (so summaries
 * happen every several turns, not on each one). The cut falls before a user message, so a turn's
 * question and answer stay together. If nothing older can be folded (a single huge message), the
 * context is sent as it is.
 */
export function planStatefulContext(input: ContextPlanInput): ContextPlan {
  const { state, turnId, systemPrompt, memory, budget } = input;
  const context = buildStatefulContext(state, turnId, systemPrompt, memory);
  const tokens = contextTokens(context);
  if (tokens <= budget || state.status !== 'open') return { kind: 'ready', context, tokens };

  const window = contextTranscript(state, turnId);
  const fixed = contextTokens(context.slice(0, context.length - window.length));
  let kept = fixed;
  let cut = window.length - 1; // the turn's own message always stays
  kept += MESSAGE_OVERHEAD_TOKENS + countTokens(window[cut].text);
  while (cut > 0) {
    const cost = MESSAGE_OVERHEAD_TOKENS + countTokens(window[cut - 1].text);
    if (kept + cost > budget / 2) break;
    kept += cost;
    cut--;
  }
  while (cut < window.length - 1 && window[cut].role !== 'user') cut++;
  // a summary stands for every message up to a version: none of those may stay after the cut
  // (replies to overlapping turns follow their question, not the log's order)
  const lowestKept = () => Math.min(...window.slice(cut).map((m) => m.version));
  for (let settled = false; !settled; ) {
    const before = cut;
    while (cut > 0 && window[cut - 1].version > lowestKept()) cut--;
    while (cut > 0 && window[cut].role !== 'user') cut--;
    settled = cut === before;
  }
  if (cut === 0) return { kind: 'ready', context, tokens };
  const messages = window.slice(0, cut);
  return {
    kind: 'summarize',
    request: {
      previous: state.summary?.text ?? null,
      messages,
      throughVersion: messages[messages.length - 1].version,
      summarizedMessages: (state.summary?.messages ?? 0) + messages.length,
    },
  };
}

/** The instruction of the summarizing call; a fixed text, so a replay can tell these calls apart. */
export const SUMMARY_INSTRUCTIONS =
  'You maintain the running summary of a conversation between a user and an assistant, for the assistant to continue it without the older messages. ' +
  'Merge the previous summary (if any) with the new messages into one summary. Keep what the assistant must not forget: the user\'s goal, names, dates, numbers, choices made, promises, ' +
  'open questions and the user\'s preferences. Drop greetings and small talk. Write plain sentences, at most 150 words.';

/** The messages of the summarizing call. */
export function summaryPrompt(request: SummaryRequest): ContextMessage[] {
  const lines = request.messages.map((m) => {
    if (m.role === 'tool') return `Tool result: ${m.text}`;
    const calls = m.toolCalls?.length ? ` (called ${m.toolCalls.map((c) => `${c.name} ${c.arguments}`).join(', ')})` : '';
    return `${m.role === 'user' ? 'User' : 'Assistant'}: ${m.text}${calls}`;
  });
  const previous = request.previous ? `Previous summary:\n${request.previous}\n\n` : '';
  return [
    { role: 'system', content: SUMMARY_INSTRUCTIONS },
    { role: 'user', content: `${previous}New messages:\n${lines.join('\n')}` },
  ];
}

/** How the summary appears in a stateful context: a system message after the memory. */
export function summaryMessage(summary: string): ContextMessage {
  return { role: 'system', content: `Summary of the earlier conversation:\n${summary}` };
}
