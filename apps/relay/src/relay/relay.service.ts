import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { RelayLeader } from './relay-leader';

export const RELAY_LEADER = Symbol('RELAY_LEADER');

/** Starts the relay with the application and stops it before connections close. */
@Injectable()
export class RelayService implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(RELAY_LEADER) private readonly leader: RelayLeader) {}

  onApplicationBootstrap(): void {
    this.leader.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.leader.stop();
  }
}
