import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { InfrastructureModule, runWorker } from '@parley/runtime';
import { RelayLeader } from './relay/relay-leader';
import { RELAY_LEADER, RelayService } from './relay/relay.service';

void runWorker({
  service: 'relay',
  module: (resources) => {
    @Module({
      imports: [InfrastructureModule.forResources(resources)],
      providers: [
        RelayService,
        {
          provide: RELAY_LEADER,
          useValue: new RelayLeader({
            databaseUrl: resources.settings.DATABASE_URL,
            publisher: resources.publisher,
            pollMs: resources.settings.PARLEY_RELAY_POLL_MS,
          }),
        },
      ],
    })
    class RelayModule {}
    return RelayModule;
  },
  consumers: () => [], // the relay only publishes
});
