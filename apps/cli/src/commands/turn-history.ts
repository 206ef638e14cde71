import { sessionStreamId, userStreamId, type ClientMessage, type RecordedEvent } from '@parley/contracts';
import { contextDigest, contextTokens, ConversationError, evolveSession, foldUserMemory, initialSessionState, memoryMessage, turnContext, type SessionState } from '@parley/conversation';
import type { EventStore } from '@parley/event-store';
import { CliError } from '../cli-error';

/** Accepts `<uuid>` or `session-<uuid>`. */
export const normalizeSessionId = (id: string) => id.replace(/^session-/, '');

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

/** A session's events, read for the tenant (another tenant's session is not found). */
export async function sessionEvents(store: EventStore, sessionId: string, tenantId: string): Promise<RecordedEvent[]> {
  const id = normalizeSessionId(sessionId);
  const events = await store.readStream(sessionStreamId(id));
  if (events.length === 0 || events[0].metadata.tenantId !== tenantId) throw new CliError(`Session ${id} not found in tenant ${tenantId}`);
  return events;
}

/** The session's turns, each with the states its routing and its reply saw, folded with the services' own code. */
export function recordedTurns(events: readonly RecordedEvent[]): RecordedTurn[] {
  const turns = new Map<string, RecordedTurn>();
  // the versions replies say their contexts were built from: the state after each is kept
  const wanted = new Set(events.flatMap((e) => (e.type === 'AssistantReplied' && e.data.stateVersion !== undefined ? [e.data.stateVersion] : [])));
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

/** A user's memory as it stood before a point of the global log (what a turn routed there could see). */
export async function memoryBefore(store: EventStore, tenantId: string, userId: string, globalPosition: string): Promise<string | null> {
  const events = await store.readStream(userStreamId(tenantId, userId));
  return memoryMessage(foldUserMemory(events.filter((e) => BigInt(e.globalPosition) < BigInt(globalPosition))));
}

export interface RebuiltContext {
  messages: ClientMessage[];
  tokens: number;
  digest: string;
  /** The fingerprint recorded with the reply, when it was (older replies have none). */
  recorded: string | null;
}

/**
 * What the LLM was given for a turn, rebuilt from the log with today's context-building code (the
 * responder's own `turnContext`), and checked against the fingerprint recorded with the reply.
 * Null for turns the LLM did not answer (knowledge base answers, turns not routed yet).
 */
export async function rebuildContext(store: EventStore, turn: RecordedTurn, systemPrompt: string): Promise<RebuiltContext | null> {
  if (!turn.routed || turn.routed.data.route !== 'llm') return null;
  const state = turn.stateAtReply;
  const userId = state.status === 'open' ? state.userId : null;
  const memory = userId && turn.routed.data.mode === 'stateful' ? await memoryBefore(store, turn.message.metadata.tenantId, userId, turn.routed.globalPosition) : null;
  let messages: ClientMessage[];
  try {
    const dropped = turn.outcome?.type === 'AssistantReplied' ? turn.outcome.data.droppedMessages : undefined;
    messages = turnContext({ mode: turn.routed.data.mode, message: turn.message.data, state, systemPrompt, memory, dropped });
  } catch (error) {
    if (error instanceof ConversationError) return null; // the log does not hold what this turn's context needs
    throw error;
  }
  const recorded = turn.outcome?.type === 'AssistantReplied' ? (turn.outcome.data.contextDigest ?? null) : null;
  return { messages, tokens: contextTokens(messages.map((m) => ({ role: m.role === 'tool' ? 'user' : m.role, content: m.content ?? '' }))), digest: contextDigest(messages), recorded };
}
