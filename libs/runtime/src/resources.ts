import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseSettings, type ServiceName, type Settings } from '@parley/contracts';
import { connectDatabase, DataKeys, EventStore, MAX_EVENT_BYTES, migrateDatabase, SessionProjectionRepository, type Database } from '@parley/event-store';
import { connectNats, ErasureNotices, EventPublisher, withConnectWait, type NatsConnection } from '@parley/messaging';
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
  nc: NatsConnection;
  publisher: EventPublisher;
  /** Erasures heard from any process: caches of erased streams are dropped on them. */
  erasures: ErasureNotices;
  close(): Promise<void>;
}

/** Connections plus the service's own validated settings. */
export interface Resources<S extends ServiceName> extends Connections {
  service: S;
  settings: Settings<S>;
}

/** A process-unique id that is also a valid NATS subject token. */
export function newInstanceId(service: string): string {
  return `${service}-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`.replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * Parses settings, migrates and connects to Postgres, connects to NATS. Any failure is thrown
 * with a message that names the setting or the server, before the service accepts work.
 */
export async function openResources<S extends ServiceName>(service: S, env: NodeJS.ProcessEnv = process.env): Promise<Resources<S>> {
  const settings = parseSettings(service, env);
  // every service reads these (see SETTINGS)
  const common = settings as unknown as Settings<'router'>;
  const { DATABASE_URL: databaseUrl, NATS_URL: natsUrl, PARLEY_NATS_PREFIX: prefix, LOG_LEVEL: logLevel } = common;
  const instanceId = newInstanceId(service);
  const logger = createLogger({ service, instanceId, level: logLevel, format: logFormat(common.LOG_FORMAT) });
  const nestLogger = useLogger(logger);
  // OTEL_EXPORTER_OTLP_ENDPOINT is read by the services that serve (see SETTINGS); unset, no tracing
  const tracing = startTracing((settings as { OTEL_EXPORTER_OTLP_ENDPOINT?: string }).OTEL_EXPORTER_OTLP_ENDPOINT, service, instanceId);
  // in a container started beside its database, wait for it (PARLEY_CONNECT_WAIT_SECONDS)
  const waiting = <T>(connect: () => Promise<T>) => withConnectWait(common.PARLEY_CONNECT_WAIT_SECONDS, connect, (line) => logger.info({ component: service }, line));
  await waiting(() => migrateDatabase(databaseUrl));
  const database = await connectDatabase(databaseUrl);
  let nc: NatsConnection;
  try {
    nc = await waiting(() => connectNats(natsUrl, service));
  } catch (error) {
    await database.close();
    throw error;
  }
  // an event must fit what this NATS server carries (its max_payload, less room for subject and headers)
  const store = new EventStore(database.db, new DataKeys(), { maxEventBytes: Math.min(MAX_EVENT_BYTES, (nc.info?.max_payload ?? 1024 * 1024) - 8 * 1024) });
  const erasures = new ErasureNotices(nc, prefix);
  erasures.onErased((streamIds) => store.forget(streamIds));
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
    projections: new SessionProjectionRepository(database.db),
    nc,
    publisher: new EventPublisher(nc, prefix),
    async close() {
      erasures.close();
      await nc.drain().catch(() => undefined);
      await database.close().catch(() => undefined);
      await tracing?.shutdown().catch(() => undefined);
    },
  };
}
