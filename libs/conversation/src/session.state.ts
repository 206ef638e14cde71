import type { AnswerRoute, InterruptReason, RecordedEvent, RouteMode } from '@parley/contracts';
import { addedItems, transcriptItems, withoutItem, type TranscriptItem } from './conversation-items';
import type { TranscriptMessage } from './transcript';

export type { TranscriptMessage } from './transcript';

export type TurnStatus = 'received' | 'routed' | 'replied' | 'failed';

export interface TurnRecord {
  turnId: string;
  status: TurnStatus;
  mode: RouteMode | null;
  /** Who answered: the LLM or the knowledge base. */
  route: AnswerRoute | null;
  /** The knowledge base intent the router matched, when it had one. */
  intent: string | null;
  reason: string | null;
  error: { code: string; message: string } | null;
  /** Why the reply stopped early, if it did. */
  interrupted: InterruptReason | null;
  /** What the user heard of the reply before barging in (`ReplyInterrupted`), if they did. */
  heard: string | null;
}

/** Turns and tokens of one kind of answer. */
export interface UsageTotals {
  turns: number;
  promptTokens: number;
  completionTokens: number;
}

/** What a session's answers cost, split by how they were answered. */
export interface SessionUsage {
  /** Answered from the knowledge base: no LLM call, no tokens. */
  faq: UsageTotals;
  /** Answered by the LLM from the request alone. */
  stateless: UsageTotals;
  /** Answered by the LLM with the session's history. */
  stateful: UsageTotals;
}

export const emptyUsage = (): SessionUsage => ({
  faq: { turns: 0, promptTokens: 0, completionTokens: 0 },
  stateless: { turns: 0, promptTokens: 0, completionTokens: 0 },
  stateful: { turns: 0, promptTokens: 0, completionTokens: 0 },
});

export type SessionState =
  | { status: 'none' }
  | {
      status: 'open';
      sessionId: string;
      tenantId: string;
      userId: string | null;
      metadata: Record<string, unknown>;
      startedAt: string;
      /**
       * The transcript not yet folded into `summary`, in log order. Bounded by the context budget
       * once the responder summarizes; the log keeps every message.
       */
      messages: TranscriptMessage[];
      /** The rolling summary of the messages before `messages`, once there is one. */
      summary: ConversationSummary | null;
      /** The most recent turns (at most `RECENT_TURNS`), so the state stays small as a session grows. */
      turns: TurnRecord[];
      /** Every turn the session has had. */
      turnCount: number;
      /** Turns routed stateful to the LLM: an ongoing case. */
      llmTurns: number;
      usage: SessionUsage;
      /** When the session expired for inactivity (no turns after that), or null while it is live. */
      expiredAt: string | null;
      /** The session and version it was forked from (`SessionForked`), if it was. */
      forkedFrom: { sessionId: string; version: number } | null;
      /** When its conversation was deleted (`ConversationDeleted`): it is then not found through the OpenAI APIs. */
      deletedAt: string | null;
    };

/** What a `ConversationSummarized` event left in the state. */
export interface ConversationSummary {
  text: string;
  /** Stream version of the last message it covers. */
  throughVersion: number;
  /** How many messages it covers. */
  messages: number;
}

/** Turn records kept in the state; older ones live in the log (and in its usage totals). */
export const RECENT_TURNS = 50;

export type OpenSession = Extract<SessionState, { status: 'open' }>;

export const initialSessionState = (): SessionState => ({ status: 'none' });

/**
 * Version of `evolveSession`'s meaning. Bump it when the same events would fold to a different
 * state: stored folds (read model rows) from another version are then ignored and refolded.
 */
export const SESSION_FOLD_VERSION = 9; // 2: turns record route and intent; 3: usage totals; 4: expiry; 5: summary, bounded turns; 6: interruptions; 7: forks; 8: tool calls and results; 9: conversation items, metadata, deletion

/**
 * Folds one event into a session's state. Pure: the same events always give the same state, so
 * replay, the projector and the responder agree by construction. (To fold many events, use
 * `foldSession` or a `SessionFolder`: they copy the state once, not once per event.)
 */
export function evolveSession(state: SessionState, event: RecordedEvent): SessionState {
  return evolveOwned(owned(state), event);
}

/**
 * A copy of the state whose mutable parts — the transcript and turn arrays and the usage totals —
 * belong to the caller, so `evolveOwned` may change them in place. Everything else is shared and
 * never mutated: elements are replaced, not edited.
 */
function owned(state: SessionState): SessionState {
  if (state.status !== 'open') return state;
  const { faq, stateless, stateful } = state.usage;
  return {
    ...state,
    messages: [...state.messages],
    turns: [...state.turns],
    usage: { faq: { ...faq }, stateless: { ...stateless }, stateful: { ...stateful } },
  };
}

/** Folds one event into a state returned by `owned` (or by an earlier call), changing it in place. */
function evolveOwned(state: SessionState, event: RecordedEvent): SessionState {
  if (event.type === 'SessionStarted') {
    return {
      status: 'open',
      sessionId: event.data.sessionId,
      tenantId: event.metadata.tenantId,
      userId: event.data.userId,
      metadata: event.data.metadata,
      startedAt: event.recordedAt,
      messages: [],
      summary: null,
      turns: [],
      turnCount: 0,
      llmTurns: 0,
      usage: emptyUsage(),
      expiredAt: null,
      forkedFrom: null,
      deletedAt: null,
    };
  }
  if (state.status !== 'open') return state; // events before the start cannot happen; ignore rather than crash a replay
  switch (event.type) {
    case 'UserMessageReceived':
      // a turn that only brings tool results has no text of its own
      state.messages.push(...carriedIn(event), ...(event.data.text || !event.data.context?.length ? [message('user', event)] : []));
      if (state.turns.length >= RECENT_TURNS) state.turns.splice(0, state.turns.length - RECENT_TURNS + 1);
      state.turns.push({
        turnId: event.data.turnId,
        status: 'received',
        mode: null,
        route: null,
        intent: null,
        reason: null,
        error: null,
        interrupted: null,
        heard: null,
      });
      state.turnCount += 1;
      return state;
    case 'TurnRouted':
      if (event.data.mode === 'stateful' && event.data.route === 'llm') state.llmTurns += 1;
      updateTurn(state, event.data.turnId, {
        status: 'routed',
        mode: event.data.mode,
        route: event.data.route,
        intent: typeof event.data.features.intent === 'string' ? event.data.features.intent : null,
        reason: event.data.reason,
      });
      return state;
    case 'AssistantReplied': {
      const turn = state.turns.find((t) => t.turnId === event.data.turnId);
      const kind: keyof SessionUsage = turn?.route === 'faq' ? 'faq' : turn?.mode === 'stateless' ? 'stateless' : 'stateful';
      const totals = state.usage[kind];
      // a barge-in recorded before the reply (while it was still generating) already says what was heard
      const heard = turn?.heard ?? null;
      updateTurn(state, event.data.turnId, { status: 'replied', interrupted: event.data.interrupted });
      state.messages.push({
        ...message('assistant', event),
        ...(heard !== null ? { text: heard } : {}),
        ...(event.data.toolCalls?.length ? { toolCalls: event.data.toolCalls } : {}),
      });
      totals.turns += 1;
      totals.promptTokens += event.data.usage?.promptTokens ?? 0;
      totals.completionTokens += event.data.usage?.completionTokens ?? 0;
      return state;
    }
    case 'TurnFailed':
      updateTurn(state, event.data.turnId, { status: 'failed', error: { code: event.data.code, message: event.data.message } });
      return state;
    case 'SessionExpired':
      state.expiredAt = event.recordedAt;
      return state;
    case 'ReplyInterrupted': {
      const { turnId, spokenText } = event.data;
      updateTurn(state, turnId, { heard: spokenText, interrupted: 'barge-in' });
      // later turns see what the user heard, not what was generated
      state.messages.forEach((m, i) => {
        if (m.role === 'assistant' && m.turnId === turnId) state.messages[i] = { ...m, text: spokenText };
      });
      return state;
    }
    case 'ConversationSummarized': {
      const { summary, throughVersion, summarizedMessages, usage } = event.data;
      if (state.summary && state.summary.throughVersion >= throughVersion) return state;
      state.summary = { text: summary, throughVersion, messages: summarizedMessages };
      state.messages = state.messages.filter((m) => m.version > throughVersion);
      state.usage.stateful.promptTokens += usage?.promptTokens ?? 0;
      state.usage.stateful.completionTokens += usage?.completionTokens ?? 0;
      return state;
    }
    case 'SessionForked': {
      const { fromSessionId, atVersion, summary, summarizedMessages, messages, llmTurns } = event.data;
      // the copied conversation counts as said at the fork (its versions are the original's)
      state.forkedFrom = { sessionId: fromSessionId, version: atVersion };
      state.summary = summary === null ? null : { text: summary, throughVersion: event.version, messages: summarizedMessages };
      state.messages = messages.map((m) => ({ ...m, version: event.version }));
      state.llmTurns = llmTurns;
      return state;
    }
    case 'MemoryRemembered':
    case 'MemoryForgotten':
      return state; // user-stream events: not part of a session
    case 'ResponseDeleted':
      return state; // the turn stays in the conversation: only its stored response is gone
    case 'ConversationItemsAdded':
      state.messages.push(...addedItems(event));
      return state;
    case 'ConversationItemDeleted':
      state.messages = withoutItem(state.messages, event.data.itemId);
      return state;
    case 'SessionMetadataUpdated':
      state.metadata = event.data.metadata;
      return state;
    case 'ConversationDeleted':
      state.deletedAt = event.recordedAt;
      return state;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

function message(role: TranscriptMessage['role'], event: RecordedEvent<'UserMessageReceived' | 'AssistantReplied'>): TranscriptMessage {
  return { role, text: event.data.text, turnId: event.data.turnId, version: event.version, at: event.recordedAt };
}

/**
 * The conversation a client sent with its message that the session did not have yet (a first
 * request that brings earlier messages, a voice platform's spoken greeting): its user and
 * assistant messages join the transcript before the message, each under an id of its own so none
 * is taken for the turn's reply.
 */
function carriedIn(event: RecordedEvent<'UserMessageReceived'>): TranscriptMessage[] {
  return (event.data.context ?? []).flatMap((m, i): TranscriptMessage[] => {
    const line = { turnId: `${event.data.turnId}/context/${i}`, version: event.version, at: event.recordedAt };
    if (m.role === 'tool') return [{ ...line, role: 'tool', text: m.content, toolCallId: m.toolCallId }];
    if (m.role === 'assistant' && m.toolCalls?.length)
      return [{ ...line, role: 'assistant', text: m.content ?? '', toolCalls: m.toolCalls }];
    return (m.role === 'user' || m.role === 'assistant') && m.content ? [{ ...line, role: m.role, text: m.content }] : [];
  });
}

/** Replaces the turn's record (in an owned state) with a patched copy. */
function updateTurn(state: OpenSession, turnId: string, patch: Partial<TurnRecord>): void {
  state.turns.forEach((turn, i) => {
    if (turn.turnId === turnId) state.turns[i] = { ...turn, ...patch };
  });
}

/** A state together with the stream version it reflects. */
export interface Versioned<S> {
  state: S;
  version: number;
}

/** Folds events on top of a known state (a projection or snapshot), skipping any already folded. */
export function foldSession(
  events: readonly RecordedEvent[],
  from: Versioned<SessionState> = { state: initialSessionState(), version: 0 },
): Versioned<SessionState> {
  const folder = new SessionFolder(from);
  for (const event of events) folder.add(event);
  return folder.result();
}

/**
 * Folds events one at a time (as a rebuild reads them) into a state of its own, copying `from`
 * once rather than the whole state on every event.
 */
export class SessionFolder {
  private state: SessionState;
  private version: number;

  constructor(from: Versioned<SessionState> = { state: initialSessionState(), version: 0 }) {
    this.state = owned(from.state);
    this.version = from.version;
  }

  /** The stream version folded so far. */
  get at(): number {
    return this.version;
  }

  /** Folds the event, unless its version is already folded. */
  add(event: RecordedEvent): void {
    if (event.version <= this.version) return;
    this.state = evolveOwned(this.state, event);
    this.version = event.version;
  }

  /** The state folded so far; it is the caller's (later `add`s work on a copy). */
  result(): Versioned<SessionState> {
    const result = { state: this.state, version: this.version };
    this.state = owned(this.state);
    return result;
  }
}

/** What routing needs to know about the turns before `turnId`. */
export function routingHistory(
  state: SessionState,
  turnId: string,
): { llmTurns: number; lastTurn: { route: AnswerRoute; intent: string | null } | null; previousText: string | null } {
  if (state.status !== 'open') return { llmTurns: 0, lastTurn: null, previousText: null };
  const index = state.turns.findIndex((t) => t.turnId === turnId);
  const isLlm = (t: TurnRecord) => t.route === 'llm' && t.mode === 'stateful';
  const later = index < 0 ? [] : state.turns.slice(index);
  const last = (index < 0 ? state.turns : state.turns.slice(0, index)).filter((t) => t.route !== null).at(-1);
  // what the user said last before this turn (the transcript holds the turns before it, and maybe this one)
  const own = state.messages.findIndex((m) => m.role === 'user' && m.turnId === turnId);
  const previous = (own < 0 ? state.messages : state.messages.slice(0, own)).filter((m) => m.role === 'user' && m.text.trim()).at(-1);
  return {
    llmTurns: state.llmTurns - later.filter(isLlm).length,
    lastTurn: last ? { route: last.route!, intent: last.intent } : null,
    previousText: previous?.text ?? null,
  };
}

/**
 * The whole conversation a session's events tell, as items (OpenAI's Conversations API): every
 * message, not only those after the rolling summary — the summary stands in for older messages in
 * the model's context, not in the record. Deleted items are left out.
 */
export function conversationItems(events: readonly RecordedEvent[]): TranscriptItem[] {
  const { state } = foldSession(events.filter((e) => e.type !== 'ConversationSummarized'));
  return state.status === 'open' ? transcriptItems(state.messages) : [];
}
