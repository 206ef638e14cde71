import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { SettingsError, tenantDefaults, type Settings } from '@parley/contracts';
import { TenantDirectory } from '@parley/event-store';
import { partitionedConsumers, RunningTurns } from '@parley/messaging';
import { OpenAiCompatibleLlm } from '@parley/llm';
import { InfrastructureModule, runWorker } from '@parley/runtime';
import { LLM, RESPONDER_OPTIONS, TurnResponderHandler, type ResponderOptions } from './replying/turn-responder.handler';

function checkLlmSettings(settings: Settings<'responder'>): void {
  if (!settings.OPENAI_API_KEY && !settings.explicit.has('OPENAI_BASE_URL')) {
    throw new SettingsError([
      'OPENAI_API_KEY is required to call the OpenAI API; set it, or set OPENAI_BASE_URL to another OpenAI-compatible server',
    ]);
  }
}

function llmFrom(settings: Settings<'responder'>): OpenAiCompatibleLlm {
  return new OpenAiCompatibleLlm({
    baseURL: settings.OPENAI_BASE_URL,
    apiKey: settings.OPENAI_API_KEY,
    model: settings.PARLEY_MODEL,
    timeoutMs: settings.PARLEY_LLM_TIMEOUT_MS,
    maxRetries: settings.PARLEY_LLM_MAX_RETRIES,
  });
}

void runWorker({
  service: 'responder',
  checkSettings: checkLlmSettings,
  module: (resources) => {
    @Module({
      imports: [InfrastructureModule.forResources(resources)],
      controllers: [TurnResponderHandler],
      providers: [
        { provide: LLM, useValue: llmFrom(resources.settings) },
        { provide: RunningTurns, useValue: new RunningTurns(resources.nc, resources.prefix) },
        { provide: TenantDirectory, useValue: new TenantDirectory(resources.database.db, tenantDefaults(resources.settings), resources.settings.PARLEY_TENANT_CACHE_MS) },
        {
          provide: RESPONDER_OPTIONS,
          useValue: {
            systemPrompt: resources.settings.PARLEY_SYSTEM_PROMPT,
          } satisfies ResponderOptions,
        },
      ],
    })
    class ResponderModule {}
    return ResponderModule;
  },
  // A new responder does not answer turns from before it existed; its durables remember from then on.
  consumers: (prefix, partitions, ackWaitMs) =>
    partitionedConsumers(prefix, partitions, { name: 'responder', audience: 'answer', deliverFrom: 'new', ackWaitMs }),
});
