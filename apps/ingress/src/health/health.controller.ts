import { Controller, Get, Inject } from '@nestjs/common';
import { sql } from 'drizzle-orm';
import { askServices } from '@parley/messaging';
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

  /**
   * Postgres, NATS and every downstream service answer, and none says it is stuck; otherwise 503
   * naming what is missing or failing. Warnings (events the relay had to dead-letter) ride along.
   */
  @Get('readyz')
  async ready() {
    const { database, nc, prefix } = this.resources;
    const missing: string[] = [];
    const postgres = database.db.execute(sql`select 1`).then(
      () => null,
      () => 'postgres',
    );
    const services = nc.isClosed() ? Promise.resolve(null) : askServices(nc, prefix, DOWNSTREAM, 1_000);
    const [pg, replies] = await Promise.all([postgres, services]);
    if (pg) missing.push(pg);
    if (!replies) missing.push('nats', ...DOWNSTREAM);
    const failing: string[] = [];
    const warnings: string[] = [];
    for (const [service, reply] of replies ?? []) {
      if (!reply) missing.push(service);
      else {
        if (reply.problem) failing.push(`${service}: ${reply.problem}`);
        if (reply.warning) warnings.push(`${service}: ${reply.warning}`);
      }
    }
    if (missing.length || failing.length) {
      const why = [...(missing.length ? [`${missing.join(', ')} not answering`] : []), ...failing];
      throw new ApiError('NOT_READY', `Not ready: ${why.join('; ')}`, { missing, failing, warnings });
    }
    return { status: 'ready', ...(warnings.length ? { warnings } : {}) };
  }
}
