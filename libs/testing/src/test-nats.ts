import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

export const TEST_NATS_URL = process.env.PARLEY_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** A NATS prefix of this test file's own, so its streams and subjects collide with nothing. */
export function testNatsPrefix(label = 't'): string {
  return `${label.replace(/[^A-Za-z0-9]/g, '')}${randomBytes(4).toString('hex')}`;
}

/** Deletes every JetStream stream whose name starts with the prefix's stream namespace. */
export async function deleteTestStreams(prefix: string): Promise<void> {
  const nc = await connect({ servers: TEST_NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    const upper = `${prefix.toUpperCase()}_`;
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(upper)) await jsm.streams.delete(name);
    }
  } finally {
    await nc.close();
  }
}
