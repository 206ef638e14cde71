import { Logger, type LoggerService } from '@nestjs/common';
import { context as otelContext, isSpanContextValid, trace } from '@opentelemetry/api';
import pino, { type Logger as Pino } from 'pino';
import pretty from 'pino-pretty';

export type { LogContext } from '@parley/contracts';

export type LogFormat = 'json' | 'pretty';

/** `LOG_LEVEL` (Nest's names) to pino's. */
const LEVELS: Record<string, pino.Level> = { error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };

/**
 * The process's logger: one JSON line per entry (pino) with its level, time, service, instance,
 * component and, wherever known, the request, tenant, session and turn ids (a `LogContext` the
 * caller passes: `new Logger('x').warn(message, logIdsOf(event))`) —
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
    // with tracing on, the line's trace: logs and spans of one turn are found by the same id
    mixin: () => {
      const span = trace.getSpan(otelContext.active())?.spanContext();
      return span && isSpanContextValid(span) ? { traceId: span.traceId } : {};
    },
    formatters: { level: (label) => ({ level: label }) },
  };
  if (options.format === 'pretty') {
    return pino(
      settings,
      pretty({
        colorize: Boolean(process.stdout.isTTY) || Boolean(process.env.FORCE_COLOR),
        singleLine: true,
        ignore: 'pid,hostname,service,instance,component',
        messageFormat: '{if component}{component}: {end}{msg}',
        translateTime: 'HH:MM:ss.l',
        sync: true,
      }),
    );
  }
  return pino(settings, pino.destination({ fd: 1, sync: false, minLength: 0 }));
}

/** Nest's own start-up chatter (every module loaded, every route mapped): debug, not info. */
const STARTUP = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestMicroservice', 'NestApplication']);

/**
 * Nest's logger on top of pino: Nest's own lines and every `new Logger(component)` go through it.
 * Nest passes `(message, ...params, component)`; an object among the params is a line's fields (its
 * `LogContext`), a string before the component an error's stack.
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly pino: Pino) {}

  log(message: unknown, ...params: unknown[]): void {
    const component = params.at(-1);
    this.write(typeof component === 'string' && STARTUP.has(component) ? 'debug' : 'info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: pino.Level, message: unknown, params: unknown[]): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    const last = params.length - 1;
    params.forEach((param, i) => {
      if (typeof param === 'string') fields[i === last ? 'component' : 'stack'] = param;
      else if (param && typeof param === 'object') Object.assign(fields, param);
    });
    if (typeof message === 'string') this.pino[level](fields, message);
    else if (message instanceof Error)
      this.pino[level]({ ...fields, err: { name: message.name, stack: message.stack?.split('\n').slice(1).join('\n') } }, message.name);
    else this.pino[level]({ ...fields, data: message }, typeof message);
  }
}

/** `LOG_FORMAT` as set, else readable on a terminal and JSON lines everywhere else. */
export const logFormat = (setting: string | undefined): LogFormat =>
  setting === 'json' || setting === 'pretty' ? setting : process.stdout.isTTY ? 'pretty' : 'json';

/** Makes pino the logger of every `Logger` in the process, from now on. */
export function useLogger(pinoLogger: Pino): PinoNestLogger {
  const logger = new PinoNestLogger(pinoLogger);
  Logger.overrideLogger(logger);
  return logger;
}
