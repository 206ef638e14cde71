import type { ClientMessage, RecordedEvent } from '@parley/contracts';
import { ConversationError } from './errors';
import { contextDigest, turnContext } from './llm-context';
import { evolveSession, initialSessionState, type SessionState } from './session.state';
import { contextTokens } from './tokens';

/** One turn as the log holds it, with the session state each step of it saw. */
export interface RecordedTurn {
  /** 1-based, in the order the user spoke. */
  number: number;
  turnId: string;
  message: RecordedEvent<'UserMessageReceived'>;
  routed: RecordedEvent<'TurnRouted'> | null;
  outcome: RecordedEvent<'AssistantReplied'> | RecordedEvent<'TurnFailed'> | null;
  /** The state the router decided on: every event before its `TurnRouted`. */
  stateAtRouting: SessionState;
  /**
   * The state the reply was built from: the session up to the version the reply records
   * (`stateVersion`), or — for replies recorded before it did — every event before the outcome.
   */
  stateAtReply: SessionState;
}

/** A session's turns, each with the states its routing and its reply saw, folded with the services' own code. */
export function recordedTurns(events: readonly RecordedEvent[]): RecordedTurn[] {
  const turns = new Map<string, RecordedTurn>();
  // the versions replies say their contexts were built from: the state after each is kept
  const wanted = new Set(
    events.flatMap((e) => (e.type === 'AssistantReplied' && e.data.stateVersion !== undefined ? [e.data.stateVersion] : [])),
  );
  const stateAfter = new Map<number, SessionState>();
  let state = initialSessionState();
  for (const event of events) {
    const turnId = 'turnId' in event.data && typeof event.data.turnId === 'string' ? event.data.turnId : null;
    if (event.type === 'UserMessageReceived') {
      turns.set(event.data.turnId, {
        number: turns.size + 1,
        turnId: event.data.turnId,
        message: event,
        routed: null,
        outcome: null,
        stateAtRouting: state,
        stateAtReply: state,
      });
    }
    const turn = turnId ? turns.get(turnId) : undefined;
    if (turn && event.type === 'TurnRouted') Object.assign(turn, { routed: event, stateAtRouting: state });
    if (turn && (event.type === 'AssistantReplied' || event.type === 'TurnFailed') && !turn.outcome) {
      const builtFrom = event.type === 'AssistantReplied' ? event.data.stateVersion : undefined;
      Object.assign(turn, { outcome: event, stateAtReply: (builtFrom !== undefined && stateAfter.get(builtFrom)) || state });
    }
    state = evolveSession(state, event);
    if (wanted.has(event.version)) stateAfter.set(event.version, state);
  }
  // a turn not answered yet (or not as far as a replay `--at` goes) would be answered from the state as it is now
  for (const turn of turns.values()) if (!turn.outcome) turn.stateAtReply = state;
  return [...turns.values()];
}

export interface RebuiltContext {
  messages: ClientMessage[];
  tokens: number;
  digest: string;
  /** The fingerprint recorded with the reply, when it was (older replies have none). */
  recorded: string | null;
}

/**
 * What the LLM was given for a turn, rebuilt from the log with the responder's own context code
 * (`turnContext`) and the extent the reply recorded (`stateVersion`, `droppedMessages`), with the
 * user's memory as it stood then (`memory`, read by the caller). Null for turns the LLM did not
 * answer (knowledge base answers, turns not routed yet) or whose context the log cannot give.
 */
export function rebuiltContext(turn: RecordedTurn, systemPrompt: string, memory: string | null): RebuiltContext | null {
  if (!turn.routed || turn.routed.data.route !== 'llm') return null;
  const dropped = turn.outcome?.type === 'AssistantReplied' ? turn.outcome.data.droppedMessages : undefined;
  let messages: ClientMessage[];
  try {
    messages = turnContext({
      mode: turn.routed.data.mode,
      message: turn.message.data,
      state: turn.stateAtReply,
      systemPrompt,
      memory,
      dropped,
    });
  } catch (error) {
    if (error instanceof ConversationError) return null; // the log does not hold what this turn's context needs
    throw error;
  }
  const recorded = turn.outcome?.type === 'AssistantReplied' ? (turn.outcome.data.contextDigest ?? null) : null;
  return {
    messages,
    tokens: contextTokens(messages.map((m) => ({ role: m.role === 'tool' ? 'user' : m.role, content: m.content ?? '' }))),
    digest: contextDigest(messages),
    recorded,
  };
}
