import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger, type LoggerService } from '@nestjs/common';
import { context as otelContext, isSpanContextValid, trace } from '@opentelemetry/api';
import pino, { type Logger as Pino } from 'pino';
import pretty from 'pino-pretty';

/** What a log line says of the work it was written in: the request, tenant, session and turn. */
export interface LogContext {
  requestId?: string;
  tenantId?: string;
  sessionId?: string;
  turnId?: string;
}

const context = new AsyncLocalStorage<LogContext>();

/** Runs `work` with these ids on every line it logs (on top of any the caller had). */
export function withLogContext<T>(ids: LogContext, work: () => T): T {
  return context.run({ ...context.getStore(), ...ids }, work);
}

/** The current work's ids, by reference: what is added later shows on lines written from it. */
export const currentLogContext = (): LogContext | undefined => context.getStore();

/** Adds ids to the current work's lines from here on (the tenant, once the key is checked). */
export function addLogContext(ids: LogContext): void {
  const store = context.getStore();
  if (store) Object.assign(store, ids);
}

export type LogFormat = 'json' | 'pretty';

/** `LOG_LEVEL` (Nest's names) to pino's. */
const LEVELS: Record<string, pino.Level> = { error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };

/**
 * The process's logger: one JSON line per entry (pino) with its level, time, service, instance,
 * component and, wherever known, the request, tenant, session and turn ids (`withLogContext`) —
 * or, with `pretty`, the same readable in a terminal. Never the text of a conversation: the lines
 * say what happened to which ids (see `describeError` for errors).
 */
export function createLogger(options: { service: string; instanceId: string; level: string; format: LogFormat }): Pino {
  const base = { service: options.service, instance: options.instanceId };
  const settings: pino.LoggerOptions = {
    level: LEVELS[options.level] ?? 'info',
    base,
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: () => {
      const ids: Record<string, string> = { ...context.getStore() };
      // with tracing on, the line's trace: logs and spans of one turn are found by the same id
      const span = trace.getSpan(otelContext.active())?.spanContext();
      if (span && isSpanContextValid(span)) ids.traceId = span.traceId;
      return ids;
    },
    formatters: { level: (label) => ({ level: label }) },
  };
  if (options.format === 'pretty') {
    return pino(settings, pretty({ colorize: Boolean(process.stdout.isTTY) || Boolean(process.env.FORCE_COLOR), singleLine: true, ignore: 'pid,hostname,service,instance,component', messageFormat: '{if component}{component}: {end}{msg}', translateTime: 'HH:MM:ss.l', sync: true }));
  }
  return pino(settings, pino.destination({ fd: 1, sync: false, minLength: 0 }));
}

/** Nest's own start-up chatter (every module loaded, every route mapped): debug, not info. */
const STARTUP = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestMicroservice', 'NestApplication']);

/** Nest's logger on top of pino: Nest's own lines and every `new Logger(component)` go through it. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly pino: Pino) {}

  log(message: unknown, component?: string): void {
    this.write(component && STARTUP.has(component) ? 'debug' : 'info', message, component);
  }
  error(message: unknown, stackOrComponent?: string, component?: string): void {
    // Nest passes (message, stack, component) or (message, component)
    const [stack, where] = component !== undefined ? [stackOrComponent, component] : [undefined, stackOrComponent];
    this.write('error', message, where, stack);
  }
  warn(message: unknown, component?: string): void {
    this.write('warn', message, component);
  }
  debug(message: unknown, component?: string): void {
    this.write('debug', message, component);
  }
  verbose(message: unknown, component?: string): void {
    this.write('trace', message, component);
  }
  fatal(message: unknown, component?: string): void {
    this.write('fatal', message, component);
  }

  private write(level: pino.Level, message: unknown, component?: string, stack?: string): void {
    const fields = { ...(component ? { component } : {}), ...(stack ? { stack } : {}) };
    if (typeof message === 'string') this.pino[level](fields, message);
    else if (message instanceof Error) this.pino[level]({ ...fields, err: { name: message.name, stack: message.stack?.split('\n').slice(1).join('\n') } }, message.name);
    else this.pino[level]({ ...fields, data: message }, typeof message);
  }
}

/** `LOG_FORMAT` as set, else readable on a terminal and JSON lines everywhere else. */
export const logFormat = (setting: string | undefined): LogFormat => (setting === 'json' || setting === 'pretty' ? setting : process.stdout.isTTY ? 'pretty' : 'json');

/** Makes pino the logger of every `Logger` in the process, from now on. */
export function useLogger(pinoLogger: Pino): PinoNestLogger {
  const logger = new PinoNestLogger(pinoLogger);
  Logger.overrideLogger(logger);
  return logger;
}
