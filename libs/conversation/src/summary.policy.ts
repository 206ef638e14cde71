import type { ContextMessage } from '@parley/contracts';
import type { SessionState, TranscriptMessage } from './session.state';
import { countTokens, MESSAGE_OVERHEAD_TOKENS } from './tokens';

/** Older messages to fold into the rolling summary. */
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

/** Tokens the summary may take of the context budget: a summary longer than this is cut to it. */
export const summaryShare = (budget: number) => Math.max(16, Math.floor(budget / 4));

const cost = (m: TranscriptMessage) =>
  MESSAGE_OVERHEAD_TOKENS + countTokens(m.text) + (m.toolCalls ?? []).reduce((n, c) => n + countTokens(`${c.name}${c.arguments}`), 0);

/**
 * Whether a session's transcript (the messages after its summary) has grown enough to fold its
 * older part into the summary, and which part — decided after a reply, so summarizing never sits
 * in a turn's path. Due once the transcript passes half the budget; it then folds everything but
 * the most recent messages within a quarter of it. With the summary held to its own quarter, a
 * context keeps within the budget and a summary is written every few turns, never on every one.
 *
 * A summary stands for every message up to a version, so it never covers a message of a turn that
 * has no outcome yet (queued behind the one just answered): it stops before the first of those.
 * The cut falls before a user message, so a turn's question and answer stay together.
 */
export function planSummary(state: SessionState, budget: number): SummaryRequest | null {
  if (state.status !== 'open') return null;
  const window = state.messages; // in log order: versions never go down
  let total = 0;
  for (const m of window) total += cost(m);
  if (total <= budget / 2) return null;

  const keep = Math.floor(budget / 4);
  let cut = window.length;
  for (let kept = 0; cut > 0 && kept + cost(window[cut - 1]) <= keep; cut--) kept += cost(window[cut - 1]);
  const unsettled = new Set(state.turns.filter((t) => t.status === 'received' || t.status === 'routed').map((t) => t.turnId));
  const firstUnsettled = window.findIndex((m) => unsettled.has(m.turnId.split('/context/')[0]));
  if (firstUnsettled >= 0) cut = Math.min(cut, firstUnsettled);
  // before a user message, and past every message of the same version (a message's carried-in lines share its version)
  while (cut > 0 && (window[cut]?.role !== 'user' || window[cut - 1].version === window[cut].version)) cut--;
  if (cut === 0) return null;
  const messages = window.slice(0, cut);
  return {
    previous: state.summary?.text ?? null,
    messages,
    throughVersion: messages[messages.length - 1].version,
    summarizedMessages: (state.summary?.messages ?? 0) + messages.length,
  };
}

/** The instruction of the summarizing call; a fixed text, so a replay can tell these calls apart. */
export const SUMMARY_INSTRUCTIONS =
  'You maintain the running summary of a conversation between a user and an assistant, for the assistant to continue it without the older messages. ' +
  "Merge the previous summary (if any) with the new messages into one summary. Keep what the assistant must not forget: the user's goal, names, dates, numbers, choices made, promises, " +
  "open questions and the user's preferences. Drop greetings and small talk. Write plain sentences, at most 150 words.";

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
