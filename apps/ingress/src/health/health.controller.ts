import { Controller, Get, Inject } from '@nestjs/common';
import { sql } from 'drizzle-orm';
import { missingServices } from '@parley/messaging';
import { RESOURCES, type Connections } from '@parley/runtime';
import { ApiError } from '../http/api-error';
import { Public } from '../auth/auth.guard';

/** The services a turn needs besides ingress. */
export const DOWNSTREAM = ['router', 'session-projector', 'responder', 'relay'] as const;

@Public()
@Controller()
export class HealthController {
  constructor(@Inject(RESOURCES) private readonly resources: Connections) {}

  /** The process is up. */
  @Get('healthz')
  health() {
    return { status: 'ok', service: 'ingress', instanceId: this.resources.instanceId };
  }

  /** Postgres, NATS and every downstream service answer; otherwise 503 naming what is missing. */
  @Get('readyz')
  async ready() {
    const { database, nc, prefix } = this.resources;
    const missing: string[] = [];
    const postgres = database.db.execute(sql`select 1`).then(
      () => null,
      () => 'postgres',
    );
    const services = nc.isClosed() ? Promise.resolve(['nats', ...DOWNSTREAM]) : missingServices(nc, prefix, DOWNSTREAM, 1_000);
    const [pg, absent] = await Promise.all([postgres, services]);
    if (pg) missing.push(pg);
    missing.push(...absent);
    if (missing.length) throw new ApiError('NOT_READY', `Not ready: ${missing.join(', ')} not answering`, { missing });
    return { status: 'ready' };
  }
}
