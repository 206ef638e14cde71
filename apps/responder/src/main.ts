import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { SettingsError, tenantDefaultModel, tenantDefaults, type Settings } from '@parley/contracts';
import { SessionStates, type TenantDirectory } from '@parley/event-store';
import { RunningTurns, serviceConsumer, StreamSignals, TurnDeltas } from '@parley/messaging';
import { llmOptionsFrom, OpenAiCompatibleLlm, PerTenantLlm, type Llm } from '@parley/llm';
import { InfrastructureModule, runWorker, tenantDirectory, type Metrics, type Resources } from '@parley/runtime';
import { KeptMessages } from './replying/kept-messages';
import { Summarizer } from './replying/summarizer';
import { TurnAnswers } from './replying/turn-answers';
import { TurnPlanner } from './replying/turn-planner';
import { LLM, RESPONDER_PARTS, TurnResponderHandler, type ResponderParts } from './replying/turn-responder.handler';

/** No LLM configured, and a demo LLM offered (compose's): answer with it. */
const usesDemoLlm = (settings: Settings<'responder'>) =>
  !settings.OPENAI_API_KEY && !settings.explicit.has('OPENAI_BASE_URL') && settings.PARLEY_DEMO_LLM_URL !== undefined;

function checkLlmSettings(settings: Settings<'responder'>): void {
  if (!settings.OPENAI_API_KEY && !settings.explicit.has('OPENAI_BASE_URL') && !usesDemoLlm(settings)) {
    throw new SettingsError([
      'OPENAI_API_KEY is required to call the OpenAI API; set it, or set OPENAI_BASE_URL to another OpenAI-compatible server',
    ]);
  }
}

/** The deployment's LLM, and each tenant's where it chose its own server, key or default model. */
function llmFrom(settings: Settings<'responder'>, metrics: Metrics, tenants: TenantDirectory): Llm {
  const demo = usesDemoLlm(settings);
  if (demo) {
    new Logger('responder').warn(
      `No LLM configured (OPENAI_API_KEY / OPENAI_BASE_URL): answering with the demo LLM at ${settings.PARLEY_DEMO_LLM_URL}, which echoes the user. Set OPENAI_API_KEY (and OPENAI_BASE_URL for another server) for a real model.`,
    );
  }
  const options = llmOptionsFrom(settings, {
    observe: (call) => metrics.llmCall(call),
    ...(demo ? { baseURL: settings.PARLEY_DEMO_LLM_URL! } : {}),
  });
  return new PerTenantLlm(new OpenAiCompatibleLlm(options), options, async (tenantId) => {
    const [own, provider] = await Promise.all([tenants.settings(tenantId), tenants.llmProvider(tenantId)]);
    return { ...provider, defaultModel: tenantDefaultModel(own) ?? null };
  });
}

/** Routed messages kept for their `TurnRouted`: room for every turn this replica holds, briefly. */
const keptMessages = (concurrency: number) => new KeptMessages(Math.max(1_000, 4 * concurrency), 60_000);

void runWorker({
  service: 'responder',
  checkSettings: checkLlmSettings,
  module: (resources: Resources<'responder'>) => {
    const { settings, store } = resources;
    const tenants = tenantDirectory(resources, tenantDefaults(settings), settings.PARLEY_TENANT_CACHE_MS);
    const llm = llmFrom(settings, resources.metrics, tenants);
    // the folds of the sessions this replica answers: room for more than it holds at once
    const states = new SessionStates(store, resources.projections, {
      maxEntries: Math.max(1_000, 4 * settings.PARLEY_MAX_CONCURRENT_TURNS),
      maxAgeMs: 60_000,
    });
    const signals = new StreamSignals(resources.bus.core, resources.prefix);
    const kept = keptMessages(settings.PARLEY_MAX_CONCURRENT_TURNS);
    const parts: ResponderParts = {
      kept,
      answers: new TurnAnswers(store, states, resources.bus, resources.bus.core, new TurnDeltas(resources.bus.core), signals),
      signals,
      planner: new TurnPlanner(store, states, tenants, signals, kept, settings.PARLEY_SYSTEM_PROMPT),
      summarizer: new Summarizer(store, states, resources.bus, llm),
    };
    // an erased session's kept messages go with its folds (forgotten by the infrastructure module)
    resources.erasures.onErased((streamIds) => kept.forget(streamIds));
    @Module({
      imports: [InfrastructureModule.forResources(resources, states)],
      controllers: [TurnResponderHandler],
      providers: [
        { provide: LLM, useValue: llm },
        { provide: RunningTurns, useValue: new RunningTurns(resources.bus.core, resources.prefix) },
        { provide: RESPONDER_PARTS, useValue: parts },
      ],
    })
    class ResponderModule {}
    return ResponderModule;
  },
  // A new responder does not answer turns from before it existed; its durable remembers from then on.
  consumers: (prefix, ackWaitMs) => [serviceConsumer(prefix, { name: 'responder', audience: 'answer', deliverFrom: 'new', ackWaitMs })],
  // a session's stateful turns one after another; a stateless turn (its own message alone) waits for nothing
  orderKey: (event) =>
    event.type === 'TurnRouted' && (event.data as { mode?: unknown }).mode === 'stateless' ? event.eventId : event.streamId,
  handlesTurns: true,
});
