import {
  sessionStreamId,
  turnStreamId,
  type ClientMessage,
  type ConcurrentTurnPolicy,
  type EventMetadata,
  type GenerationOptions,
  type NewEvent,
  type RecordedEvent,
  type RequestedMode,
  type TokenUsage,
  type ToolCallData,
  type ToolSpecData,
} from '@parley/contracts';
import { derivedId } from './ids';
import type { SessionState, TurnRecord } from './session.state';
import type { SummaryRequest } from './summary.policy';
import { routingEvents, type FaqCandidate, type RouteDecision } from './turn-routing.policy';

/**
 * What happens to a turn after it was routed, decided from the session's state alone: whether it
 * may be answered now, and the events that record what came of it. Ids derive from the event
 * handled, so a second attempt meets the first in the log; times come from the log. The responder
 * and the CLI's rerun call the same functions.
 */

/** A turn as a client asked for it: its text and where it goes, and what else it sent. */
export interface TurnAsked {
  tenantId: string;
  /** Null: a turn of its own, outside any session. */
  sessionId: string | null;
  text: string;
  mode: RequestedMode;
  idempotencyKey?: string;
  /** The client's system prompt, in place of the deployment's. */
  instructions?: string;
  /** The conversation the client sent before this message: the context without a session, else messages the session lacks. */
  context?: ClientMessage[];
  /** The client's functions the model may call. */
  tools?: ToolSpecData[];
  /** What the client asked of the model (OpenAI's sampling and output parameters). */
  generation?: GenerationOptions;
  /** Where the waiting ingress hears the answer. */
  replyTo: string;
  /** The client takes the reply in pieces as they are generated. */
  stream?: boolean;
}

/**
 * Recording a user's message: the turn's stream and its `UserMessageReceived`. A request without
 * an Idempotency-Key gets fresh ids (`newId`); with one, the ids derive from the key (in its
 * tenant and session), so a retry meets the original in the log instead of starting a second turn.
 */
export function received(asked: TurnAsked, newId: () => string): { streamId: string; message: NewEvent<'UserMessageReceived'> } {
  const { tenantId, sessionId, idempotencyKey } = asked;
  const scope = `${tenantId}\u0000${sessionId ?? 'stateless'}\u0000${idempotencyKey}`;
  const turnId = idempotencyKey ? derivedId(scope, 'turn') : newId();
  const message: NewEvent<'UserMessageReceived'> = {
    eventId: idempotencyKey ? derivedId(scope, 'UserMessageReceived') : newId(),
    type: 'UserMessageReceived',
    data: {
      turnId,
      text: asked.text,
      requestedMode: asked.mode,
      ...(asked.instructions !== undefined ? { instructions: asked.instructions } : {}),
      // in a session, the client's earlier messages matter only where the session lacks some
      ...(asked.context && (!sessionId || asked.context.length) ? { context: asked.context } : {}),
      ...(asked.tools?.length ? { tools: asked.tools } : {}),
      ...(asked.generation ? { generation: asked.generation } : {}),
    },
    metadata: {
      tenantId,
      correlationId: turnId,
      replyTo: asked.replyTo,
      ...(idempotencyKey ? { idempotencyKey } : {}),
      ...(asked.stream ? { stream: true } : {}),
    },
  };
  return { streamId: sessionId ? sessionStreamId(sessionId) : turnStreamId(turnId), message };
}

/**
 * A message routed as it is recorded: marked `routed`, followed by the events of its routing (a
 * knowledge base answer among them), all in one append. `answeredWhole`: nobody waits on the bus
 * for the answer — it is returned from the append — so the events name no reply subject and no stream.
 */
export function receivedWithRouting(
  message: NewEvent<'UserMessageReceived'>,
  decision: RouteDecision,
  match: (FaqCandidate & { answer: string }) | null,
  answeredWhole = false,
): NewEvent[] {
  const { replyTo: _nobodyWaits, stream: _notStreamed, ...whole } = message.metadata;
  const metadata: EventMetadata = answeredWhole ? whole : message.metadata;
  return [
    { ...message, metadata: { ...metadata, routed: true } },
    ...routingEvents({ eventId: message.eventId, turnId: message.data.turnId, metadata }, decision, match),
  ];
}

const settled = (turn: TurnRecord) => turn.status === 'replied' || turn.status === 'failed';

/** What may be done with a routed stateful turn now. */
export type Admission =
  /** Its outcome is in the log already (a redelivery, or another replica answered it). */
  | { kind: 'answered' }
  /** Earlier turns of the session have no outcome yet: it is answered after them, seeing their replies. */
  | { kind: 'wait'; for: string[] }
  /** Under `interrupt`, the user spoke again before its reply began: it is recorded as cut, empty. */
  | { kind: 'superseded' }
  | { kind: 'answer' };

/**
 * A stateful turn is answered once every earlier turn of its session has an outcome in the log —
 * under `queue` that is the previous turn's reply; under `interrupt` the previous reply is cut
 * where it is as the user speaks, so the wait is for that cut to be recorded. Its context then
 * holds every earlier turn question-then-answer, and is a function of the log (what a replay
 * rebuilds), whichever replica answers and in whatever order the bus delivered.
 */
export function admitAnswer(state: SessionState, turnId: string, policy: ConcurrentTurnPolicy): Admission {
  if (state.status !== 'open') return { kind: 'answer' }; // not started: the context says so
  const index = state.turns.findIndex((t) => t.turnId === turnId);
  if (index < 0) return { kind: 'answer' };
  if (settled(state.turns[index])) return { kind: 'answered' };
  const before = state.turns.slice(0, index).filter((t) => !settled(t));
  if (before.length) return { kind: 'wait', for: before.map((t) => t.turnId) };
  if (policy === 'interrupt' && index < state.turns.length - 1) return { kind: 'superseded' };
  return { kind: 'answer' };
}

/**
 * A message whose routing reads the session is routed once every earlier message of the session
 * is: the decision sees the route of the turn before it, as a replay of the log does.
 */
export function admitRouting(state: SessionState, turnId: string): { kind: 'route' } | { kind: 'wait'; for: string[] } {
  if (state.status !== 'open') return { kind: 'route' };
  const index = state.turns.findIndex((t) => t.turnId === turnId);
  const before = (index < 0 ? state.turns : state.turns.slice(0, index)).filter((t) => t.status === 'received');
  return before.length ? { kind: 'wait', for: before.map((t) => t.turnId) } : { kind: 'route' };
}

/** Id of a turn's outcome when the responder records it (answer, failure or cut). */
export const outcomeIdOf = (routed: Pick<RecordedEvent<'TurnRouted'>, 'eventId'>) => derivedId(routed.eventId, 'outcome');

const caused = (routed: RecordedEvent<'TurnRouted'>): EventMetadata => ({
  ...routed.metadata,
  causationId: routed.eventId,
  correlationId: routed.data.turnId,
});

/** What the model gave for a turn, and what the context it was given was made of. */
export interface TurnReply {
  text: string;
  model: string;
  usage: TokenUsage | null;
  latencyMs: number;
  contextMessages: number;
  contextDigest: string;
  interrupted: NewEvent<'AssistantReplied'>['data']['interrupted'];
  toolCalls: ToolCallData[];
  /** Stateful turns: the session version the context was built from, and the oldest messages it left out. */
  stateVersion?: number;
  droppedMessages?: number;
}

export function replied(routed: RecordedEvent<'TurnRouted'>, reply: TurnReply): NewEvent<'AssistantReplied'> {
  const { toolCalls, stateVersion, droppedMessages, ...rest } = reply;
  return {
    eventId: outcomeIdOf(routed),
    type: 'AssistantReplied',
    data: {
      turnId: routed.data.turnId,
      ...rest,
      ...(toolCalls.length ? { toolCalls } : {}),
      ...(stateVersion !== undefined ? { stateVersion } : {}),
      ...(droppedMessages ? { droppedMessages } : {}),
    },
    metadata: caused(routed),
  };
}

/** The turn's reply never began: the user spoke again first (`interrupt`). */
export function superseded(routed: RecordedEvent<'TurnRouted'>): NewEvent<'AssistantReplied'> {
  return {
    eventId: outcomeIdOf(routed),
    type: 'AssistantReplied',
    data: { turnId: routed.data.turnId, text: '', model: 'none', usage: null, latencyMs: 0, contextMessages: 0, interrupted: 'next-turn' },
    metadata: caused(routed),
  };
}

export function failed(routed: RecordedEvent<'TurnRouted'>, failure: { code: string; message: string }): NewEvent<'TurnFailed'> {
  return { eventId: outcomeIdOf(routed), type: 'TurnFailed', data: { turnId: routed.data.turnId, ...failure }, metadata: caused(routed) };
}

/** Code of a turn Parley gave up on after its deliveries ran out: the session goes on without it. */
export const TURN_UNANSWERED = 'TURN.UNANSWERED';

/**
 * A turn whose message (`message`) or routing could not be handled however often it was tried:
 * recorded as failed, so the turns after it are not held up, and its client is told.
 */
export function gaveUp(
  message: { eventId: string; turnId: string; metadata: EventMetadata },
  routedEventId?: string,
): NewEvent<'TurnFailed'> {
  return {
    eventId: routedEventId ? outcomeIdOf({ eventId: routedEventId }) : derivedId(message.eventId, 'gave-up'),
    type: 'TurnFailed',
    data: {
      turnId: message.turnId,
      code: TURN_UNANSWERED,
      message: 'Parley could not handle this turn and gave up on it; it is recorded as failed',
    },
    metadata: { ...message.metadata, causationId: routedEventId ?? message.eventId, correlationId: message.turnId },
  };
}

/** What the model learned about the user during the turn, for their memory stream. */
export function remembered(routed: RecordedEvent<'TurnRouted'>, facts: { name: string; value: string }[]): NewEvent<'MemoryRemembered'>[] {
  const outcomeId = outcomeIdOf(routed);
  return facts.map((fact, i) => ({
    eventId: derivedId(outcomeId, `memory:${i}`),
    type: 'MemoryRemembered',
    data: { ...fact, source: 'llm', turnId: routed.data.turnId },
    metadata: { tenantId: routed.metadata.tenantId, causationId: routed.eventId, correlationId: routed.data.turnId },
  }));
}

/**
 * A summary of the session's older messages, written after `turnId`'s reply. Its id derives from
 * the stream and what it covers, so two replicas summarizing the same messages record it once.
 */
export function summarized(
  streamId: string,
  turnId: string,
  metadata: EventMetadata,
  request: SummaryRequest,
  result: { text: string; truncated: boolean; model: string; usage: TokenUsage | null },
): NewEvent<'ConversationSummarized'> {
  return {
    eventId: derivedId(`${streamId}\u0000${request.throughVersion}`, 'summary'),
    type: 'ConversationSummarized',
    data: {
      turnId,
      summary: result.text,
      throughVersion: request.throughVersion,
      summarizedMessages: request.summarizedMessages,
      model: result.model,
      usage: result.usage,
      ...(result.truncated ? { truncated: true } : {}),
    },
    metadata: { tenantId: metadata.tenantId, correlationId: turnId },
  };
}

/** What an answer adds to its tenant's usage (counted as it is recorded), by kind of answer. */
export interface UsageIncrement {
  kind: 'faq' | 'stateless' | 'stateful';
  turns: number;
  promptTokens: number;
  completionTokens: number;
}

/** An answered turn, by how it was routed: from the knowledge base, by the LLM with or without the session. */
export function answerUsage(route: { mode: string; route: string }, usage: TokenUsage | null): UsageIncrement {
  const kind = route.route === 'faq' ? 'faq' : route.mode === 'stateless' ? 'stateless' : 'stateful';
  return { kind, turns: 1, promptTokens: usage?.promptTokens ?? 0, completionTokens: usage?.completionTokens ?? 0 };
}

/** A summary's tokens: what state costs, counted as stateful (no turn). */
export const summaryUsage = (usage: TokenUsage | null): UsageIncrement => ({
  kind: 'stateful',
  turns: 0,
  promptTokens: usage?.promptTokens ?? 0,
  completionTokens: usage?.completionTokens ?? 0,
});

/** What a barge-in on a turn's reply may do, from the session's state. */
export type InterruptAdmission =
  /** The turn is not among the session's recent turns. */
  | { kind: 'unknown' }
  /** The turn failed: it has no reply to interrupt. */
  | { kind: 'failed' }
  /** Record what was heard; `stop`: the reply is still being generated, so it is stopped too. */
  | { kind: 'record'; stop: boolean };

/**
 * The user barged in on a turn's reply, having heard part of it: recorded once (a repeat meets
 * the first in the log), and a reply still being generated is stopped where it is.
 */
export function admitInterrupt(state: SessionState, turnId: string): InterruptAdmission {
  const turn = state.status === 'open' ? state.turns.find((t) => t.turnId === turnId) : undefined;
  if (!turn) return { kind: 'unknown' };
  if (turn.status === 'failed') return { kind: 'failed' };
  return { kind: 'record', stop: turn.status !== 'replied' };
}

/** What the user heard of a turn's reply before speaking over it; one per turn. */
export function interrupted(streamId: string, tenantId: string, turnId: string, spokenText: string): NewEvent<'ReplyInterrupted'> {
  return {
    eventId: derivedId(`${streamId}\u0000${turnId}`, 'ReplyInterrupted'),
    type: 'ReplyInterrupted',
    data: { turnId, spokenText },
    metadata: { tenantId, correlationId: turnId },
  };
}

/** Whether a session last active at `lastActivityAt` has gone `idleSeconds` without a turn by `now` (ms since the epoch). */
export const isIdle = (lastActivityAt: string, now: number, idleSeconds: number) => now - Date.parse(lastActivityAt) >= idleSeconds * 1000;

/**
 * A session found idle past its tenant's limit: expired as of its last activity, once (the id
 * derives from that time, so every replica that notices records the same event).
 */
export function expired(streamId: string, tenantId: string, lastActivityAt: string, idleSeconds: number): NewEvent<'SessionExpired'> {
  return {
    eventId: derivedId(`${streamId}\u0000${lastActivityAt}`, 'SessionExpired'),
    type: 'SessionExpired',
    data: { idleSeconds, lastActivityAt },
    metadata: { tenantId },
  };
}
