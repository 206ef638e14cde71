import { Inject, Injectable } from '@nestjs/common';
import type { RouteInfo, TurnDeltaMessage } from '@parley/contracts';
import { RESOURCES, type Connections } from '@parley/runtime';
import { ApiError } from '../http/api-error';
import { TURN_LIMITS, type TurnLimits } from '../ingress.tokens';
import type { Answered, TurnResult, TurnStream } from './turn-result';

/**
 * The turns this instance holds open, and what they are measured by. Past `PARLEY_MAX_OPEN_TURNS`
 * held open, a turn is refused at once — 503 with Retry-After, nothing recorded — rather than
 * queued to time out: an overloaded cluster says so, and memory stays bounded.
 */
@Injectable()
export class OpenTurns {
  private open = 0;

  constructor(
    @Inject(TURN_LIMITS) private readonly limits: TurnLimits,
    @Inject(RESOURCES) private readonly resources: Connections,
  ) {}

  /** Runs a turn held open (given the client's stream, measured for its first piece), counting how it ended. */
  async hold(tenant: string, clientStream: TurnStream | undefined, turn: (stream?: TurnStream) => Promise<Answered>): Promise<TurnResult> {
    const { metrics } = this.resources;
    if (this.open >= this.limits.maxOpen) {
      metrics.turns.inc({ tenant, mode: 'none', route: 'none', reason: 'none', outcome: 'SERVICE.OVERLOADED' });
      throw new ApiError('SERVICE.OVERLOADED', `This instance holds ${this.limits.maxOpen} turns open already; retry shortly`, {
        retryAfterSeconds: 1,
      });
    }
    metrics.openTurns.set(++this.open);
    const startedAt = performance.now();
    const seconds = () => (performance.now() - startedAt) / 1000;
    // time to first token: the first piece streamed (a knowledge base answer comes whole: its end)
    let firstPiece = false;
    const stream = clientStream && {
      ...clientStream,
      onDelta: (delta: TurnDeltaMessage) => {
        if (!firstPiece) {
          firstPiece = true;
          metrics.firstTokenSeconds.observe({ mode: delta.route?.mode ?? 'unknown' }, seconds());
        }
        clientStream.onDelta(delta);
      },
    };
    try {
      const { answeredBy, ...result } = await turn(stream);
      const { mode, reason } = result.route;
      if (stream && !firstPiece) metrics.firstTokenSeconds.observe({ mode }, seconds());
      metrics.turns.inc({ tenant, mode, route: answeredBy, reason, outcome: result.reply.interrupted ? 'interrupted' : 'answered' });
      metrics.turnSeconds.observe({ mode, route: answeredBy }, seconds());
      return result;
    } catch (error) {
      const route = error instanceof ApiError ? (error.details as { route?: RouteInfo } | undefined)?.route : undefined;
      const outcome = error instanceof ApiError ? error.code : 'INTERNAL';
      metrics.turns.inc({ tenant, mode: route?.mode ?? 'none', route: route ? 'llm' : 'none', reason: route?.reason ?? 'none', outcome });
      throw error;
    } finally {
      metrics.openTurns.set(--this.open);
    }
  }
}
