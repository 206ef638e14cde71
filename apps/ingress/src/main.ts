import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DEFAULT_TENANT, MAX_BODY_BYTES, tenantDefaults } from '@parley/contracts';
import { ensureDevKey } from '@parley/event-store';
import { TurnReplies } from '@parley/messaging';
import { exitOnStartupFailure, onShutdown, openResources, tenantDirectory, TenantMatchers, type Resources } from '@parley/runtime';
import { ApiExceptionFilter } from './http/api-error';
import { traceRequests } from './http/access-log';
import { acceptEmptyJsonBodies, clientErrors, frameworkErrors, StorableInput } from './http/request-input';
import { IngressModule } from './ingress.module';
import { ModelCatalog } from './openai/generation-params';
import { PrefixWsAdapter } from './retell/retell-ws.adapter';

async function main(): Promise<void> {
  let resources: Resources<'ingress'>;
  try {
    resources = await openResources('ingress');
  } catch (error) {
    exitOnStartupFailure('ingress', error);
  }
  const { settings } = resources;
  const replies = new TurnReplies(resources.bus.core, resources.prefix, resources.instanceId);
  try {
    const { db } = resources.database;
    if (settings.PARLEY_DEV_API_KEY) await ensureDevKey(db, DEFAULT_TENANT, settings.PARLEY_DEV_API_KEY);
    const tenants = tenantDirectory(resources, tenantDefaults(settings), settings.PARLEY_TENANT_CACHE_MS);
    const app = await NestFactory.create<NestFastifyApplication>(
      IngressModule.register(resources, {
        replies,
        limits: { timeoutMs: settings.PARLEY_TURN_TIMEOUT_MS, maxOpen: settings.PARLEY_MAX_OPEN_TURNS },
        tenants,
        matchers: new TenantMatchers(db, settings.PARLEY_KB_REFRESH_MS, 'background', settings.PARLEY_MATCHER),
        metricsToken: settings.PARLEY_METRICS_TOKEN,
        systemPrompt: settings.PARLEY_SYSTEM_PROMPT,
        models: new ModelCatalog(settings.PARLEY_MODEL, settings.PARLEY_MODELS ?? []),
      }),
      // path parameters up to 512 characters: user ids may be 200, and our validation should be the one to refuse
      new FastifyAdapter({
        bodyLimit: MAX_BODY_BYTES,
        routerOptions: { maxParamLength: 512 },
        frameworkErrors,
        clientErrorHandler: clientErrors,
      }),
      // JSON bodies are parsed by our own parser (acceptEmptyJsonBodies), on Fastify's default
      { logger: resources.nestLogger, bodyParser: false },
    );
    app.useWebSocketAdapter(new PrefixWsAdapter(app));
    app.useGlobalFilters(new ApiExceptionFilter());
    app.useGlobalInterceptors(new StorableInput());
    acceptEmptyJsonBodies(app.getHttpAdapter().getInstance());
    traceRequests(app.getHttpAdapter().getInstance(), resources.logger, resources.metrics);
    await app.listen(settings.PORT, settings.HOST);
    new Logger('ingress').log(`listening on http://${settings.HOST}:${settings.PORT}`);
    onShutdown('ingress', async () => {
      await app.close();
      replies.close();
      await resources.close();
    });
  } catch (error) {
    replies.close();
    await resources.close();
    exitOnStartupFailure('ingress', error);
  }
}

void main();
