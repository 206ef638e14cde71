import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { CallerUsers, TenantDirectory } from '@parley/event-store';
import { InfrastructureModule, TenantMatchers, type Connections } from '@parley/runtime';
import { AuthGuard } from './auth/auth.guard';
import { RateLimiter } from './auth/rate-limiter';
import { HealthController } from './health/health.controller';
import { MetricsController } from './health/metrics.controller';
import { ChatCompletionsController } from './openai/chat-completions.controller';
import { ConversationsController } from './openai/conversations.controller';
import { ResponsesController } from './openai/responses.controller';
import { StoredResponses } from './openai/stored-responses';
import { DocsController } from './docs/docs.controller';
import { METRICS_TOKEN, SYSTEM_PROMPT, TURN_LIMITS, TURN_REPLIES, type IngressOptions } from './ingress.tokens';
import { InspectController } from './inspect/inspect.controller';
import { ModelCatalog } from './openai/generation-params';
import { VoiceSessions } from './openai/voice-sessions';
import { RetellGateway } from './retell/retell.gateway';
import { InspectService } from './inspect/inspect.service';
import { SessionsController } from './sessions/sessions.controller';
import { SessionsService } from './sessions/sessions.service';
import { TurnsController } from './turns/turns.controller';
import { TurnsService } from './turns/turns.service';
import { OpenTurns } from './turns/open-turns';
import { TurnOutcomes } from './turns/turn-outcomes';
import { TurnLog } from './turns/turn-log';
import { BargeIn } from './turns/barge-in.service';
import { IngressRouting } from './turns/ingress-routing';
import { UsageController } from './usage/usage.controller';
import { UsersController } from './users/users.controller';

/** Every HTTP controller of ingress (the OpenAPI document is checked against their routes). */
export const INGRESS_CONTROLLERS = [
  SessionsController,
  TurnsController,
  ChatCompletionsController,
  ResponsesController,
  ConversationsController,
  UsersController,
  UsageController,
  HealthController,
  MetricsController,
  DocsController,
  InspectController,
];

@Module({})
export class IngressModule {
  static register(resources: Connections, options: IngressOptions): DynamicModule {
    return {
      module: IngressModule,
      imports: [InfrastructureModule.forResources(resources)],
      controllers: INGRESS_CONTROLLERS,
      providers: [
        SessionsService,
        TurnsService,
        OpenTurns,
        TurnOutcomes,
        TurnLog,
        BargeIn,
        StoredResponses,
        IngressRouting,
        VoiceSessions,
        RetellGateway,
        InspectService,
        { provide: TURN_REPLIES, useValue: options.replies },
        { provide: TURN_LIMITS, useValue: options.limits },
        { provide: METRICS_TOKEN, useValue: options.metricsToken ?? null },
        { provide: SYSTEM_PROMPT, useValue: options.systemPrompt },
        { provide: TenantDirectory, useValue: options.tenants },
        { provide: TenantMatchers, useValue: options.matchers },
        { provide: ModelCatalog, useValue: options.models },
        { provide: CallerUsers, useValue: new CallerUsers(resources.database.db) },
        { provide: RateLimiter, useValue: new RateLimiter() },
        { provide: APP_GUARD, useClass: AuthGuard },
      ],
    };
  }
}
