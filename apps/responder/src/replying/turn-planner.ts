import type { GenerationOptions, RecordedEvent, UserMessageReceivedData } from '@parley/contracts';
import {
  admitAnswer,
  initialSessionState,
  memoryMessage,
  outcomeIdOf,
  statefulContext,
  turnContext,
  type SessionState,
} from '@parley/conversation';
import { EventStore, SessionStates, TenantDirectory, UserMemoryStore } from '@parley/event-store';
import type { LlmMessage, ToolSpec } from '@parley/llm';
import { NotYet, StreamSignals } from '@parley/messaging';
import type { z } from 'zod';
import type { KeptMessages } from './kept-messages';

/** What to do with a routed turn. */
export type Plan =
  | {
      kind: 'answer';
      context: LlmMessage[];
      userId: string | null;
      tools: ToolSpec[];
      /** What the client asked of the model (temperature, max tokens, ...). */
      generation?: GenerationOptions;
      /** Stateful turns: the session version the context was built from, and the messages that did not fit. */
      stateVersion?: number;
      droppedMessages?: number;
      /** Stateful turns: the state the context was built from and the tenant's budget (for the summary after the reply). */
      state?: SessionState;
      budget?: number;
    }
  /** Answered already: the outcome the log holds. */
  | { kind: 'answered'; outcome: RecordedEvent }
  /** The user spoke again before this turn's reply began, under the `interrupt` policy. */
  | { kind: 'superseded' };

/**
 * A turn delivered for the first time within this long of being recorded may be planned from what
 * this process followed; an older one (a re-publish after JetStream's two-minute duplicate window —
 * a repeat within it never arrives) reads the log, where an answer recorded meanwhile would be.
 */
const FRESH_TURN_MS = 30_000;

/**
 * Loads what a routed turn's context may hold, and decides (`admitAnswer`) whether it can be
 * answered now. Stateful turns see the session including this turn: this process's fold advanced
 * through it by the events themselves (no read), or the last fold plus the log past it (one
 * read). A turn whose earlier turns have no outcome yet throws `NotYet`: the transport hands it
 * back once the session changes. Stateless turns see only their own message.
 */
export class TurnPlanner {
  private readonly memory: UserMemoryStore;

  constructor(
    private readonly store: EventStore,
    private readonly states: SessionStates,
    private readonly tenants: TenantDirectory,
    private readonly signals: StreamSignals,
    private readonly kept: KeptMessages,
    private readonly systemPrompt: string,
  ) {
    this.memory = new UserMemoryStore(store);
  }

  /** `deliveryCount`: a redelivery reads the log (another delivery may have answered). */
  async plan(routed: RecordedEvent<'TurnRouted'>, deliveryCount: number): Promise<Plan> {
    const fresh = deliveryCount === 1 && Date.now() - Date.parse(routed.recordedAt) < FRESH_TURN_MS;
    const causeId = routed.metadata.causationId;
    if (!causeId) throw new Error(`TurnRouted ${routed.eventId} does not name its UserMessageReceived`);
    const kept = this.kept.take(causeId);
    return routed.data.mode === 'stateful' ? this.stateful(routed, causeId, fresh, kept) : this.stateless(routed, causeId, fresh, kept);
  }

  private async stateful(
    routed: RecordedEvent<'TurnRouted'>,
    causeId: string,
    fresh: boolean,
    kept?: RecordedEvent<'UserMessageReceived'>,
  ): Promise<Plan> {
    const { streamId, data } = routed;
    const { tenantId } = routed.metadata;
    const { concurrentTurns, contextBudgetTokens: budget } = await this.tenants.settings(tenantId);
    // watching starts before the look: a change between the two still wakes the wait
    const watch = this.signals.watch(tenantId, streamId);
    let waiting = false;
    try {
      // under `interrupt` a later message decides: always read
      const followed = fresh && concurrentTurns !== 'interrupt' && this.states.advance(routed);
      let { folded, tail } = await this.states.load(streamId, followed ? { upTo: routed.version } : {});
      let admission = admitAnswer(folded.state, data.turnId, concurrentTurns);
      if (admission.kind === 'wait' && followed && tail.length === 0) {
        // what this process followed may lack an outcome another replica recorded: ask the log
        ({ folded, tail } = await this.states.load(streamId));
        admission = admitAnswer(folded.state, data.turnId, concurrentTurns);
      }
      switch (admission.kind) {
        case 'wait':
          waiting = true;
          throw new NotYet(watch.changed, `turn ${data.turnId} waits for the outcome of ${admission.for.join(', ')}`);
        case 'answered': {
          const outcome = await this.store.outcomeOf(streamId, data.turnId);
          if (outcome) return { kind: 'answered', outcome };
          break; // erased meanwhile: answered as if new, and refused when recorded
        }
        case 'superseded':
          return { kind: 'superseded' };
        case 'answer':
          break;
        default: {
          const _exhaustive: never = admission;
          return _exhaustive;
        }
      }
      const { state } = folded;
      // the message is in what was read past the process's last fold of the session, or came on the bus just before
      const message = this.messageOf(routed, tail.find((e) => e.eventId === causeId) ?? kept ?? (await this.store.readEvent(causeId)));
      const userId = state.status === 'open' ? state.userId : null;
      const memory = userId ? memoryMessage(await this.memory.load(tenantId, userId)) : null;
      const systemPrompt = message.instructions ?? this.systemPrompt;
      const { context, dropped } = statefulContext({ state, turnId: data.turnId, systemPrompt, memory, budget });
      return {
        kind: 'answer',
        context,
        userId,
        tools: message.tools ?? [],
        generation: message.generation,
        stateVersion: folded.version,
        droppedMessages: dropped,
        state,
        budget,
      };
    } finally {
      if (!waiting) watch.cancel();
    }
  }

  private async stateless(
    routed: RecordedEvent<'TurnRouted'>,
    causeId: string,
    fresh: boolean,
    kept?: RecordedEvent<'UserMessageReceived'>,
  ): Promise<Plan> {
    const outcomeId = outcomeIdOf(routed);
    // a fresh turn whose message came on the bus has no answer yet: no other delivery has had it
    const found = fresh && kept ? new Map([[causeId, kept]]) : await this.store.readEvents([causeId, outcomeId]);
    const outcome = found.get(outcomeId);
    if (outcome) return { kind: 'answered', outcome };
    const message = this.messageOf(routed, found.get(causeId));
    // the request alone, or exactly the conversation a client sent (no text: tool results continue it)
    const context = turnContext({
      mode: 'stateless',
      message,
      state: initialSessionState(),
      systemPrompt: this.systemPrompt,
      memory: null,
    });
    return { kind: 'answer', context, userId: null, tools: message.tools ?? [], generation: message.generation };
  }

  private messageOf(
    routed: RecordedEvent<'TurnRouted'>,
    message: RecordedEvent | null | undefined,
  ): z.infer<typeof UserMessageReceivedData> {
    if (!message || message.type !== 'UserMessageReceived')
      throw new Error(`TurnRouted ${routed.eventId} does not point at its UserMessageReceived`);
    return message.data;
  }
}
