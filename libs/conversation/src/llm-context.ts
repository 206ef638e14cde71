import type { ContextMessage } from '@parley/contracts';
import { summaryMessage } from './context-budget';
import { ConversationError } from './errors';
import type { SessionState } from './session.state';

/**
 * The messages a stateful turn's LLM call sees: the system prompt, what is remembered about the
 * user (when anything is), the summary of the older conversation (once there is one), then the
 * rest of the transcript in log order up to and including this turn's user message. Turns that arrived later are left out, so a
 * turn's context never depends on how fast its neighbours were answered.
 */
export function buildStatefulContext(state: SessionState, turnId: string, systemPrompt: string, memory: string | null = null): ContextMessage[] {
  if (state.status !== 'open') throw new ConversationError('SESSION.NOT_FOUND', 'The session has not started');
  const end = state.messages.findIndex((m) => m.role === 'user' && m.turnId === turnId);
  if (end < 0) throw new ConversationError('TURN.NOT_IN_STATE', `Turn ${turnId} is not in the session state yet`);
  return [
    { role: 'system', content: systemPrompt },
    ...(memory ? [{ role: 'system' as const, content: memory }] : []),
    ...(state.summary ? [summaryMessage(state.summary.text)] : []),
    ...state.messages.slice(0, end + 1).map((m) => ({ role: m.role, content: m.text })),
  ];
}

/** A stateless turn sees the request alone. */
export function buildStatelessContext(text: string, systemPrompt: string): ContextMessage[] {
  return [
    { role: 'system', content: systemPrompt },
    { role: 'user', content: text },
  ];
}
