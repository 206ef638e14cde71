import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { serviceConsumer } from '@parley/messaging';
import { InfrastructureModule, runWorker } from '@parley/runtime';
import { PROJECTION_QUIET_MS, SessionProjectionHandler } from './projection/session-projection.handler';

void runWorker({
  service: 'session-projector',
  module: (resources) => {
    @Module({
      imports: [InfrastructureModule.forResources(resources)],
      controllers: [SessionProjectionHandler],
      providers: [{ provide: PROJECTION_QUIET_MS, useValue: resources.settings.PARLEY_PROJECTION_QUIET_MS }],
    })
    class SessionProjectorModule {}
    return SessionProjectorModule;
  },
  consumers: (prefix, ackWaitMs) => [
    serviceConsumer(prefix, { name: 'session-projector', audience: 'state', deliverFrom: 'all', ackWaitMs }),
  ],
});
