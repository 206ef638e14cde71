import type { AnswerRoute, RecordedEvent, RouteMode } from '@parley/contracts';

/** One line of the transcript. */
export interface TranscriptMessage {
  role: 'user' | 'assistant';
  text: string;
  turnId: string;
  /** Stream version of the event that added this message. */
  version: number;
  at: string;
}

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
      messages: TranscriptMessage[];
      turns: TurnRecord[];
      usage: SessionUsage;
      /** When the session expired for inactivity (no turns after that), or null while it is live. */
      expiredAt: string | null;
    };

export type OpenSession = Extract<SessionState, { status: 'open' }>;

export const initialSessionState = (): SessionState => ({ status: 'none' });

/**
 * Version of `evolveSession`'s meaning. Bump it when the same events would fold to a different
 * state: stored folds (read model rows) from another version are then ignored and refolded.
 */
export const SESSION_FOLD_VERSION = 4; // 2: turns record route and intent; 3: usage totals; 4: expiry

/**
 * Folds one event into a session's state. Pure: the same events always give the same state, so
 * replay, the projector and the responder agree by construction.
 */
export function evolveSession(state: SessionState, event: RecordedEvent): SessionState {
  if (event.type === 'SessionStarted') {
    return {
      status: 'open',
      sessionId: event.data.sessionId,
      tenantId: event.metadata.tenantId,
      userId: event.data.userId,
      metadata: event.data.metadata,
      startedAt: event.recordedAt,
      messages: [],
      turns: [],
      usage: emptyUsage(),
      expiredAt: null,
    };
  }
  if (state.status !== 'open') return state; // events before the start cannot happen; ignore rather than crash a replay
  switch (event.type) {
    case 'UserMessageReceived':
      return {
        ...state,
        messages: [...state.messages, message('user', event)],
        turns: [
          ...state.turns,
          { turnId: event.data.turnId, status: 'received', mode: null, route: null, intent: null, reason: null, error: null },
        ],
      };
    case 'TurnRouted':
      return updateTurn(state, event.data.turnId, {
        status: 'routed',
        mode: event.data.mode,
        route: event.data.route,
        intent: typeof event.data.features.intent === 'string' ? event.data.features.intent : null,
        reason: event.data.reason,
      });
    case 'AssistantReplied': {
      const turn = state.turns.find((t) => t.turnId === event.data.turnId);
      const kind: keyof SessionUsage = turn?.route === 'faq' ? 'faq' : turn?.mode === 'stateless' ? 'stateless' : 'stateful';
      const totals = state.usage[kind];
      return {
        ...updateTurn(state, event.data.turnId, { status: 'replied' }),
        messages: [...state.messages, message('assistant', event)],
        usage: {
          ...state.usage,
          [kind]: {
            turns: totals.turns + 1,
            promptTokens: totals.promptTokens + (event.data.usage?.promptTokens ?? 0),
            completionTokens: totals.completionTokens + (event.data.usage?.completionTokens ?? 0),
          },
        },
      };
    }
    case 'TurnFailed':
      return updateTurn(state, event.data.turnId, {
        status: 'failed',
        error: { code: event.data.code, message: event.data.message },
      });
    case 'SessionExpired':
      return { ...state, expiredAt: event.recordedAt };
    case 'MemoryRemembered':
    case 'MemoryForgotten':
      return state; // user-stream events: not part of a session
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

function message(role: TranscriptMessage['role'], event: RecordedEvent<'UserMessageReceived' | 'AssistantReplied'>): TranscriptMessage {
  return { role, text: event.data.text, turnId: event.data.turnId, version: event.version, at: event.recordedAt };
}

function updateTurn(state: OpenSession, turnId: string, patch: Partial<TurnRecord>): OpenSession {
  return { ...state, turns: state.turns.map((turn) => (turn.turnId === turnId ? { ...turn, ...patch } : turn)) };
}

/** A state together with the stream version it reflects. */
export interface Versioned<S> {
  state: S;
  version: number;
}

/** Folds events on top of a known state (a projection or snapshot), skipping any already folded. */
export function foldSession(events: readonly RecordedEvent[], from: Versioned<SessionState> = { state: initialSessionState(), version: 0 }): Versioned<SessionState> {
  let { state, version } = from;
  for (const event of events) {
    if (event.version <= version) continue;
    state = evolveSession(state, event);
    version = event.version;
  }
  return { state, version };
}

/** What routing needs to know about the turns before `turnId`. */
export function routingHistory(state: SessionState, turnId: string): { llmTurns: number; lastTurn: { route: AnswerRoute; intent: string | null } | null } {
  if (state.status !== 'open') return { llmTurns: 0, lastTurn: null };
  const index = state.turns.findIndex((t) => t.turnId === turnId);
  const earlier = (index < 0 ? state.turns : state.turns.slice(0, index)).filter((t) => t.route !== null);
  const last = earlier.at(-1);
  return {
    llmTurns: earlier.filter((t) => t.route === 'llm' && t.mode === 'stateful').length,
    lastTurn: last ? { route: last.route!, intent: last.intent } : null,
  };
}
