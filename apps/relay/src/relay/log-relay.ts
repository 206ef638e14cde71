import { LOG_START, LogCheckpoints, readLogAfter, type Db, type LogPosition } from '@parley/event-store';
import type { EventPublisher } from '@parley/messaging';

/** Checkpoint name of the log → JetStream relay. */
export const RELAY_CHECKPOINT = 'jetstream-relay';

/**
 * Publishes every committed event to JetStream in log order, from a checkpoint. The checkpoint is
 * saved only after JetStream acknowledged the batch, so a crash in between re-publishes it:
 * JetStream drops repeats within its duplicate window (`Nats-Msg-Id` = event id) and consumers
 * de-duplicate beyond it. Services also publish right after they commit, for latency; the relay is
 * what makes delivery complete.
 */
export class LogRelay {
  private position: LogPosition = LOG_START;

  constructor(
    private readonly db: Pick<Db, 'execute'>,
    private readonly publisher: Pick<EventPublisher, 'publish'>,
    private readonly checkpoints: LogCheckpoints = new LogCheckpoints(db),
    /** Events read and published at most per batch. */
    readonly batchSize = 500,
  ) {}

  async resume(): Promise<LogPosition> {
    this.position = await this.checkpoints.load(RELAY_CHECKPOINT);
    return this.position;
  }

  /** Relays one batch; returns how many events it published (0 when caught up). */
  async relayBatch(): Promise<number> {
    const batch = await readLogAfter(this.db, this.position, this.batchSize);
    if (batch.events.length === 0) return 0;
    await this.publisher.publish(batch.events);
    await this.checkpoints.save(RELAY_CHECKPOINT, batch.position);
    this.position = batch.position;
    return batch.events.length;
  }
}
