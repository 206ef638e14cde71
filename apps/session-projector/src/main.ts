import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { eventFilter } from '@parley/contracts';
import { InfrastructureModule, runWorker } from '@parley/runtime';
import { SessionProjectionHandler } from './projection/session-projection.handler';

void runWorker({
  service: 'session-projector',
  module: (resources) => {
    @Module({ imports: [InfrastructureModule.forResources(resources)], controllers: [SessionProjectionHandler] })
    class SessionProjectorModule {}
    return SessionProjectorModule;
  },
  consumers: (prefix) => [
    { durable: 'session-projector', filterSubject: eventFilter(prefix), maxAckPending: 256, deliverFrom: 'all' },
  ],
});
