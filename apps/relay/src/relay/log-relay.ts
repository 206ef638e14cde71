import { LOG_START, LogCheckpoints, readLogAfter, type Db, type LogPosition } from '@parley/event-store';
import { Logger } from '@nestjs/common';
import { describeError, unpublishable, type EventBus } from '@parley/messaging';
import type { StoredEvent } from '@parley/contracts';

/** Checkpoint name of the log → JetStream relay. */
export const RELAY_CHECKPOINT = 'jetstream-relay';

/** An event the bus can never carry: set aside with the reason, so the log behind it goes on. */
export interface Unpublishable {
  event: StoredEvent;
  reason: string;
}

/**
 * Publishes every committed event to the bus in log order, from a checkpoint. The checkpoint is
 * saved only once the bus holds the batch durably (`EventBus.durable`), so a crash in between
 * re-publishes it: the bus drops repeats within its duplicate window (`Nats-Msg-Id` = event id)
 * and consumers de-duplicate beyond it. JetStream holds a batch once it acknowledged it; the
 * embedded mode's in-process bus only until every consumer settled it, so there the checkpoint
 * follows the consumers, batch by batch in order, while the relay reads on. Services also publish right after they commit, for latency; the relay is
 * what makes delivery complete.
 *
 * An event that can never be published (over the server's `max_payload`, a subject that cannot be
 * built — appends refuse both, so only data written by older code or by hand) is handed to
 * `setAside` (a dead letter, with the reason) and the relay goes on: one such event must not stop
 * every event behind it. When the bus itself is away the batch is tried again, from the same place.
 */
export class LogRelay {
  private position: LogPosition = LOG_START;
  /** The checkpoint saves not made yet, chained in log order. */
  private saving: Promise<void> = Promise.resolve();
  private readonly log = new Logger('Relay');

  constructor(
    private readonly db: Pick<Db, 'execute'>,
    private readonly publisher: Pick<EventBus, 'kind' | 'publishEach' | 'durable'>,
    private readonly setAside: (unpublishable: Unpublishable) => Promise<void>,
    private readonly checkpoints: LogCheckpoints = new LogCheckpoints(db),
    /** Events read and published at most per batch. */
    readonly batchSize = 500,
  ) {}

  async resume(): Promise<LogPosition> {
    this.position = await this.checkpoints.load(RELAY_CHECKPOINT);
    return this.position;
  }

  /** Relays one batch; returns how many events it read (0 when caught up). */
  async relayBatch(): Promise<number> {
    const batch = await readLogAfter(this.db, this.position, this.batchSize);
    if (batch.events.length === 0) return 0;
    const results = await this.publisher.publishEach(batch.events);
    const failed = results.flatMap((error, i) => (error ? [{ event: batch.events[i], error }] : []));
    const passing = failed.find(({ error }) => !unpublishable(error));
    if (passing) throw new Error(`publishing to JetStream failed: ${describeError(passing.error)}`, { cause: passing.error });
    for (const { event, error } of failed) await this.setAside({ event, reason: describeError(error) });
    const saved = Promise.all([this.saving, this.publisher.durable(batch.events)]).then(() =>
      this.checkpoints.save(RELAY_CHECKPOINT, batch.position),
    );
    // a save that fails is made good by the next one (a later position)
    this.saving = saved.catch((error: unknown) => this.log.warn(`saving the relay checkpoint failed: ${describeError(error)}`));
    if (this.publisher.kind === 'jetstream') await saved;
    this.position = batch.position;
    return batch.events.length;
  }
}
