import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { CoreBus, CoreSubscription } from './bus';
import { erasedSubject } from '@parley/contracts';
import { z } from 'zod';
import { natsServers } from './nats-connection';

const ErasureNotice = z.object({ streamIds: z.array(z.string().max(300)).max(100_000) });

/**
 * Erasures, heard by every process: whoever erases a user announces the streams whose keys it
 * destroyed, and each process drops what it cached of them (keys, session folds, kept messages)
 * at once. Core NATS, not durable: a process that misses a notice drops the same things within
 * their caches' time limits (30 s for keys, 60 s for folds and messages).
 */
export class ErasureNotices {
  private readonly listeners: ((streamIds: string[]) => void)[] = [];
  private readonly subscription: CoreSubscription;

  constructor(
    private readonly nc: CoreBus,
    private readonly prefix: string,
  ) {
    this.subscription = nc.subscribe(erasedSubject(prefix), {
      callback: (error, msg) => {
        if (error) return;
        const notice = ErasureNotice.safeParse(safeJson(msg.string()));
        if (notice.success) this.erased(notice.data.streamIds);
      },
    });
  }

  /** Calls `listener` with the streams of every erasure this process hears of (its own included). */
  onErased(listener: (streamIds: string[]) => void): void {
    this.listeners.push(listener);
  }

  /** Tells every process (this one at once) that these streams were erased. */
  announce(streamIds: string[]): void {
    if (streamIds.length === 0) return;
    this.erased(streamIds);
    this.nc.publish(erasedSubject(this.prefix), JSON.stringify({ streamIds }));
  }

  private erased(streamIds: string[]): void {
    for (const listener of this.listeners) listener(streamIds);
  }

  close(): void {
    this.subscription.unsubscribe();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** For a process that erased without a standing connection (the CLI): announces once; false if NATS could not be reached. */
export async function announceErasure(natsUrl: string, prefix: string, streamIds: string[]): Promise<boolean> {
  if (streamIds.length === 0) return true;
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: natsServers(natsUrl), timeout: 2_000, maxReconnectAttempts: 0 });
  } catch {
    return false;
  }
  try {
    nc.publish(erasedSubject(prefix), JSON.stringify({ streamIds }));
    await nc.flush();
    return true;
  } finally {
    await nc.close();
  }
}
