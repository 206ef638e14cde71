import type { RecordedEvent } from '@parley/contracts';

/** The clock a `KeptMessages` reads and the timer it sets (a test's fake one, or the real one). */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): { unref?: () => unknown };
  clearTimeout(timer: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/**
 * Routed messages kept, opened, until their `TurnRouted` comes (next on the bus): the turn then
 * needs no read of the log. A few, briefly: at most `capacity`, each for `keepMs` — dropped when
 * their time is up even if nothing else happens, since they hold a user's words (no longer than a
 * process's session folds do).
 */
export class KeptMessages {
  /** By event id, oldest first. */
  private readonly messages = new Map<string, { event: RecordedEvent<'UserMessageReceived'>; at: number }>();
  private timer: unknown = null;

  constructor(
    private readonly capacity: number,
    private readonly keepMs: number,
    private readonly clock: Clock = systemClock,
  ) {}

  keep(message: RecordedEvent<'UserMessageReceived'>): void {
    this.messages.delete(message.eventId); // a repeat goes to the back: the map stays oldest first
    this.trim(this.capacity - 1);
    this.messages.set(message.eventId, { event: message, at: this.clock.now() });
    this.purgeWhenDue();
  }

  /** The kept message, if it is here and in time; it is no longer kept either way. */
  take(eventId: string): RecordedEvent<'UserMessageReceived'> | undefined {
    const entry = this.messages.get(eventId);
    this.messages.delete(eventId);
    return entry && this.clock.now() - entry.at < this.keepMs ? entry.event : undefined;
  }

  /** Drops the messages of these streams (an erasure). */
  forget(streamIds: readonly string[]): void {
    const erased = new Set(streamIds);
    for (const [id, { event }] of this.messages) if (erased.has(event.streamId)) this.messages.delete(id);
  }

  has(eventId: string): boolean {
    return this.messages.has(eventId);
  }

  get size(): number {
    return this.messages.size;
  }

  close(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.messages.clear();
  }

  /** Sets a timer for the oldest message's time, unless one is set. */
  private purgeWhenDue(): void {
    const oldest = this.messages.values().next().value;
    if (this.timer || !oldest) return;
    const timer = this.clock.setTimeout(
      () => {
        this.timer = null;
        this.trim(this.capacity);
        this.purgeWhenDue();
      },
      Math.max(0, oldest.at + this.keepMs - this.clock.now()) + 1,
    );
    timer.unref?.();
    this.timer = timer;
  }

  /** Oldest first: drops messages past their time, or over `room`. */
  private trim(room: number): void {
    const now = this.clock.now();
    for (const [id, { at }] of this.messages) {
      if (now - at < this.keepMs && this.messages.size <= room) break;
      this.messages.delete(id);
    }
  }
}
