import type { CoreBus, CoreSubscription } from './bus';
import { streamEventsSubject } from '@parley/contracts';

interface Watched {
  wakers: Set<() => void>;
  subscription: CoreSubscription | null;
}

/** How long a wait lasts at most before the waiter looks at the log again anyway. */
export const STREAM_WAIT_MS = 1_000;

/**
 * Wakes whoever waits for a stream to change — a turn waiting for the one before it to be
 * answered — when this process appends to it (`notify`) or when any event of it is published on
 * the bus (a core NATS subscription on the stream's subject, held only while someone waits). A
 * wait also ends after `timeoutMs`: the bus may lose a message, so waiters look at the log again
 * either way, and the log decides.
 */
export class StreamSignals {
  private readonly watched = new Map<string, Watched>();

  constructor(
    private readonly nc: CoreBus,
    private readonly prefix: string,
  ) {}

  /**
   * Starts watching before the caller looks at the log, so a change between the look and the wait
   * is not missed. `changed` settles at the first change seen after this call, or after
   * `timeoutMs`; `cancel` stops watching (a caller that found what it wanted).
   */
  watch(tenantId: string, streamId: string, timeoutMs = STREAM_WAIT_MS): { changed: Promise<void>; cancel: () => void } {
    let watched = this.watched.get(streamId);
    if (!watched) {
      watched = { wakers: new Set(), subscription: null };
      this.watched.set(streamId, watched);
      const entry = watched;
      entry.subscription = this.nc.subscribe(streamEventsSubject(this.prefix, tenantId, streamId), {
        callback: (error) => {
          if (!error) this.wake(entry);
        },
      });
    }
    const entry = watched;
    let wake!: () => void;
    const changed = new Promise<void>((resolve) => (wake = resolve));
    const timer = setTimeout(() => done(), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      entry.wakers.delete(done);
      if (entry.wakers.size === 0 && this.watched.get(streamId) === entry) {
        this.watched.delete(streamId);
        entry.subscription?.unsubscribe();
      }
      wake();
    };
    entry.wakers.add(done);
    return { changed, cancel: done };
  }

  /** This process changed the stream: wake its waiters now. */
  notify(streamId: string): void {
    const entry = this.watched.get(streamId);
    if (entry) this.wake(entry);
  }

  /** Streams being watched (for tests and metrics). */
  get size(): number {
    return this.watched.size;
  }

  private wake(entry: Watched): void {
    for (const done of [...entry.wakers]) done();
  }

  close(): void {
    for (const entry of this.watched.values()) for (const done of [...entry.wakers]) done();
  }
}
