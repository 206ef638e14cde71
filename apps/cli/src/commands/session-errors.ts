import { normalizeSessionId, ReplayPointError, StreamNotFoundError } from '@parley/event-store';
import { CliError } from '../cli-error';

/** Runs a read of one session, saying in the CLI's words when it is not there or `--at` is outside it. */
export async function readingSession<T>(options: { sessionId: string; tenantId: string }, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    const sessionId = normalizeSessionId(options.sessionId);
    if (error instanceof StreamNotFoundError) throw new CliError(`Session ${sessionId} not found in tenant ${options.tenantId}`);
    if (error instanceof ReplayPointError) {
      throw new CliError(
        error.at instanceof Date
          ? error.message
          : `--at ${error.at} is outside session ${sessionId}, which has versions 1 to ${error.latestVersion}`,
        2,
      );
    }
    throw error;
  }
}
