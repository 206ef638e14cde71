import type {
  AnswerRoute,
  EventMetadata,
  NewEvent,
  RequestedMode,
  RouteMode,
  RoutingPolicy,
  UserMessageReceivedData,
} from '@parley/contracts';
import type { z } from 'zod';
import { routingHistory, type SessionState } from './session.state';
import { derivedId } from './ids';

export interface RouteDecision {
  mode: RouteMode;
  route: AnswerRoute;
  /** Stable, machine-readable reason. */
  reason: string;
  /** The inputs that drove the decision. */
  features: Record<string, string | number | boolean | null>;
}

/** The knowledge base's best match for the turn's text. */
export interface FaqCandidate {
  intent: string;
  confidence: number;
  kbVersion: number;
}

/** What the session shows about earlier turns (only read for in-session `auto` turns). */
export interface RoutingHistory {
  /** Earlier turns answered by the LLM: an ongoing case. */
  llmTurns: number;
  /** The turn before this one, if any. */
  lastTurn: { route: AnswerRoute; intent: string | null } | null;
  /** What the user said last before this turn (null: nothing yet). */
  previousText?: string | null;
}

export interface RouteInput {
  /** The tenant's policy: `hybrid` decides per turn; `stateful` and `stateless` fix the mode. */
  policy: RoutingPolicy;
  requestedMode: RequestedMode;
  /** False for turns sent without a session (`POST /v1/turns`). */
  inSession: boolean;
  /** The user's text (for follow-up and dissatisfaction cues). */
  text: string;
  /** Best knowledge base match; null when the tenant has no knowledge base. */
  match: FaqCandidate | null;
  /** Confidence needed to answer from the knowledge base. */
  threshold: number;
  /** Null unless read (stateless paths never read the session). */
  history: RoutingHistory | null;
  /** The message only brings results of tool calls the assistant made (no text of its own). */
  toolResults?: boolean;
  /**
   * The best match for the text read after what the user said before it (`previousText`): a
   * follow-up's meaning, when it depends on the turn before. Absent without a turn before.
   */
  contextMatch?: FaqCandidate | null;
}

/**
 * Whether deciding needs the session's history: only for an in-session `auto` turn of a hybrid
 * tenant that the knowledge base could answer. Otherwise the session is not read at all, so the
 * stateless path never waits on state.
 */
export function needsHistory(input: Pick<RouteInput, 'inSession' | 'requestedMode' | 'policy' | 'match' | 'threshold'>): boolean {
  return (
    input.inSession &&
    input.requestedMode === 'auto' &&
    input.policy === 'hybrid' &&
    input.match !== null &&
    input.match.confidence >= input.threshold
  );
}

/** "That didn't help", "still not working", "let me talk to a person". */
const DISSATISFIED =
  /\b(did\s*n[o']?t|does\s*n[o']?t|not)\s+(help|work|answer)|\bstill\b|\bthat'?s not\b|\bwrong\b|\b(human|person|agent|someone)\b/i;
/** Words that lean on what was said before: "and if it ...", "what about that one". */
const REFERS_BACK = /^(and|but|also|so|then|what about|how about)\b|\b(it|that|this|those|them|they|there)\b/i;

/**
 * Decides how a turn is answered. Stateless when the request alone is enough — a confident FAQ
 * match with nothing open in the session; stateful when history matters — an ongoing case, a
 * follow-up, an FAQ answer that did not help, or no confident match. A client can force a mode.
 */
export function routeTurn(input: RouteInput): RouteDecision {
  const { match, threshold } = input;
  const confident = match !== null && match.confidence >= threshold;
  const base = {
    policy: input.policy,
    requestedMode: input.requestedMode,
    inSession: input.inSession,
    intent: match?.intent ?? null,
    confidence: match ? Math.round(match.confidence * 1e4) / 1e4 : null,
    kbVersion: match?.kbVersion ?? null,
    threshold,
  };
  const decide = (mode: RouteMode, route: AnswerRoute, reason: string, extra: RouteDecision['features'] = {}): RouteDecision => ({
    mode,
    route,
    reason,
    features: { ...base, ...extra },
  });
  const stateless = (reason: string) =>
    confident ? decide('stateless', 'faq', `${reason}-faq`) : decide('stateless', 'llm', match ? `${reason}-below-threshold` : reason);

  if (!input.inSession) return stateless('no-session');
  switch (input.requestedMode) {
    case 'stateful':
      return decide('stateful', 'llm', 'client-forced-stateful');
    case 'stateless':
      return stateless('client-forced-stateless');
    case 'auto':
      // tool results continue the turn that asked for them: without its history they answer nothing
      if (input.toolResults) return decide('stateful', 'llm', 'tool-results');
      if (input.policy === 'stateful') return decide('stateful', 'llm', 'tenant-policy-stateful');
      if (input.policy === 'stateless') return stateless('tenant-policy-stateless');
      break;
    default: {
      const _exhaustive: never = input.requestedMode;
      return _exhaustive;
    }
  }
  if (!match) return decide('stateful', 'llm', 'session-default-stateful');
  if (!confident) return decide('stateful', 'llm', 'faq-below-threshold');
  const history = input.history ?? { llmTurns: 0, lastTurn: null };
  const signals = { llmTurns: history.llmTurns, lastRoute: history.lastTurn?.route ?? null };
  const last = history.lastTurn;
  if (last?.route === 'faq' && (last.intent === match.intent || DISSATISFIED.test(input.text))) {
    return decide('stateful', 'llm', 'faq-did-not-help', signals);
  }
  if (history.llmTurns > 0) return decide('stateful', 'llm', 'open-case', signals);
  if (last && REFERS_BACK.test(input.text)) return decide('stateful', 'llm', 'follow-up', signals);
  // read with what the user said before it, the question means something else, and more surely
  // than alone (a follow-up leaning on the turn before, not a new question of its own): it is not
  // answered as if it stood alone, but by the LLM with the conversation
  const inContext = input.contextMatch;
  if (inContext && inContext.intent !== match.intent && inContext.confidence > match.confidence) {
    return decide('stateful', 'llm', 'follow-up-in-context', { ...signals, contextIntent: inContext.intent });
  }
  return decide('stateless', 'faq', 'faq-confident', signals);
}

/**
 * What records a routing decision for a user's message: `TurnRouted`, and for a knowledge base
 * answer the answer itself (`AssistantReplied` from the matched version). Ids derive from the
 * message's, so whoever routes it — the router, or ingress answering a sessionless FAQ turn as it
 * records it — writes the same events, and a second attempt meets the first in the log.
 */
export function routingEvents(
  message: { eventId: string; turnId: string; metadata: EventMetadata },
  decision: RouteDecision,
  match: (FaqCandidate & { answer: string }) | null,
): NewEvent[] {
  const { turnId } = message;
  const metadata = { ...message.metadata, causationId: message.eventId, correlationId: turnId };
  const routedId = derivedId(message.eventId, 'TurnRouted');
  const events: NewEvent[] = [{ eventId: routedId, type: 'TurnRouted', data: { turnId, ...decision }, metadata }];
  if (decision.route === 'faq' && match) {
    events.push({
      eventId: derivedId(routedId, 'outcome'),
      type: 'AssistantReplied',
      data: {
        turnId,
        text: match.answer,
        model: `kb:v${match.kbVersion}`,
        usage: null,
        latencyMs: 0,
        contextMessages: 0,
        interrupted: null,
      },
      metadata: { ...metadata, causationId: routedId },
    });
  }
  return events;
}

/** What routing is given by a tenant's knowledge base: its best match for a text, with the answer. */
export interface KnowledgeMatcher {
  best(text: string): FaqCandidate & { answer: string };
}

/** A message read after what the user said before it: what the knowledge base is asked for a follow-up's meaning. */
export const followUpText = (previousText: string, text: string) => `${previousText}\n${text}`;

/**
 * The texts `routeMessage` may ask the matcher about, for a caller that prepares them first (a
 * matcher that takes sentence embeddings): the message's, and, given the session, the message
 * read after the one before it.
 */
export function routingTexts(message: { turnId: string; text: string }, state?: SessionState): string[] {
  if (!message.text.trim()) return [];
  const previous = state ? routingHistory(state, message.turnId).previousText : null;
  return previous ? [message.text, followUpText(previous, message.text)] : [message.text];
}

/** A message's routing, or that it needs the session's history first (a caller that did not read it). */
export type Routing =
  { kind: 'routed'; decision: RouteDecision; match: (FaqCandidate & { answer: string }) | null } | { kind: 'needs-history' };

/**
 * The routing of a user's message — the one decision ingress (when the session need not be read),
 * the router and `parley rerun` all make, with the same inputs: the best knowledge base match for
 * its text (none for a message that only brings tool results), the session's history when the
 * decision depends on it, and the tenant's policy. `state` is the session as the caller read it;
 * left out, a decision that needs it is `needs-history` (the router reads and decides).
 */
export function routeMessage(input: {
  message: Pick<z.infer<typeof UserMessageReceivedData>, 'turnId' | 'text' | 'requestedMode' | 'context'>;
  inSession: boolean;
  policy: RoutingPolicy;
  threshold: number;
  matcher: KnowledgeMatcher | null;
  state?: SessionState;
}): Routing {
  const { message, inSession, policy, threshold } = input;
  const text = message.text;
  // no text (tool results sent back): nothing to match
  const match = input.matcher && text.trim() ? input.matcher.best(text) : null;
  let history: RoutingHistory | null = null;
  if (needsHistory({ inSession, requestedMode: message.requestedMode, policy, match, threshold })) {
    if (!input.state) return { kind: 'needs-history' };
    history = routingHistory(input.state, message.turnId);
  }
  const toolResults = !text.trim() && (message.context ?? []).some((m) => m.role === 'tool');
  // a confident match in a session with an earlier message: what it means after that message
  const contextMatch =
    history?.previousText && match && input.matcher ? input.matcher.best(followUpText(history.previousText, text)) : null;
  return {
    kind: 'routed',
    decision: routeTurn({
      policy,
      requestedMode: message.requestedMode,
      inSession,
      text,
      match,
      threshold,
      history,
      toolResults,
      contextMatch,
    }),
    match,
  };
}
