import { Controller, Get, Inject, Logger } from '@nestjs/common';
import { pingDatabase } from '@parley/event-store';
import { askServices } from '@parley/messaging';
import { RESOURCES, type Connections } from '@parley/runtime';
import { ApiError } from '../http/api-error';
import { Public } from '../auth/auth.guard';

/** The services a turn needs besides ingress. */
export const DOWNSTREAM = ['router', 'session-projector', 'responder', 'relay'] as const;
type Downstream = (typeof DOWNSTREAM)[number];

/** What `/readyz` says of each worker: it answers and can work, it answers but is stuck, it does not answer. */
type WorkerState = 'ready' | 'failing' | 'missing';
/** How long `/readyz` waits for Postgres before calling it down. */
const PROBE_TIMEOUT_MS = 2_000;

@Public()
@Controller()
export class HealthController {
  private readonly log = new Logger('Health');
  /** The workers missing or failing at the last check, to log a change once (not every probe). */
  private lastTrouble: string | undefined;

  constructor(@Inject(RESOURCES) private readonly resources: Connections) {}

  /** The process is up. */
  @Get('healthz')
  health() {
    return { status: 'ok', service: 'ingress', instanceId: this.resources.instanceId };
  }

  /**
   * Whether this instance should get traffic. Without Postgres or NATS it cannot record a turn: 503
   * naming what is missing. With both it stays ready — it records turns and answers from the
   * knowledge base — and says which workers are missing or stuck: `status: "degraded"`, and
   * `ready` once every worker answers. Warnings (events the relay had to dead-letter) ride along.
   */
  @Get('readyz')
  async ready() {
    const { database, bus, prefix } = this.resources;
    // a database that hangs rather than refuses is as good as gone: a probe answers within its timeout
    // (a few tries: after a database restart the pool may hold connections that died silently, each failing once)
    const select = () => pingDatabase(database.db);
    const postgres = Promise.race([
      select().then(async (up) => up || (await select()) || select()),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), PROBE_TIMEOUT_MS).unref()),
    ]);
    const asked = bus.isClosed() ? Promise.resolve(null) : askServices(bus.core, prefix, DOWNSTREAM, 1_000);
    const [pgUp, replies] = await Promise.all([postgres, asked]);
    const down = [...(pgUp ? [] : ['postgres']), ...(replies ? [] : ['nats'])];
    const services = {} as Record<Downstream, WorkerState>;
    const failing: string[] = [];
    const warnings: string[] = [];
    for (const service of DOWNSTREAM) {
      const reply = replies?.get(service);
      services[service] = !reply ? 'missing' : reply.problem ? 'failing' : 'ready';
      if (reply?.problem) failing.push(`${service}: ${reply.problem}`);
      if (reply?.warning) warnings.push(`${service}: ${reply.warning}`);
    }
    const missing = DOWNSTREAM.filter((s) => services[s] === 'missing');
    this.noteTrouble(down, missing, failing);
    if (down.length) {
      throw new ApiError('NOT_READY', `Not ready: ${down.join(' and ')} not answering`, {
        missing: [...down, ...missing],
        failing,
        warnings,
        services,
      });
    }
    const degraded = missing.length > 0 || failing.length > 0;
    return {
      status: degraded ? 'degraded' : 'ready',
      services,
      ...(degraded
        ? { missing, failing, message: 'Turns are recorded and knowledge base answers given; the others wait for the missing workers' }
        : {}),
      ...(warnings.length ? { warnings } : {}),
    };
  }

  /** Logs once when what is missing changes: at info (a start, a restart is expected), not per probe. */
  private noteTrouble(down: string[], missing: string[], failing: string[]): void {
    const trouble = [...down, ...missing, ...failing].join(', ');
    if (trouble === this.lastTrouble) return;
    const before = this.lastTrouble;
    this.lastTrouble = trouble;
    if (!trouble) this.log.log('every dependency and worker answers');
    else if (down.length) this.log.warn(`not ready: ${down.join(' and ')} not answering`);
    else
      this.log.log(
        `degraded: ${[...(missing.length ? [`${missing.join(', ')} not answering`] : []), ...failing].join('; ')}${before === undefined ? ' (they may still be starting)' : ''}`,
      );
  }
}
