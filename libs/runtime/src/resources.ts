import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseSettings, type ResolvedTenantSettings, type ServiceName, type Settings } from '@parley/contracts';
import {
  connectDatabase,
  DataKeys,
  EventStore,
  MAX_EVENT_BYTES,
  migrateDatabase,
  SessionProjectionRepository,
  TenantDirectory,
  type Database,
} from '@parley/event-store';
import { connectNats, ErasureNotices, JetStreamBus, TenantNotices, withConnectWait, type EventBus } from '@parley/messaging';
import type { Logger as Pino } from 'pino';
import { createLogger, logFormat, useLogger, type PinoNestLogger } from './logging';
import { Metrics } from './metrics';
import { startTracing } from './tracing';

/** Everything a service process talks to, opened once at startup and closed once at shutdown. */
export interface Connections {
  service: ServiceName;
  instanceId: string;
  /** PARLEY_NATS_PREFIX: namespace of every NATS subject and stream this process uses. */
  prefix: string;
  logLevel: string;
  /** The process's logger (JSON lines or pretty), and Nest's view of it. */
  logger: Pino;
  nestLogger: PinoNestLogger;
  /** The process's Prometheus metrics (ingress serves them on /metrics, a worker on its own port). */
  metrics: Metrics;
  database: Database;
  store: EventStore;
  projections: SessionProjectionRepository;
  /** The bus: JetStream on NATS, or the embedded mode's in-process one. `bus.core` carries core messages. */
  bus: EventBus;
  /** Erasures heard from any process: caches of erased streams are dropped on them. */
  erasures: ErasureNotices;
  /** Changes to a tenant's settings or keys heard from any process: tenant caches drop the tenant on them. */
  tenantChanges: TenantNotices;
  close(): Promise<void>;
}

/** Connections plus the service's own validated settings. */
export interface Resources<S extends ServiceName> extends Connections {
  service: S;
  settings: Settings<S>;
}

/** The bus every service of this process shares, in the embedded mode (see `shareBus`). */
let processBus: EventBus | undefined;

/**
 * Makes `bus` the one every service opened afterwards in this process uses instead of connecting
 * to NATS: the embedded mode, which runs all the services in one process on the in-process bus.
 */
export function shareBus(bus: EventBus): void {
  processBus = bus;
}

/** A process-unique id that is also a valid NATS subject token. */
export function newInstanceId(service: string): string {
  return `${service}-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`.replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * Parses settings, migrates and connects to Postgres, connects to NATS — or takes the bus it is
 * given (the embedded mode's, shared by every service of the process, which closes it itself).
 * Any failure is thrown with a message that names the setting or the server, before the service
 * accepts work.
 */
export async function openResources<S extends ServiceName>(
  service: S,
  env: NodeJS.ProcessEnv = process.env,
  shared = processBus,
): Promise<Resources<S>> {
  const settings = parseSettings(service, env);
  // every service reads these (see SETTINGS)
  const common = settings as unknown as Settings<'router'>;
  const { DATABASE_URL: databaseUrl, NATS_URL: natsUrl, PARLEY_NATS_PREFIX: prefix, LOG_LEVEL: logLevel } = common;
  const instanceId = newInstanceId(service);
  const logger = createLogger({ service, instanceId, level: logLevel, format: logFormat(common.LOG_FORMAT) });
  // one process for every service (embedded): Nest's static logger is the process's, so it names none of them
  const nestLogger = useLogger(
    shared ? createLogger({ service: 'parley', instanceId, level: logLevel, format: logFormat(common.LOG_FORMAT) }) : logger,
  );
  // OTEL_EXPORTER_OTLP_ENDPOINT is read by the services that serve (see SETTINGS); unset, no tracing
  const tracing = startTracing((settings as { OTEL_EXPORTER_OTLP_ENDPOINT?: string }).OTEL_EXPORTER_OTLP_ENDPOINT, service, instanceId);
  // in a container started beside its database, wait for it (PARLEY_CONNECT_WAIT_SECONDS)
  const waiting = <T>(connect: () => Promise<T>) =>
    withConnectWait(common.PARLEY_CONNECT_WAIT_SECONDS, connect, (line) => logger.info({ component: service }, line));
  await waiting(() => migrateDatabase(databaseUrl));
  const database = await connectDatabase(databaseUrl);
  let bus: EventBus;
  try {
    bus = shared ?? new JetStreamBus(await waiting(() => connectNats(natsUrl, service)), prefix);
  } catch (error) {
    await database.close();
    throw error;
  }
  // an event must fit what the bus carries (NATS's max_payload, less room for subject and headers)
  const store = new EventStore(database.db, new DataKeys(), { maxEventBytes: Math.min(MAX_EVENT_BYTES, bus.maxPayload - 8 * 1024) });
  const erasures = new ErasureNotices(bus.core, prefix);
  erasures.onErased((streamIds) => store.forget(streamIds));
  const tenantChanges = new TenantNotices(bus.core, prefix);
  return {
    service,
    instanceId,
    logger,
    nestLogger,
    metrics: new Metrics(service),
    settings,
    prefix,
    logLevel,
    database,
    store,
    erasures,
    tenantChanges,
    projections: new SessionProjectionRepository(database.db),
    bus,
    async close() {
      erasures.close();
      tenantChanges.close();
      if (!shared) await bus.close();
      await database.close().catch(() => undefined);
      await tracing?.shutdown().catch(() => undefined);
    },
  };
}

/**
 * The tenants' settings and API keys as this process sees them: cached for `ttlMs`
 * (`PARLEY_TENANT_CACHE_MS`), and dropped at once when a change to the tenant is announced.
 */
export function tenantDirectory(
  resources: Pick<Connections, 'database' | 'tenantChanges'>,
  defaults: ResolvedTenantSettings,
  ttlMs: number,
): TenantDirectory {
  const tenants = new TenantDirectory(resources.database.db, defaults, ttlMs);
  resources.tenantChanges.onChanged((tenantId) => tenants.forget(tenantId));
  return tenants;
}
