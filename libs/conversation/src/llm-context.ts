import { createHash } from 'node:crypto';
import type { ClientMessage, ContextMessage, RouteMode, UserMessageReceivedData } from '@parley/contracts';
import type { z } from 'zod';
import { ConversationError } from './errors';
import type { SessionState, TranscriptMessage } from './session.state';
import { contextTokens, messageTokens } from './tokens';

/**
 * The transcript a turn's context holds, in turn order: each earlier turn's user message followed
 * by its reply, then this turn's message. A reply recorded after this turn's message (it was still
 * being generated when the user spoke again) still follows its own question: the turn was answered
 * after it (`queue`) or cut it short (`interrupt`, the reply is the part generated). Turns that
 * came later are left out. The responder answers a session's stateful turns one after another, each
 * once every earlier turn has its outcome in the log, so the context is a function of the log up
 * to the version it was built from (recorded with the reply as `stateVersion`).
 */
export function contextTranscript(state: SessionState, turnId: string): TranscriptMessage[] {
  if (state.status !== 'open') throw new ConversationError('SESSION.NOT_FOUND', 'The session has not started');
  // the turn's own lines: what its client brought (tool results, say) and its user message, if it has text
  const own = (m: TranscriptMessage) => (m.role === 'user' && m.turnId === turnId) || m.turnId.startsWith(`${turnId}/context/`);
  const start = state.messages.findIndex(own);
  if (start < 0) throw new ConversationError('TURN.NOT_IN_STATE', `Turn ${turnId} is not in the session state yet`);
  let end = start;
  while (end + 1 < state.messages.length && own(state.messages[end + 1])) end++;
  const asked = new Set(
    state.messages
      .slice(0, start)
      .filter((m) => m.role === 'user')
      .map((m) => m.turnId),
  );
  const replies = new Map(state.messages.filter((m) => m.role === 'assistant' && asked.has(m.turnId)).map((m) => [m.turnId, m]));
  const transcript: TranscriptMessage[] = [];
  for (const message of state.messages.slice(0, start)) {
    if (message.role === 'assistant') {
      if (!asked.has(message.turnId)) transcript.push(message); // its question is in the summary, or the client brought it
      continue;
    }
    transcript.push(message);
    const reply = replies.get(message.turnId);
    if (reply) transcript.push(reply);
  }
  transcript.push(...state.messages.slice(start, end + 1));
  return transcript;
}

/** A transcript line as a chat message: tool calls and tool results keep their OpenAI shape. */
export function chatMessage(m: TranscriptMessage): ClientMessage {
  if (m.role === 'tool') return { role: 'tool', toolCallId: m.toolCallId ?? '', content: m.text };
  if (m.role === 'assistant' && m.toolCalls?.length) return { role: 'assistant', content: m.text || null, toolCalls: m.toolCalls };
  return { role: m.role, content: m.text };
}

/** How the summary appears in a stateful context: a system message after the memory. */
export function summaryMessage(summary: string): ContextMessage {
  return { role: 'system', content: `Summary of the earlier conversation:\n${summary}` };
}

/**
 * The messages a stateful turn's LLM call sees: the system prompt, what is remembered about the
 * user (when anything is), the summary of the older conversation (once there is one), then the
 * transcript after it up to and including this turn's user message (`contextTranscript`) — less
 * its `dropped` oldest messages, when they did not fit the budget (see `statefulContext`).
 */
export function buildStatefulContext(
  state: SessionState,
  turnId: string,
  systemPrompt: string,
  memory: string | null = null,
  dropped = 0,
): ClientMessage[] {
  const transcript = contextTranscript(state, turnId);
  return [
    { role: 'system', content: systemPrompt },
    ...(memory ? [{ role: 'system' as const, content: memory }] : []),
    ...(state.status === 'open' && state.summary ? [summaryMessage(state.summary.text)] : []),
    ...transcript.slice(Math.min(dropped, transcript.length - 1)).map(chatMessage),
  ];
}

/**
 * The context of a stateful turn within the token budget: the summary that exists plus the most
 * recent turns that fit. Older messages that the summary has not taken in yet are left out —
 * whole turns, the cut falling before a user message — until the summary written after a reply
 * covers them; the turn's own message always stays, even alone past the budget. `dropped` says
 * how many were left out, for the reply to record, so a replay rebuilds the same context.
 */
export function statefulContext(input: {
  state: SessionState;
  turnId: string;
  systemPrompt: string;
  memory: string | null;
  budget: number;
}): {
  context: ClientMessage[];
  dropped: number;
  tokens: number;
} {
  const { state, turnId, systemPrompt, memory, budget } = input;
  const whole = buildStatefulContext(state, turnId, systemPrompt, memory);
  const tokens = contextTokens(whole);
  if (tokens <= budget) return { context: whole, dropped: 0, tokens };
  const transcript = contextTranscript(state, turnId).map(chatMessage);
  const fixed = whole.slice(0, whole.length - transcript.length);
  let used = contextTokens(fixed);
  let start = transcript.length - 1; // the turn's own message always stays
  used += messageTokens(transcript[start]);
  while (start > 0 && used + messageTokens(transcript[start - 1]) <= budget) used += messageTokens(transcript[--start]);
  // a turn is kept whole: the kept part starts at a user message
  while (start < transcript.length - 1 && transcript[start].role !== 'user') start++;
  const context = [...fixed, ...transcript.slice(start)];
  return { context, dropped: start, tokens: contextTokens(context) };
}

/** A stateless turn sees the request alone. */
export function buildStatelessContext(text: string, systemPrompt: string): ContextMessage[] {
  return [
    { role: 'system', content: systemPrompt },
    { role: 'user', content: text },
  ];
}

/**
 * What the LLM is given for a turn, before any tool round: a stateful turn sees the session
 * (`buildStatefulContext`, with the summary the state holds, less the `dropped` oldest messages
 * that did not fit); a stateless one the request alone — or, when the client sent its
 * conversation, exactly that. The client's instructions take the place of the deployment's system
 * prompt. A replay or rerun rebuilds it from the log the same way, from the state and the dropped
 * count the reply recorded.
 */
export function turnContext(input: {
  mode: RouteMode;
  message: Pick<z.infer<typeof UserMessageReceivedData>, 'turnId' | 'text' | 'instructions' | 'context'>;
  state: SessionState;
  systemPrompt: string;
  memory: string | null;
  dropped?: number;
}): ClientMessage[] {
  const { message } = input;
  const systemPrompt = message.instructions ?? input.systemPrompt;
  if (input.mode === 'stateful') return buildStatefulContext(input.state, message.turnId, systemPrompt, input.memory, input.dropped ?? 0);
  if (message.context) return [...message.context, ...(message.text ? [{ role: 'user' as const, content: message.text }] : [])];
  return buildStatelessContext(message.text, systemPrompt);
}

/** A short fingerprint of a context, recorded with the reply, so a rebuilt context can be checked to be the same. */
export function contextDigest(messages: readonly ClientMessage[]): string {
  const canonical = messages.map((m) => [
    m.role,
    m.content ?? null,
    m.role === 'assistant' ? (m.toolCalls ?? null) : null,
    m.role === 'tool' ? m.toolCallId : null,
  ]);
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex').slice(0, 32);
}
