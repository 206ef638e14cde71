import { logIdsOf } from '@parley/contracts';
import { Logger } from '@nestjs/common';
import type { RecordedEvent } from '@parley/contracts';
import {
  cutToTokens,
  evolveSession,
  planSummary,
  summarized,
  summaryPrompt,
  summaryShare,
  summaryUsage,
  type SessionState,
} from '@parley/conversation';
import { EventStore, SessionStates } from '@parley/event-store';
import type { Llm } from '@parley/llm';
import { describeError, EventPublisher } from '@parley/messaging';
import { appendOnce } from '@parley/runtime';

export interface SummaryCheck {
  /** The state the turn's context was built from. */
  state: SessionState;
  /** The reply just recorded. */
  reply: RecordedEvent;
  /** The tenant's context budget. */
  budget: number;
}

/**
 * Folds a session's older messages into its rolling summary after a reply, in the background: a
 * turn is answered from the summary that exists plus the recent turns that fit, and never waits
 * for a summary, nor fails with one. The summarizing call asks for at most the summary's share of
 * the budget, and a longer summary is cut to it (recorded as `truncated`), so summaries, and the
 * calls and bytes a turn costs, stay bounded whatever the model returns. One summary per session
 * at a time and at most `limit` at once per process; one that is skipped or fails is simply tried
 * again after a later reply.
 */
export class Summarizer {
  private readonly log = new Logger('Summarizer');
  private readonly running = new Map<string, Promise<void>>();
  private readonly stop = new AbortController();

  constructor(
    private readonly store: EventStore,
    private readonly states: SessionStates,
    private readonly publisher: EventPublisher,
    private readonly llm: Llm,
    private readonly limit = 32,
  ) {}

  /**
   * Looks at the session after a reply and summarizes in the background if it is due. Never
   * waits, never throws; reads nothing unless a summary looks due (the context's state with the
   * reply folded in says so).
   */
  consider({ state, reply, budget }: SummaryCheck): void {
    const { streamId } = reply;
    if (this.stop.signal.aborted || this.running.has(streamId) || this.running.size >= this.limit) return;
    if (!planSummary(evolveSession(state, reply), budget)) return;
    const work = this.summarize(streamId, reply, budget)
      .catch((error: unknown) =>
        this.log.warn(`summary of ${streamId} not written (tried again after a later reply): ${describeError(error)}`, logIdsOf(reply)),
      )
      .finally(() => this.running.delete(streamId));
    this.running.set(streamId, work);
  }

  /** Summaries being written (for tests). */
  get inFlight(): number {
    return this.running.size;
  }

  /** Resolves when the summaries under way have ended. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  private async summarize(streamId: string, reply: RecordedEvent, budget: number): Promise<void> {
    const { tenantId } = reply.metadata;
    const turnId = (reply.data as { turnId: string }).turnId;
    const { folded } = await this.states.load(streamId, { upTo: reply.version });
    const request = planSummary(folded.state, budget);
    if (!request) return;
    const share = summaryShare(budget);
    const result = await this.llm.complete({
      messages: summaryPrompt(request),
      maxTokens: share,
      signal: this.stop.signal,
      purpose: 'summary',
      tenantId,
    });
    const text = result.text.trim();
    if (!text) throw new Error('the LLM returned an empty summary');
    const kept = cutToTokens(text, share);
    const event = summarized(streamId, turnId, { tenantId }, request, {
      text: kept,
      truncated: kept !== text,
      model: result.model,
      usage: result.usage,
    });
    const appended = await appendOnce(this.store, streamId, event, { usage: summaryUsage(result.usage) });
    if (!appended) return; // written already (another replica), or the session was erased meanwhile
    this.states.advance(appended);
    await this.publisher.publish(this.store.sealed([appended]));
  }

  /** Stops the calls under way (a summary not written is written after a later reply). */
  async close(): Promise<void> {
    this.stop.abort();
    await this.idle();
  }
}
