import { readFileSync } from 'node:fs';
import { EventMetadata, EventSchemas, EVENT_SCHEMA_VERSIONS, type EventType, type NewEvent, type RecordedEvent } from '@parley/contracts';
import { EventStore, type Db, recountUsage, sessionEvents } from '@parley/event-store';
import { z } from 'zod';
import { CliError } from '../cli-error';
import { readingSession } from './session-errors';

/**
 * `parley export` / `parley import`: conversations as NDJSON, to move them between environments
 * with ids, versions and times intact. The first line says what the file is; then, per stream, a
 * `stream` line (owner, closed) followed by its `event` lines in version order. Personal data is
 * exported readable (the target seals it again with keys of its own), so the file is as sensitive
 * as the conversations; erased streams are left out.
 */
const Header = z.object({ kind: z.literal('parley-export'), formatVersion: z.literal(1), tenantId: z.string(), exportedAt: z.string() });
const StreamLine = z.object({
  kind: z.literal('stream'),
  streamId: z.string().min(1).max(300),
  userId: z.string().nullable(),
  closed: z.boolean(),
});
const EventLine = z.object({
  kind: z.literal('event'),
  eventId: z.string().uuid(),
  streamId: z.string().min(1).max(300),
  version: z.number().int().positive(),
  type: z.string(),
  schemaVersion: z.number().int().positive(),
  data: z.unknown(),
  metadata: EventMetadata,
  recordedAt: z.string(),
});

export interface ExportOptions {
  tenantId: string;
  sessionId?: string;
  all: boolean;
  since?: Date;
}

/** The NDJSON export of one session, or of every stream of the tenant (updated since a time). */
export async function exportStreams(
  db: Db,
  options: ExportOptions,
): Promise<{ lines: string[]; streams: number; events: number; skippedErased: number }> {
  const store = new EventStore(db);
  let streamIds: string[];
  if (options.sessionId) {
    const { sessionId, tenantId } = options;
    const events = await readingSession({ sessionId, tenantId }, () => sessionEvents(store, sessionId, tenantId));
    streamIds = [events[0].streamId];
  } else {
    streamIds = await store.tenantStreams(options.tenantId, options.since);
  }
  const lines = [
    JSON.stringify({ kind: 'parley-export', formatVersion: 1, tenantId: options.tenantId, exportedAt: new Date().toISOString() }),
  ];
  let events = 0;
  let streams = 0;
  let skippedErased = 0;
  for (const streamId of streamIds) {
    const info = await store.streamInfo(streamId);
    if (!info) continue;
    if (info.erased) {
      skippedErased++;
      continue;
    }
    const stream = await store.readStream(streamId);
    lines.push(JSON.stringify({ kind: 'stream', streamId, userId: info.userId, closed: info.closed }));
    for (const e of stream) lines.push(JSON.stringify(eventLine(e)));
    events += stream.length;
    streams++;
  }
  return { lines, streams, events, skippedErased };
}

const eventLine = (e: RecordedEvent) => ({
  kind: 'event',
  eventId: e.eventId,
  streamId: e.streamId,
  version: e.version,
  type: e.type,
  schemaVersion: e.schemaVersion,
  data: e.data,
  metadata: e.metadata,
  recordedAt: e.recordedAt,
});

export interface ImportResult {
  streams: number;
  imported: number;
  alreadyThere: number;
}

/**
 * Imports an export into the tenant: each stream is created (with a key of its own for personal
 * data, owned by the same user) or, if it is there, continued after its last version. Events
 * already there are recognised by id, so importing the same file again changes nothing; a stream
 * that holds other events at the same versions is a conflict and nothing of it is written.
 */
export async function importStreams(db: Db, tenantId: string, file: string): Promise<ImportResult> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`Cannot read ${file}: ${(error as Error).message}`, 2);
  }
  const lines = text.split('\n').filter((line) => line.trim());
  const parsed = lines.map((line, index) => {
    const where = `${file}:${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new CliError(`${where} is not JSON`, 2);
    }
    const schema = index === 0 ? Header : z.discriminatedUnion('kind', [StreamLine, EventLine]);
    const result = schema.safeParse(value);
    if (!result.success)
      throw new CliError(
        `${where} is not a line of a Parley export: ${result.error.issues.map((i) => `${i.path.join('.') || 'line'}: ${i.message}`).join('; ')}`,
        2,
      );
    return result.data;
  });
  if (!parsed.length) throw new CliError(`${file} is empty`, 2);
  const streams = new Map<string, { line: z.infer<typeof StreamLine>; events: z.infer<typeof EventLine>[] }>();
  for (const line of parsed.slice(1)) {
    if (line.kind === 'stream') streams.set(line.streamId, { line, events: [] });
    else if (line.kind === 'event') {
      const stream = streams.get(line.streamId);
      if (!stream) throw new CliError(`Event ${line.eventId} comes before its stream line ${line.streamId}`, 2);
      if (!(line.type in EventSchemas)) throw new CliError(`Event ${line.eventId} has unknown type ${line.type}`, 2);
      if (line.schemaVersion !== EVENT_SCHEMA_VERSIONS[line.type as EventType])
        throw new CliError(
          `Event ${line.eventId} is ${line.type} v${line.schemaVersion}; this Parley reads v${EVENT_SCHEMA_VERSIONS[line.type as EventType]}`,
          2,
        );
      const data = EventSchemas[line.type as EventType].safeParse(line.data);
      if (!data.success) throw new CliError(`Event ${line.eventId} (${line.type}) has invalid data: ${data.error.issues[0].message}`, 2);
      if (line.version !== stream.events.length + 1)
        throw new CliError(`Stream ${line.streamId} jumps to version ${line.version} after ${stream.events.length}`, 2);
      stream.events.push(line);
    }
  }
  const store = new EventStore(db);
  const result: ImportResult = { streams: 0, imported: 0, alreadyThere: 0 };
  for (const [streamId, { line, events }] of streams) {
    const info = await store.streamInfo(streamId);
    if (info && info.tenantId !== tenantId)
      throw new CliError(`Stream ${streamId} belongs to another tenant here; nothing of it was imported`);
    if (info?.erased) throw new CliError(`Stream ${streamId} was erased here; it is not brought back`);
    const present = info ? await store.readStream(streamId, { upTo: events.length }) : [];
    const clash = present.find((e, i) => e.eventId !== events[i]?.eventId);
    if (clash)
      throw new CliError(
        `Stream ${streamId} already holds other events (v${clash.version} is ${clash.eventId}); nothing of it was imported`,
      );
    const missing = events.slice(present.length);
    result.streams++;
    result.alreadyThere += present.length;
    if (!missing.length) continue;
    const toAppend = missing.map(
      (e) => ({ eventId: e.eventId, type: e.type, data: e.data, metadata: { ...e.metadata, tenantId } }) as NewEvent,
    );
    await store.append(streamId, tenantId, toAppend, present.length === 0 ? 'no_stream' : present.length, {
      ...(present.length === 0 && (line.userId !== null || streamId.startsWith('session-')) ? { newKey: { userId: line.userId } } : {}),
      recordedAt: missing.map((e) => e.recordedAt),
    });
    if (line.closed) await store.markClosed(streamId);
    result.imported += missing.length;
  }
  // imported answers were not answered here, so they were not counted as recorded: count the tenant again
  if (result.imported) await recountUsage(db, tenantId);
  return result;
}
