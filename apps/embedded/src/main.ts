import 'reflect-metadata';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { parseSettings } from '@parley/contracts';
import { connectDatabase, DeadLettersRepository, migrateDatabase } from '@parley/event-store';
import { InProcessBus } from '@parley/messaging';
import { afterShutdown, exitOnStartupFailure, serviceStarted, shareBus } from '@parley/runtime';

/**
 * Every service in one process, on the in-process bus: the embedded mode, which `npm start` runs
 * when no NATS server is configured or answering. Each service is its own entrypoint, loaded
 * here as it would run alone, and finds the bus this process shares (`shareBus`) where it would
 * connect to NATS. They start one after another, the consumers before what publishes: the
 * in-process stream keeps a message only for the consumers that exist when it is published.
 */
const SERVICES = ['session-projector', 'router', 'responder', 'relay', 'ingress'] as const;

async function main(): Promise<void> {
  let bus: InProcessBus;
  try {
    // every service's settings are checked before any starts
    for (const service of SERVICES) parseSettings(service, process.env);
    const { DATABASE_URL: url, PARLEY_NATS_PREFIX: prefix } = parseSettings('relay', process.env);
    await migrateDatabase(url);
    const database = await connectDatabase(url);
    bus = new InProcessBus({ prefix, deadLetters: new DeadLettersRepository(database.db) });
    afterShutdown(async () => {
      await bus.close();
      await database.close();
    });
  } catch (error) {
    exitOnStartupFailure('parley', error);
  }
  shareBus(bus);
  for (const service of SERVICES) {
    // a service's main starts it as it is loaded, one after another in order: a plain require does that
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(join(__dirname, '..', '..', service, 'src', 'main.js'));
    await serviceStarted(service);
  }
  new Logger('parley').log(`every service runs in this process (pid ${process.pid}), on the in-process bus`);
}

void main();
