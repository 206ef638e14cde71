import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { eventFilter } from '@parley/contracts';
import { InfrastructureModule, runWorker } from '@parley/runtime';
import { TurnRoutingHandler } from './routing/turn-routing.handler';

void runWorker({
  service: 'router',
  module: (resources) => {
    @Module({ imports: [InfrastructureModule.forResources(resources)], controllers: [TurnRoutingHandler] })
    class RouterModule {}
    return RouterModule;
  },
  consumers: (prefix) => [
    { durable: 'router', filterSubject: eventFilter(prefix, 'UserMessageReceived'), maxAckPending: 256, deliverFrom: 'all' },
  ],
});
