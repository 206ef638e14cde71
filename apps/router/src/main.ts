import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { partitionedConsumers } from '@parley/messaging';
import { InfrastructureModule, runWorker } from '@parley/runtime';
import { TenantMatchers } from './routing/tenant-matchers';
import { FAQ_THRESHOLD, TurnRoutingHandler } from './routing/turn-routing.handler';

void runWorker({
  service: 'router',
  module: (resources) => {
    @Module({
      imports: [InfrastructureModule.forResources(resources)],
      controllers: [TurnRoutingHandler],
      providers: [
        { provide: TenantMatchers, useValue: new TenantMatchers(resources.database.db, resources.settings.PARLEY_KB_REFRESH_MS) },
        { provide: FAQ_THRESHOLD, useValue: resources.settings.PARLEY_FAQ_THRESHOLD },
      ],
    })
    class RouterModule {}
    return RouterModule;
  },
  consumers: (prefix, partitions, ackWaitMs) =>
    partitionedConsumers(prefix, partitions, { name: 'router', type: 'UserMessageReceived', deliverFrom: 'all', ackWaitMs }),
});
