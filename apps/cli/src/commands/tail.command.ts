import { EVENT_TYPES, type EventType } from '@parley/contracts';
import { EventStore, logHead, normalizeSessionId, readLogAfter, type Db } from '@parley/event-store';
import { CliError } from '../cli-error';
import { describeEvent } from './replay.command';

export interface TailOptions {
  tenantId: string;
  sessionId?: string;
  types: EventType[];
  json: boolean;
  /** Stop after this many events (default: follow until interrupted). */
  limit?: number;
  pollMs: number;
  signal: AbortSignal;
  write: (line: string) => void;
  /** Called once the head of the log is known: events committed from now on will be shown. */
  onFollowing?: () => void;
}

export function parseTypes(value: string | undefined): EventType[] {
  if (!value) return [];
  const types = value.split(',').map((t) => t.trim());
  const unknown = types.filter((t) => !(EVENT_TYPES as string[]).includes(t));
  if (unknown.length) throw new CliError(`--type ${unknown.join(', ')}: not an event type (${EVENT_TYPES.join(', ')})`, 2);
  return types as EventType[];
}

/**
 * `parley tail`: follows the log as events commit, in commit order (the relay's never-skipping
 * read), the tenant's only, optionally one session's and some types'. One line per event, or
 * NDJSON with `--json`. Returns the number of events shown.
 */
export async function tail(db: Db, options: TailOptions): Promise<number> {
  const store = new EventStore(db);
  const streamId = options.sessionId ? `session-${normalizeSessionId(options.sessionId)}` : null;
  let position = await logHead(db);
  options.onFollowing?.();
  let shown = 0;
  while (!options.signal.aborted) {
    const batch = await readLogAfter(db, position, 500);
    position = batch.position;
    const wanted = batch.events.filter(
      (e) =>
        e.metadata.tenantId === options.tenantId &&
        (!streamId || e.streamId === streamId) &&
        (!options.types.length || options.types.includes(e.type as EventType)),
    );
    for (const event of await store.open(wanted)) {
      options.write(options.json ? JSON.stringify(event) : `${event.streamId.padEnd(44)} ${describeEvent(event)}`);
      if (options.limit !== undefined && ++shown >= options.limit) return shown;
    }
    if (batch.events.length < 500) await new Promise((resolve) => setTimeout(resolve, options.pollMs));
  }
  return shown;
}
