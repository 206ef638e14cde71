import { createHash, timingSafeEqual } from 'node:crypto';
import { Controller, Get, Headers, Inject, Res } from '@nestjs/common';
import { RESOURCES, type Connections } from '@parley/runtime';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/auth.guard';
import { ApiError } from '../http/api-error';
import { METRICS_TOKEN } from '../ingress.tokens';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Prometheus metrics of this ingress instance (`PARLEY_METRICS_TOKEN` guards them when set). */
@Public()
@Controller()
export class MetricsController {
  constructor(
    @Inject(RESOURCES) private readonly resources: Connections,
    @Inject(METRICS_TOKEN) private readonly token: string | null,
  ) {}

  @Get('metrics')
  async metrics(@Headers('authorization') authorization: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    if (this.token) {
      if (!authorization) throw new ApiError('AUTH.MISSING_KEY', 'Metrics need Authorization: Bearer <PARLEY_METRICS_TOKEN>');
      // compared by digest, in constant time: the token's length leaks nothing either
      if (!timingSafeEqual(digest(authorization), digest(`Bearer ${this.token}`)))
        throw new ApiError('AUTH.INVALID_KEY', 'Not the metrics token');
    }
    const { contentType, body } = await this.resources.metrics.text();
    void reply.header('content-type', contentType).send(body);
  }
}
