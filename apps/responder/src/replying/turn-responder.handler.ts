import { Controller, Inject, Logger } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { routeInfoOf, sessionIdOf, type TokenUsage, type ContextMessage, type NewEvent, type RecordedEvent, type TurnReplyMessage } from '@parley/contracts';
import {
  contextDigest,
  derivedId,
  evolveSession,
  initialSessionState,
  memoryMessage,
  planStatefulContext,
  summaryPrompt,
  turnContext,
  type SessionState,
  type SummaryRequest,
} from '@parley/conversation';
import {
  DuplicateEventError,
  EventStore,
  SessionStates,
  StreamErasedError,
  TenantDirectory,
  UserErasedError,
  UserMemoryStore,
} from '@parley/event-store';
import { LlmError, type Llm, type LlmMessage, type ToolCall, type ToolSpec } from '@parley/llm';
import { z } from 'zod';
import { EventPublisher, JetStreamContext, RunningTurns, sendTurnDelta, sendTurnReply } from '@parley/messaging';
import { appendOnce, RESOURCES, type Connections } from '@parley/runtime';

export const LLM = Symbol('LLM');
export const RESPONDER_OPTIONS = Symbol('RESPONDER_OPTIONS');

export interface ResponderOptions {
  systemPrompt: string;
}

/** What to do with a routed turn: answer it with this context, or it was answered already. */
type Plan =
  | { kind: 'answer'; context: LlmMessage[]; userId: string | null; tools: ToolSpec[] }
  | { kind: 'answered'; outcome: RecordedEvent }
  /** The user spoke again before this turn's reply began, under the `interrupt` policy. */
  | { kind: 'superseded' };

/** The tool through which the model keeps what it learns about the user for later sessions. */
export const REMEMBER_TOOL: ToolSpec = {
  name: 'remember',
  description:
    'Remember a lasting fact or preference about the user (for example a seat preference, dietary need or preferred language) so it is known in their future conversations. Use a short snake_case name; remembering a name again replaces its value.',
  parameters: {
    type: 'object',
    properties: {
      name: { type: 'string', description: 'short snake_case key, e.g. seat_preference' },
      value: { type: 'string', description: 'the fact, in a few words' },
    },
    required: ['name', 'value'],
    additionalProperties: false,
  },
};
const RememberArgs = z.object({ name: z.string().trim().min(1).max(100), value: z.string().trim().min(1).max(2_000) });
const MAX_TOOL_ROUNDS = 3;
/** Routed messages kept for their `TurnRouted`, which comes next on the bus (a few, briefly). */
const MESSAGES_KEPT = 1_000;
const MESSAGE_KEPT_MS = 60_000;
/**
 * A turn delivered for the first time within this long of being recorded is answered from what
 * this process followed; an older one (a turn queued behind a long one, a re-publish after
 * JetStream's two-minute duplicate window — a repeat within it never arrives) reads the log,
 * where an answer recorded meanwhile would be.
 */
const FRESH_TURN_MS = 30_000;

/**
 * Answers routed turns: builds the context the route allows, calls the LLM, records the outcome
 * (`AssistantReplied` or `TurnFailed`) and sends it to the ingress instance waiting on the turn.
 * A turn is answered at most once: a repeated `TurnRouted` (redelivery, relay re-publish) finds
 * the outcome in what it reads anyway and only re-sends the answer.
 */
@Controller()
export class TurnResponderHandler {
  private readonly log = new Logger('TurnResponder');
  private readonly memory: UserMemoryStore;
  /** Messages ingress routed as it recorded them, by event id, until their turn is planned (oldest first). */
  private readonly messages = new Map<string, { event: RecordedEvent; at: number }>();
  private purge?: NodeJS.Timeout;

  constructor(
    private readonly store: EventStore,
    private readonly states: SessionStates,
    private readonly publisher: EventPublisher,
    @Inject(LLM) private readonly llm: Llm,
    @Inject(RESPONDER_OPTIONS) private readonly options: ResponderOptions,
    private readonly tenants: TenantDirectory,
    private readonly running: RunningTurns,
    @Inject(RESOURCES) private readonly resources: Connections,
  ) {
    this.memory = new UserMemoryStore(store);
  }

  /**
   * A message that ingress routed as it recorded it: its `TurnRouted` comes next. The message
   * advances this process's fold of its session and is kept for the turn's plan, so the turn needs
   * no read of the log.
   */
  @EventPattern('UserMessageReceived')
  keep(@Payload() message: RecordedEvent<'UserMessageReceived'>): void {
    this.states.advance(message);
    this.messages.delete(message.eventId); // a repeat goes to the back: the map stays oldest first
    this.forgetOldMessages(MESSAGES_KEPT - 1);
    this.messages.set(message.eventId, { event: message, at: Date.now() });
    this.purgeWhenDue();
  }

  /** Drops each kept message when its time is up, even if no other message comes. */
  private purgeWhenDue(): void {
    const oldest = this.messages.values().next().value;
    if (this.purge || !oldest) return;
    this.purge = setTimeout(() => {
      this.purge = undefined;
      this.forgetOldMessages(MESSAGES_KEPT);
      this.purgeWhenDue();
    }, Math.max(0, oldest.at + MESSAGE_KEPT_MS - Date.now()) + 1).unref();
  }

  /** Oldest first: drops kept messages past their time (a user's words stay no longer than the folds do) or over `room`. */
  private forgetOldMessages(room: number): void {
    const now = Date.now();
    for (const [id, { at }] of this.messages) {
      if (now - at < MESSAGE_KEPT_MS && this.messages.size <= room) break;
      this.messages.delete(id);
    }
  }

  @EventPattern('TurnRouted')
  async respond(@Payload() routed: RecordedEvent<'TurnRouted'>, @Ctx() context?: JetStreamContext): Promise<void> {
    if (routed.data.route === 'faq') return; // the router answered it from the knowledge base
    const outcomeId = derivedId(routed.eventId, 'outcome');
    const metadata = { ...routed.metadata, causationId: routed.eventId, correlationId: routed.data.turnId };
    let outcome: NewEvent;
    try {
      // a redelivery reads the log (another delivery may have answered); a fresh first one may use what this process followed
      const fresh = (context?.deliveryCount ?? 1) === 1 && Date.now() - Date.parse(routed.recordedAt) < FRESH_TURN_MS;
      const plan = await this.plan(routed, outcomeId, fresh); // may summarize older turns first: an LLM call too
      if (plan.kind === 'answered') return this.reply(routed, plan.outcome);
      if (plan.kind === 'superseded') {
        const data = { turnId: routed.data.turnId, text: '', model: 'none', usage: null, latencyMs: 0, contextMessages: 0, interrupted: 'next-turn' as const };
        return this.record(routed, outcomeId, { eventId: outcomeId, type: 'AssistantReplied', data, metadata });
      }
      const startedAt = performance.now();
      const generation = this.running.start(routed.data.turnId, routed.streamId);
      let result: Awaited<ReturnType<typeof this.converse>>;
      try {
        result = await this.converse(plan, generation.signal, this.streamTo(routed));
      } finally {
        generation.finish();
      }
      if (plan.userId && result.remembered.length) {
        await this.remember(routed, outcomeId, plan.userId, result.remembered);
      }
      outcome = {
        eventId: outcomeId,
        type: 'AssistantReplied',
        data: {
          turnId: routed.data.turnId,
          text: result.text,
          model: result.model,
          usage: result.usage,
          latencyMs: Math.round(performance.now() - startedAt),
          contextMessages: plan.context.length,
          interrupted: result.interrupted ? (generation.reason() ?? 'client-disconnected') : null,
          ...(result.toolCalls.length ? { toolCalls: result.toolCalls } : {}),
          contextDigest: contextDigest(plan.context),
        },
        metadata,
      };
    } catch (error) {
      if (!(error instanceof LlmError)) throw error; // our bug or infrastructure: let the transport retry
      this.log.warn(`Turn ${routed.data.turnId} failed: ${error.code} ${error.message}`);
      outcome = { eventId: outcomeId, type: 'TurnFailed', data: { turnId: routed.data.turnId, code: error.code, message: error.message }, metadata };
    }
    await this.record(routed, outcomeId, outcome);
  }

  /** Records the turn's outcome (once) and sends it to the waiting ingress. */
  private async record(routed: RecordedEvent<'TurnRouted'>, outcomeId: string, outcome: NewEvent): Promise<void> {
    const recorded = await appendOnce(this.store, routed.streamId, outcome);
    if (!recorded) {
      // a concurrent delivery of the same turn recorded its answer first; that one stands
      const stored = await this.store.readEvent(outcomeId);
      if (stored) this.reply(routed, stored);
      return;
    }
    this.states.advance(recorded);
    this.reply(routed, recorded);
    await this.publisher.publish(this.store.sealed([recorded]));
  }

  /**
   * Calls the LLM, running its `remember` calls (when the session has a user) until it answers in
   * text; the facts are returned, to be recorded with the turn. Calls to the client's own tools end
   * the turn: they are returned for the client to run.
   */
  private async converse(plan: Extract<Plan, { kind: 'answer' }>, signal: AbortSignal, onDelta: (text: string) => void) {
    const messages: LlmMessage[] = [...plan.context];
    const clientTools = new Set(plan.tools.map((t) => t.name));
    const offered = [...plan.tools, ...(plan.userId !== null && !clientTools.has(REMEMBER_TOOL.name) ? [REMEMBER_TOOL] : [])];
    const tools = offered.length ? offered : undefined;
    const remembered: { name: string; value: string }[] = [];
    let usage = null as TokenUsage | null;
    for (let round = 1; ; round++) {
      const result = await this.llm.complete({ messages, tools, signal, onDelta });
      if (result.usage) {
        usage = {
          promptTokens: (usage?.promptTokens ?? 0) + result.usage.promptTokens,
          completionTokens: (usage?.completionTokens ?? 0) + result.usage.completionTokens,
        };
      }
      const done = (interrupted: boolean, toolCalls: ToolCall[] = []) => ({ text: result.text, model: result.model, usage, remembered, interrupted, toolCalls });
      if (result.interrupted) return done(true);
      const forClient = result.toolCalls.filter((call) => clientTools.has(call.name));
      if (forClient.length) return done(false, forClient);
      if (!result.toolCalls.length || !tools || round >= MAX_TOOL_ROUNDS) {
        if (!result.text) throw new LlmError('LLM.BAD_RESPONSE', 'The LLM kept calling tools without answering');
        return done(false);
      }
      messages.push({ role: 'assistant', content: result.text || null, toolCalls: result.toolCalls });
      for (const call of result.toolCalls) {
        const args = call.name === REMEMBER_TOOL.name ? RememberArgs.safeParse(safeJson(call.arguments)) : null;
        if (args?.success) remembered.push(args.data);
        messages.push({ role: 'tool', toolCallId: call.id, content: args?.success ? 'Remembered.' : `Error: ${args ? 'invalid arguments' : `no tool named ${call.name}`}` });
      }
    }
  }

  /**
   * Folds the session's older messages into its rolling summary (an LLM call), records it as
   * `ConversationSummarized` and returns the state with it applied. The event id derives from the
   * turn, so a redelivered turn finds its summary in the log instead of writing a second one.
   * A failed summary call fails the turn like a failed answer would.
   */
  private async summarize(routed: RecordedEvent<'TurnRouted'>, state: SessionState, request: SummaryRequest): Promise<SessionState> {
    const result = await this.llm.complete({ messages: summaryPrompt(request) });
    if (!result.text.trim()) throw new LlmError('LLM.BAD_RESPONSE', 'The LLM returned an empty summary');
    const event: NewEvent = {
      eventId: derivedId(routed.eventId, 'summary'),
      type: 'ConversationSummarized',
      data: {
        turnId: routed.data.turnId,
        summary: result.text.trim(),
        throughVersion: request.throughVersion,
        summarizedMessages: request.summarizedMessages,
        model: result.model,
        usage: result.usage,
      },
      metadata: { ...routed.metadata, causationId: routed.eventId, correlationId: routed.data.turnId },
    };
    const appended = await appendOnce(this.store, routed.streamId, event);
    if (appended) {
      this.states.advance(appended);
      await this.publisher.publish(this.store.sealed([appended]));
    }
    const recorded = appended ?? (await this.store.readEvent(event.eventId));
    return recorded ? evolveSession(state, recorded) : state; // none: the session was erased meanwhile
  }

  /** Records what the model learned in the user's memory stream (ids derived: a redelivery adds nothing). */
  private async remember(routed: RecordedEvent<'TurnRouted'>, outcomeId: string, userId: string, facts: { name: string; value: string }[]): Promise<void> {
    const events: NewEvent[] = facts.map((fact, i) => ({
      eventId: derivedId(outcomeId, `memory:${i}`),
      type: 'MemoryRemembered',
      data: { ...fact, source: 'llm', turnId: routed.data.turnId },
      metadata: { tenantId: routed.metadata.tenantId, causationId: routed.eventId, correlationId: routed.data.turnId },
    }));
    try {
      const recorded = await this.memory.append(routed.metadata.tenantId, userId, events);
      await this.publisher.publish(this.store.sealed(recorded));
    } catch (error) {
      if (!(error instanceof DuplicateEventError) && !(error instanceof StreamErasedError) && !(error instanceof UserErasedError)) throw error;
    }
  }

  /**
   * Stateful turns see the session including this turn: the last fold plus the log past it, in one
   * round trip — or none, when this process's fold was advanced through this turn by the events
   * themselves (its message came just before on the bus) and it knows of nothing later. Under the
   * `interrupt` policy the log is always read, for a message that came after the turn's. Stateless
   * turns see only their own message: the one that came on the bus, or read by id together with
   * any earlier answer, in one round trip. `fresh`: a first delivery, just recorded — one that may
   * go by what this process followed.
   */
  private async plan(routed: RecordedEvent<'TurnRouted'>, outcomeId: string, fresh = false): Promise<Plan> {
    const { turnId } = routed.data;
    const causeId = routed.metadata.causationId;
    if (!causeId) throw new Error(`TurnRouted ${routed.eventId} does not name its UserMessageReceived`);
    const messageOf = (found: Map<string, RecordedEvent>) => {
      const message = found.get(causeId);
      if (!message || message.type !== 'UserMessageReceived') throw new Error(`TurnRouted ${routed.eventId} does not point at its UserMessageReceived`);
      return message.data;
    };
    const entry = this.messages.get(causeId);
    this.messages.delete(causeId);
    const kept = entry && Date.now() - entry.at < MESSAGE_KEPT_MS ? entry.event : undefined;
    if (routed.data.mode === 'stateful') {
      const { concurrentTurns, contextBudgetTokens } = await this.tenants.settings(routed.metadata.tenantId);
      const followed = fresh && concurrentTurns !== 'interrupt' && this.states.advance(routed);
      const { folded, tail } = await this.states.load(routed.streamId, followed ? { upTo: routed.version } : {});
      const { state } = folded;
      // the message is in what was read past the process's last fold of the session, or came on the bus just before
      const cause = tail.find((e) => e.eventId === causeId) ?? kept;
      const message = messageOf(cause ? new Map([[causeId, cause]]) : await this.store.readEvents([causeId]));
      const turn = state.status === 'open' ? state.turns.find((t) => t.turnId === turnId) : undefined;
      if (turn?.status === 'replied' || turn?.status === 'failed') {
        const outcome = await this.store.readEvent(outcomeId);
        if (outcome) return { kind: 'answered', outcome };
      }
      const userId = state.status === 'open' ? state.userId : null;
      if (concurrentTurns === 'interrupt' && spokeAgainAfter(state, turnId)) return { kind: 'superseded' };
      const memory = userId ? memoryMessage(await this.memory.load(routed.metadata.tenantId, userId)) : null;
      const input = { turnId, systemPrompt: message.instructions ?? this.options.systemPrompt, memory, budget: contextBudgetTokens };
      let current = state;
      let plan = planStatefulContext({ ...input, state: current });
      if (plan.kind === 'summarize') {
        current = await this.summarize(routed, current, plan.request);
        plan = planStatefulContext({ ...input, state: current });
      }
      // a summary that did not make room (the model ignored its length limit) is not retried: the turn is answered as is
      const context = plan.kind === 'ready' ? plan.context : turnContext({ mode: 'stateful', message, state: current, systemPrompt: this.options.systemPrompt, memory });
      return { kind: 'answer', context, userId, tools: message.tools ?? [] };
    }
    // a fresh turn whose message came on the bus has no answer yet: no other delivery has had it
    const found = fresh && kept ? new Map([[causeId, kept]]) : await this.store.readEvents([causeId, outcomeId]);
    const outcome = found.get(outcomeId);
    if (outcome) return { kind: 'answered', outcome };
    const message = messageOf(found);
    // the request alone, or exactly the conversation a client sent (no text: tool results continue it)
    const context = turnContext({ mode: 'stateless', message, state: initialSessionState(), systemPrompt: this.options.systemPrompt, memory: null });
    return { kind: 'answer', context, userId: null, tools: message.tools ?? [] };
  }

  /**
   * Where the reply's pieces go as they are generated: to the waiting ingress, when its client
   * streams; nowhere otherwise. The first piece carries the route.
   */
  private streamTo(routed: RecordedEvent<'TurnRouted'>): (text: string) => void {
    const { replyTo, stream } = routed.metadata;
    if (!replyTo || !stream) return () => undefined;
    const { turnId } = routed.data;
    let seq = 0;
    return (delta) => {
      sendTurnDelta(this.resources.nc, replyTo, seq === 0 ? { turnId, seq: seq++, delta, route: routeInfoOf(routed.data) } : { turnId, seq: seq++, delta });
    };
  }

  private reply(routed: RecordedEvent<'TurnRouted'>, outcome: RecordedEvent): void {
    const replyTo = routed.metadata.replyTo;
    if (!replyTo || (outcome.type !== 'AssistantReplied' && outcome.type !== 'TurnFailed')) return;
    const route = routeInfoOf(routed.data);
    const reply: TurnReplyMessage =
      outcome.type === 'AssistantReplied'
        ? {
            ok: true,
            turnId: outcome.data.turnId,
            text: outcome.data.text,
            route,
            interrupted: outcome.data.interrupted,
            usage: outcome.data.usage,
            ...(outcome.data.toolCalls ? { toolCalls: outcome.data.toolCalls } : {}),
          }
        : { ok: false, turnId: outcome.data.turnId, route, code: outcome.data.code, message: outcome.data.message };
    sendTurnReply(this.resources.nc, replyTo, reply);
  }
}

/** Whether the session holds a user message of a turn that came after this one. */
function spokeAgainAfter(state: SessionState, turnId: string): boolean {
  if (state.status !== 'open') return false;
  const index = state.turns.findIndex((t) => t.turnId === turnId);
  return index >= 0 && index < state.turns.length - 1;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
