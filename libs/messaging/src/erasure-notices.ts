import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { CoreBus, CoreSubscription } from './bus';
import { erasedSubject, tenantChangedSubject } from '@parley/contracts';
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
  return announceOnce(natsUrl, erasedSubject(prefix), JSON.stringify({ streamIds }));
}

const TenantChange = z.object({ tenantId: z.string().max(100) });

/**
 * Changes to a tenant's settings or API keys, heard by every process: whoever changes them (`parley
 * tenants set`, `keys revoke`) announces the tenant, and each process drops what it cached of it,
 * so a revoked key stops working and a setting applies at once. Core NATS, not durable: a process
 * that misses a notice reads them again within `PARLEY_TENANT_CACHE_MS`.
 */
export class TenantNotices {
  private readonly listeners: ((tenantId: string) => void)[] = [];
  private readonly subscription: CoreSubscription;

  constructor(nc: CoreBus, prefix: string) {
    this.subscription = nc.subscribe(tenantChangedSubject(prefix), {
      callback: (error, msg) => {
        if (error) return;
        const notice = TenantChange.safeParse(safeJson(msg.string()));
        if (notice.success) for (const listener of this.listeners) listener(notice.data.tenantId);
      },
    });
  }

  onChanged(listener: (tenantId: string) => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    this.subscription.unsubscribe();
  }
}

/** For the CLI: announces that a tenant's settings or keys changed; false if NATS could not be reached. */
export function announceTenantChange(natsUrl: string, prefix: string, tenantId: string): Promise<boolean> {
  return announceOnce(natsUrl, tenantChangedSubject(prefix), JSON.stringify({ tenantId }));
}

/** Publishes one core message on a connection of its own, and waits until the server has it. */
async function announceOnce(natsUrl: string, subject: string, payload: string): Promise<boolean> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: natsServers(natsUrl), timeout: 2_000, maxReconnectAttempts: 0 });
  } catch {
    return false;
  }
  try {
    nc.publish(subject, payload);
    await nc.flush();
    return true;
  } finally {
    await nc.close();
  }
}
