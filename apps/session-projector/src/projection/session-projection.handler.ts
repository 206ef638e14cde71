import { Controller, Inject, Logger, type OnModuleDestroy } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { audienceOf, logIdsOf, type RecordedEvent } from '@parley/contracts';
import { SessionProjectionRepository, SessionStates } from '@parley/event-store';
import { ANY_EVENT, describeError } from '@parley/messaging';

/** A busy session's row is written once this many events are past it (about eight turns). */
const EVERY_EVENTS = 24;

/** How long a session goes without a new event before its row is written (`PARLEY_PROJECTION_QUIET_MS`). */
export const PROJECTION_QUIET_MS = Symbol('PROJECTION_QUIET_MS');

/**
 * Keeps the session read model — a snapshot: readers fold the log past it — up to date. The bus
 * is only a nudge: the projector folds whatever the log holds past its last write, so a lost,
 * repeated or reordered message changes nothing, and the row holds state and checkpoint (version)
 * together. A busy session's row is written every `EVERY_EVENTS` events rather than on every turn,
 * and once the session goes quiet (30 s by default: longer than the pause between a person's
 * turns, so a conversation at a human pace is not rewritten turn after turn): a rewritten row
 * leaves its old version behind as dead space until vacuum, so writing on every turn of a long
 * conversation cost more storage than the conversation itself. A write that a crash loses only
 * leaves readers a longer tail to fold; rows still waiting are written when the process stops.
 */
@Controller()
export class SessionProjectionHandler implements OnModuleDestroy {
  private readonly log = new Logger('SessionProjection');
  /** Sessions with events past their row, and the timer that writes it when they go quiet. */
  private readonly behind = new Map<string, { tenantId: string; timer: NodeJS.Timeout }>();

  constructor(
    private readonly projections: SessionProjectionRepository,
    private readonly states: SessionStates,
    @Inject(PROJECTION_QUIET_MS) private readonly quietMs: number,
  ) {}

  @EventPattern(ANY_EVENT)
  async project(@Payload() event: RecordedEvent): Promise<void> {
    // the server delivers only a session's `state` events: not a turn's message and routing, which
    // are folded with the outcome that follows within moments (every read folds past the row anyway)
    if (audienceOf(event) !== 'state') return;
    const written = this.states.cached(event.streamId)?.version;
    if (written !== undefined && written >= event.version) return; // folded and written already
    // a session this process has not written yet (or not lately) is written now: that also tells its row's version
    if (written === undefined || event.version - written >= EVERY_EVENTS) return this.write(event.streamId, event.metadata.tenantId);
    const known = this.behind.get(event.streamId);
    if (known) known.timer.refresh();
    else {
      const timer = setTimeout(() => {
        this.write(event.streamId, event.metadata.tenantId).catch((error: unknown) =>
          this.log.warn(
            `session row ${event.streamId} not written (readers fold the log past it): ${describeError(error)}`,
            logIdsOf(event),
          ),
        );
      }, this.quietMs);
      this.behind.set(event.streamId, { tenantId: event.metadata.tenantId, timer });
    }
  }

  /** Writes what the log holds for the session past the last fold; the fold is remembered once written. */
  private async write(streamId: string, tenantId: string): Promise<void> {
    const pending = this.behind.get(streamId);
    if (pending) {
      clearTimeout(pending.timer);
      this.behind.delete(streamId);
    }
    // remembered only once written: a failed write is retried on redelivery, not skipped as done
    const { folded, tail } = await this.states.load(streamId, { keep: false });
    if (tail.length > 0) await this.projections.save(streamId, tenantId, folded, tail[tail.length - 1].recordedAt);
    this.states.remember(streamId, folded);
  }

  /** On shutdown, the rows of quiet-pending sessions are written rather than left behind. */
  async onModuleDestroy(): Promise<void> {
    await Promise.allSettled([...this.behind].map(([streamId, { tenantId }]) => this.write(streamId, tenantId)));
  }
}
