import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { lagAfter, LogCheckpoints } from '@parley/event-store';
import { InfrastructureModule, runWorker } from '@parley/runtime';
import { RELAY_CHECKPOINT } from './relay/log-relay';
import { RelayLeader } from './relay/relay-leader';
import { RELAY_LEADER, RelayService } from './relay/relay.service';

let leader: RelayLeader | undefined;

void runWorker({
  service: 'relay',
  module: (resources) => {
    const { metrics, database } = resources;
    // the lag as a scrape sees it: committed events past the relay's checkpoint (any replica reports the same)
    metrics.onScrape(async () => {
      const lag = await lagAfter(database.db, await new LogCheckpoints(database.db).load(RELAY_CHECKPOINT));
      metrics.relayLagEvents.set(lag.events);
      metrics.relayLagSeconds.set(lag.seconds);
    });
    leader = new RelayLeader({
      databaseUrl: resources.settings.DATABASE_URL,
      publisher: resources.bus,
      pollMs: resources.settings.PARLEY_RELAY_POLL_MS,
      // a dead letter that points at the event (the event itself is what the bus cannot carry)
      setAside: ({ event, reason }) => {
        metrics.relaySetAside.inc();
        return resources.bus.deadLetter({
          service: 'relay',
          consumer: 'log',
          subject: `${event.type} ${event.streamId}@${event.version}`,
          reason,
          deliveries: 1,
          failedAt: new Date().toISOString(),
          payload: JSON.stringify({
            eventId: event.eventId,
            streamId: event.streamId,
            version: event.version,
            type: event.type,
            globalPosition: event.globalPosition,
          }),
        });
      },
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
