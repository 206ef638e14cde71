import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { publishDeadLetter } from '@parley/messaging';
import { InfrastructureModule, runWorker } from '@parley/runtime';
import { RelayLeader } from './relay/relay-leader';
import { RELAY_LEADER, RelayService } from './relay/relay.service';

let leader: RelayLeader | undefined;

void runWorker({
  service: 'relay',
  module: (resources) => {
    leader = new RelayLeader({
      databaseUrl: resources.settings.DATABASE_URL,
      publisher: resources.publisher,
      pollMs: resources.settings.PARLEY_RELAY_POLL_MS,
      // a dead letter that points at the event (the event itself is what the bus cannot carry)
      setAside: ({ event, reason }) =>
        publishDeadLetter(resources.nc, resources.prefix, {
          service: 'relay',
          consumer: 'log',
          subject: `${event.type} ${event.streamId}@${event.version}`,
          reason,
          deliveries: 1,
          failedAt: new Date().toISOString(),
          payload: JSON.stringify({ eventId: event.eventId, streamId: event.streamId, version: event.version, type: event.type, globalPosition: event.globalPosition }),
        }),
    });
    @Module({
      imports: [InfrastructureModule.forResources(resources)],
      providers: [RelayService, { provide: RELAY_LEADER, useValue: leader }],
    })
    class RelayModule {}
    return RelayModule;
  },
  consumers: () => [], // the relay only publishes
  health: () => leader?.health() ?? {},
});
