import {
  EventStore,
  forkSession,
  normalizeSessionId,
  ForkVersionError,
  StreamErasedError,
  StreamNotFoundError,
  type Db,
} from '@parley/event-store';
import { CliError } from '../cli-error';

/** `parley fork`: a new session continuing one as it stood at a version (the relay publishes it). */
export async function fork(db: Db, options: { sessionId: string; tenantId: string; at?: number; json: boolean }): Promise<string> {
  const sessionId = normalizeSessionId(options.sessionId);
  try {
    const forked = await forkSession(new EventStore(db), options.tenantId, sessionId, { atVersion: options.at });
    if (options.json) return JSON.stringify({ sessionId: forked.sessionId, forkedFrom: { sessionId, version: forked.atVersion } });
    return [
      `Forked session ${sessionId} at v${forked.atVersion} into ${forked.sessionId}`,
      `Continue it with POST /v1/sessions/${forked.sessionId}/turns; the original is unchanged.`,
    ].join('\n');
  } catch (error) {
    if (error instanceof ForkVersionError)
      throw new CliError(`--at ${options.at} is outside session ${sessionId}, which has versions 1 to ${error.latest}`, 2);
    if (error instanceof StreamNotFoundError) throw new CliError(`Session ${sessionId} not found in tenant ${options.tenantId}`);
    if (error instanceof StreamErasedError) throw new CliError(`Session ${sessionId} belonged to an erased user; it cannot be forked`);
    throw error;
  }
}
