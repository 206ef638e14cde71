import { probeDatabase } from '@parley/event-store';
import { describeError, type DeadLetterKind, type MessageObserver, type MessageResult } from '@parley/messaging';
import type { Connections } from './resources';

export interface HealthState {
  /** Set while the service cannot do its work: it is not ready. */
  problem?: string;
  /** Something an operator should look at, though the service goes on. */
  warning?: string;
}

/** Tries of the database check before it counts as down. */
const DATABASE_TRIES = 3;
/** A consumer with messages waiting that has handled none for this long is stalled. */
export const STALLED_AFTER_MS = 120_000;

/**
 * A worker's view of itself, for its health answer (over NATS and on `/readyz`) and its metrics:
 * whether its database answers, whether its durable consumers make progress (messages waiting in
 * JetStream while this replica has settled none for two minutes: stuck, not merely subscribed),
 * and what became of each message. The database and the consumers are checked in the background
 * every few seconds, so a health answer never waits on them.
 */
export class WorkerMonitor implements MessageObserver {
  private lastSettledAt = Date.now();
  private database: { ok: true } | { ok: false; reason: string } = { ok: true };
  private readonly waiting = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly resources: Pick<Connections, 'database' | 'bus' | 'metrics'>,
    private readonly consumers: readonly string[],
    private readonly own?: () => HealthState,
    private readonly stalledAfterMs = STALLED_AFTER_MS,
  ) {
    resources.metrics.onScrape(() => this.readConsumers());
  }

  /** Checks now and every `intervalMs` until `stop`. */
  start(intervalMs = 5_000): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  started(type: string, waitedSeconds: number): void {
    this.resources.metrics.queueWaitSeconds.observe({ type }, waitedSeconds);
  }

  settled(type: string, result: MessageResult): void {
    this.lastSettledAt = Date.now();
    this.resources.metrics.messages.inc({ type, result });
  }

  deadLettered(kind: DeadLetterKind): void {
    this.resources.metrics.deadLetters.inc({ reason: kind });
  }

  health(): HealthState {
    const own = this.own?.() ?? {};
    const problems = [...(own.problem ? [own.problem] : [])];
    if (!this.database.ok) problems.push(`postgres not answering: ${this.database.reason}`);
    const idleMs = Date.now() - this.lastSettledAt;
    for (const [consumer, pending] of this.waiting) {
      if (pending > 0 && idleMs > this.stalledAfterMs)
        problems.push(`consumer ${consumer} stalled: ${pending} message(s) waiting, none handled for ${Math.round(idleMs / 1000)} s`);
    }
    return { ...(problems.length ? { problem: problems.join('; ') } : {}), ...(own.warning ? { warning: own.warning } : {}) };
  }

  private async check(): Promise<void> {
    // a few tries: after a database restart the pool may hold connections that died silently (a
    // container's network gone), each failing once as it is found and dropped; one that answers
    // is what says the database is up
    let failure: unknown;
    for (let attempt = 0; attempt < DATABASE_TRIES; attempt++) {
      try {
        await withTimeout(probeDatabase(this.resources.database.db), 3_000);
        failure = undefined;
        break;
      } catch (error) {
        failure = error;
      }
    }
    this.database = failure === undefined ? { ok: true } : { ok: false, reason: describeError(failure) };
    await this.readConsumers().catch(() => undefined);
  }

  /** The consumers' state as the server has it, into the gauges and the stall check. */
  private async readConsumers(): Promise<void> {
    const { bus, metrics } = this.resources;
    await Promise.all(
      this.consumers.map(async (consumer) => {
        const state = await bus.consumerState(consumer).catch(() => null);
        if (!state) return;
        this.waiting.set(consumer, state.pending);
        metrics.consumerPending.set({ consumer }, state.pending);
        metrics.consumerAckPending.set({ consumer }, state.ackPending);
        metrics.consumerRedelivered.set({ consumer }, state.redelivered);
      }),
    );
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
