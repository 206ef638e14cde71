import { Logger, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { parseSettings, type ServiceName, type Settings, type StoredEvent } from '@parley/contracts';
import { JetStreamTransport, RethrowRpcErrors, type ConsumerSpec } from '@parley/messaging';
import { giveUpOnTurn } from './give-up';
import { serveMetrics } from './metrics';
import { openResources, type Resources } from './resources';
import { WorkerMonitor } from './worker-monitor';

/** Each worker's metrics port under `PARLEY_METRICS_PORT=auto` (another free one when it is taken). */
export const METRICS_PORTS: Partial<Record<ServiceName, number>> = {
  router: 9101,
  'session-projector': 9102,
  responder: 9103,
  relay: 9104,
};

/** Prints a startup failure as one clear message (no stack for expected misconfiguration) and exits 1. */
export function exitOnStartupFailure(service: string, error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`[${service}] cannot start: ${message}\n`);
  process.exit(1);
}

/** What each service of this process closes on SIGINT/SIGTERM (one, or every one in the embedded mode). */
const closers: { service: string; close: () => Promise<void> }[] = [];

/**
 * Closes `close` once on SIGINT/SIGTERM, then exits — once every service of the process has
 * closed (the embedded mode runs them all in one process): the first to listen last to close.
 */
export function onShutdown(service: string, close: () => Promise<void>): void {
  closers.push({ service, close });
  for (const started of startWaiters.get(service)?.splice(0) ?? []) started();
  if (closers.length > 1) return;
  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    new Logger(closers.length === 1 ? service : 'parley').log(`${signal} received, shutting down`);
    void (async () => {
      let failed = false;
      for (const { service: name, close: closeOne } of [...closers].reverse()) {
        await closeOne().catch((error: unknown) => {
          failed = true;
          process.stderr.write(`[${name}] error during shutdown: ${String(error)}\n`);
        });
      }
      await Promise.all(whenStopped.splice(0).map((done) => done().catch(() => undefined)));
      process.exit(failed ? 1 : 0);
    })();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

const startWaiters = new Map<string, (() => void)[]>();

/** Resolves once `service` runs in this process (it is serving, and has said how it stops). */
export function serviceStarted(service: string): Promise<void> {
  if (closers.some((c) => c.service === service)) return Promise.resolve();
  return new Promise((resolve) => startWaiters.set(service, [...(startWaiters.get(service) ?? []), resolve]));
}

/** Run after every service of the process has closed (the embedded mode's bus and database). */
const whenStopped: (() => Promise<void>)[] = [];
export function afterShutdown(done: () => Promise<void>): void {
  whenStopped.push(done);
}

export interface WorkerDefinition<S extends ServiceName> {
  service: S;
  /** Root module; receives the resources to wire its handlers. */
  module: (resources: Resources<S>) => Type<unknown> | import('@nestjs/common').DynamicModule;
  consumers: (prefix: string, ackWaitMs: number) => ConsumerSpec[];
  /** Messages with the same key are handled one at a time, in arrival order (default: by session). */
  orderKey?: (event: StoredEvent) => string;
  /** The service handles turns: one it gives up on is recorded as failed (`giveUpOnTurn`). */
  handlesTurns?: boolean;
  /** What it says of itself when asked for its health (a problem: not ready; a warning). */
  health?: () => { problem?: string; warning?: string };
  /** Validates settings before anything is connected; throw SettingsError to refuse to start. */
  checkSettings?: (settings: Settings<S>) => void;
}

/** Runs a JetStream-driven service (router, projector, responder) until a signal stops it. */
export async function runWorker<S extends ServiceName>(definition: WorkerDefinition<S>): Promise<void> {
  const { service } = definition;
  let resources: Resources<S>;
  try {
    definition.checkSettings?.(parseSettings(service, process.env));
    resources = await openResources(service);
  } catch (error) {
    exitOnStartupFailure(service, error);
  }
  const { prefix } = resources;
  // PARLEY_ACK_WAIT_MS, PARLEY_MAX_DELIVERIES, PARLEY_MAX_CONCURRENT_TURNS, PARLEY_METRICS_PORT and HOST are read by the workers (see SETTINGS)
  const worker = resources.settings as unknown as {
    PARLEY_STREAM_REPLICAS: number;
    PARLEY_ACK_WAIT_MS?: number;
    PARLEY_MAX_DELIVERIES?: number;
    PARLEY_MAX_CONCURRENT_TURNS?: number;
    PARLEY_METRICS_PORT: number | 'auto';
    HOST: string;
  };
  const consumers = definition.consumers(prefix, worker.PARLEY_ACK_WAIT_MS ?? 30_000);
  const monitor = new WorkerMonitor(
    resources,
    consumers.map((c) => c.durable),
    definition.health,
  );
  try {
    const app = await NestFactory.createMicroservice(definition.module(resources), {
      strategy: new JetStreamTransport({
        bus: resources.bus,
        prefix,
        service,
        instanceId: resources.instanceId,
        consumers,
        concurrency: worker.PARLEY_MAX_CONCURRENT_TURNS,
        maxDeliveries: worker.PARLEY_MAX_DELIVERIES,
        streamReplicas: worker.PARLEY_STREAM_REPLICAS,
        orderKey: definition.orderKey,
        open: async (stored) => (await resources.store.open([stored]))[0],
        giveUp: definition.handlesTurns ? (event) => giveUpOnTurn(resources, event) : undefined,
        health: () => monitor.health(),
        observer: monitor,
      }),
      logger: resources.nestLogger,
    });
    app.useGlobalFilters(new RethrowRpcErrors());
    await app.listen();
    monitor.start();
    const wanted = worker.PARLEY_METRICS_PORT === 'auto' ? (METRICS_PORTS[service] ?? 0) : worker.PARLEY_METRICS_PORT;
    const served =
      worker.PARLEY_METRICS_PORT === 0
        ? null
        : await serveMetrics(
            resources.metrics,
            wanted,
            worker.HOST,
            async () => monitor.health().problem ?? null,
            worker.PARLEY_METRICS_PORT === 'auto',
          ).catch((error: NodeJS.ErrnoException) => {
            throw new Error(`PARLEY_METRICS_PORT=${wanted}: cannot listen on ${worker.HOST}:${wanted} (${error.code ?? error.message})`);
          });
    const where = served ? `; metrics on http://${worker.HOST}:${served.port}/metrics` : '';
    new Logger(service).log(`${service} ${resources.instanceId} consuming from ${prefix}${where}`);
    onShutdown(service, async () => {
      monitor.stop();
      served?.server.close();
      await app.close();
      await resources.close();
    });
  } catch (error) {
    await resources.close();
    exitOnStartupFailure(service, error);
  }
}
