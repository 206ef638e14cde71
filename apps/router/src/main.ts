import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { tenantDefaults } from '@parley/contracts';
import { TenantDirectory } from '@parley/event-store';
import { serviceConsumer, StreamSignals } from '@parley/messaging';
import { InfrastructureModule, runWorker, tenantDirectory, TenantMatchers } from '@parley/runtime';
import { TurnRoutingHandler } from './routing/turn-routing.handler';

let matchers: TenantMatchers | undefined;

void runWorker({
  service: 'router',
  module: (resources) => {
    matchers = new TenantMatchers(
      resources.database.db,
      resources.settings.PARLEY_KB_REFRESH_MS,
      'wait',
      resources.settings.PARLEY_MATCHER,
    );
    @Module({
      imports: [InfrastructureModule.forResources(resources)],
      controllers: [TurnRoutingHandler],
      providers: [
        { provide: TenantMatchers, useValue: matchers },
        {
          provide: TenantDirectory,
          useValue: tenantDirectory(resources, tenantDefaults(resources.settings), resources.settings.PARLEY_TENANT_CACHE_MS),
        },
        { provide: StreamSignals, useValue: new StreamSignals(resources.bus.core, resources.prefix) },
      ],
    })
    class RouterModule {}
    return RouterModule;
  },
  // only messages still to be routed: those ingress routed as it recorded them are not delivered
  consumers: (prefix, ackWaitMs) => [serviceConsumer(prefix, { name: 'router', audience: 'route', deliverFrom: 'all', ackWaitMs })],
  handlesTurns: true,
  // a tenant's first knowledge base appeared after the start (a new tenant, or a stack whose
  // import ran beside the router): its turns wait for the training, which is worth saying
  health: () => {
    const training = matchers?.trainingFirst() ?? [];
    return training.length
      ? { problem: `training the first knowledge base of tenant ${training.join(', ')}; its turns wait until it is ready` }
      : {};
  },
});
