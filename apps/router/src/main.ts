import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { partitionedConsumers } from '@parley/messaging';
import { InfrastructureModule, runWorker } from '@parley/runtime';
import { TurnRoutingHandler } from './routing/turn-routing.handler';

void runWorker({
  service: 'router',
  module: (resources) => {
    @Module({ imports: [InfrastructureModule.forResources(resources)], controllers: [TurnRoutingHandler] })
    class RouterModule {}
    return RouterModule;
  },
  consumers: (prefix, partitions, ackWaitMs) =>
    partitionedConsumers(prefix, partitions, { name: 'router', type: 'UserMessageReceived', deliverFrom: 'all', ackWaitMs }),
});
