import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TenantDirectory } from '@parley/event-store';
import type { TurnReplies } from '@parley/messaging';
import { InfrastructureModule, TenantMatchers, type Connections } from '@parley/runtime';
import { AuthGuard } from './auth/auth.guard';
import { HealthController } from './health/health.controller';
import { MetricsController } from './health/metrics.controller';
import { ChatCompletionsController } from './openai/chat-completions.controller';
import { ResponsesController } from './openai/responses.controller';
import { DocsController } from './docs/docs.controller';
import { METRICS_TOKEN, TURN_LIMITS, TURN_REPLIES, type TurnLimits } from './ingress.tokens';
import { SessionsController } from './sessions/sessions.controller';
import { SessionsService } from './sessions/sessions.service';
import { TurnsController } from './turns/turns.controller';
import { TurnsService } from './turns/turns.service';
import { UsageController } from './usage/usage.controller';
import { UsersController } from './users/users.controller';

/** Every HTTP controller of ingress (the OpenAPI document is checked against their routes). */
export const INGRESS_CONTROLLERS = [
  SessionsController,
  TurnsController,
  ChatCompletionsController,
  ResponsesController,
  UsersController,
  UsageController,
  HealthController,
  MetricsController,
  DocsController,
];

@Module({})
export class IngressModule {
  static register(resources: Connections, replies: TurnReplies, limits: TurnLimits, tenants: TenantDirectory, matchers: TenantMatchers, metricsToken?: string): DynamicModule {
    return {
      module: IngressModule,
      imports: [InfrastructureModule.forResources(resources)],
      controllers: INGRESS_CONTROLLERS,
      providers: [
        SessionsService,
        TurnsService,
        { provide: TURN_REPLIES, useValue: replies },
        { provide: TURN_LIMITS, useValue: limits },
        { provide: METRICS_TOKEN, useValue: metricsToken ?? null },
        { provide: TenantDirectory, useValue: tenants },
        // sessionless FAQ turns are answered here once a tenant's matcher is trained (in the background)
        { provide: TenantMatchers, useValue: matchers },
        { provide: APP_GUARD, useClass: AuthGuard },
      ],
    };
  }
}
