import { logIdsOf } from '@parley/contracts';
import { Logger } from '@nestjs/common';
import { lockedConnection, type LockedConnection } from '@parley/event-store';
import { describeError, type EventBus } from '@parley/messaging';
import type { Unpublishable } from './log-relay';
import { LogRelay } from './log-relay';

/** Any constant: the advisory lock that makes one relay active per database. */
export const RELAY_LOCK = 4_151_772_002;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RelayLeaderOptions {
  databaseUrl: string;
  publisher: Pick<EventBus, 'kind' | 'publishEach' | 'durable'>;
  /** Stores an event the bus can never carry where an operator finds it (a dead letter). */
  setAside: (unpublishable: Unpublishable) => Promise<void>;
  pollMs: number;
  /** How often a standby relay tries to take over. */
  standbyMs?: number;
  onStateChange?: (state: 'active' | 'standby') => void;
}

/**
 * Runs the relay while holding a session-level advisory lock on its own connection: only one
 * relay is active per database, and if its process or connection dies the lock is released and a
 * standby takes over from the shared checkpoint.
 */
export class RelayLeader {
  private readonly log = new Logger('Relay');
  private stopped = false;
  private running?: Promise<void>;
  private wake?: () => void;
  private state: 'active' | 'standby' | null = null;
  /** Since when relaying has failed without a batch getting through, and why (null while it works). */
  private failing: { since: number; reason: string } | null = null;
  private setAsideCount = 0;

  constructor(private readonly options: RelayLeaderOptions) {}

  get isActive(): boolean {
    return this.state === 'active';
  }

  /**
   * What the relay says when asked for its health: a problem once it has failed to get a batch
   * through for 10 s (the log is piling up behind it), a warning once it has set events aside.
   */
  health(): { problem?: string; warning?: string } {
    const problem =
      this.failing && Date.now() - this.failing.since > 10_000
        ? `not relaying for ${Math.round((Date.now() - this.failing.since) / 1000)} s: ${this.failing.reason}`
        : undefined;
    const warning = this.setAsideCount
      ? `${this.setAsideCount} event(s) could not be published and were dead-lettered (parley dlq list)`
      : undefined;
    return { ...(problem ? { problem } : {}), ...(warning ? { warning } : {}) };
  }

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }

  private async pause(ms: number): Promise<void> {
    await Promise.race([sleep(ms), new Promise<void>((resolve) => (this.wake = resolve))]);
  }

  private setState(state: 'active' | 'standby'): void {
    if (this.state === state) return;
    this.state = state;
    this.log.log(state === 'active' ? 'active: relaying the log to the bus' : 'standby: another relay holds the lock');
    this.options.onStateChange?.(state);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let connection: LockedConnection | null = null;
      try {
        connection = await lockedConnection(this.options.databaseUrl, RELAY_LOCK);
        if (!connection) {
          this.setState('standby');
          await this.pause(this.options.standbyMs ?? 2_000);
          continue;
        }
        this.setState('active');
        const relay = new LogRelay(connection.db, this.options.publisher, async (unpublishable) => {
          await this.options.setAside(unpublishable);
          this.setAsideCount++;
          const { event, reason } = unpublishable;
          this.log.error(
            `${event.type} ${event.eventId} of ${event.streamId}@${event.version} cannot be published and was dead-lettered: ${reason}`,
            logIdsOf(event),
          );
        });
        await relay.resume();
        while (!this.stopped) {
          // straight on only while catching up (a full batch): services publish as they commit, so
          // under load the log is read a poll interval apart in batches, not once per event or two
          const published = await relay.relayBatch();
          this.failing = null;
          if (published < relay.batchSize) await this.pause(this.options.pollMs);
        }
      } catch (error) {
        this.failing ??= { since: Date.now(), reason: describeError(error) };
        this.log.warn(`relay interrupted, retrying: ${describeError(error)}`);
        this.state = null;
        await this.pause(1_000);
      } finally {
        await connection?.close();
      }
    }
  }
}
