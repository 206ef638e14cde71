import { Global, Module, type DynamicModule } from '@nestjs/common';
import { EventStore, SessionProjectionRepository, SessionStates } from '@parley/event-store';
import { EventPublisher } from '@parley/messaging';
import type { Connections } from './resources';

/** DI token for the service's Connections (NATS, database, prefix, instance id). */
export const RESOURCES = Symbol('RESOURCES');

/** Makes the opened resources injectable: the store and publisher by class, the rest by token. */
@Global()
@Module({})
export class InfrastructureModule {
  static forResources(resources: Connections, states = new SessionStates(resources.store, resources.projections)): DynamicModule {
    // a fold holds a session's text: an erasure drops it
    resources.erasures.onErased((streamIds) => states.forget(streamIds));
    return {
      module: InfrastructureModule,
      providers: [
        { provide: RESOURCES, useValue: resources },
        { provide: EventStore, useValue: resources.store },
        { provide: SessionProjectionRepository, useValue: resources.projections },
        { provide: EventPublisher, useValue: resources.bus },
        // the process's recent session folds: a turn's state is loaded with one query
        { provide: SessionStates, useValue: states },
      ],
      exports: [RESOURCES, EventStore, SessionProjectionRepository, EventPublisher, SessionStates],
    };
  }
}
