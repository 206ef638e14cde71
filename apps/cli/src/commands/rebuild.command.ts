import { openDatabase } from '../connections';
import { rebuildSessionProjections, type RebuildProgress } from '@parley/event-store';

/** Progress on a terminal's stderr: count, rate and time left; nothing when piped. */
function progressPrinter(startedAt: number): (progress: RebuildProgress) => void {
  if (!process.stderr.isTTY) return () => undefined;
  return ({ events, total }) => {
    const seconds = (performance.now() - startedAt) / 1000;
    const rate = events / Math.max(seconds, 1e-3);
    const left = Math.max(total - events, 0) / Math.max(rate, 1);
    const width = 30;
    const done = total ? Math.round((events / total) * width) : width;
    process.stderr.write(
      `\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${events.toLocaleString('en')}/${total.toLocaleString('en')} events  ${Math.round(rate).toLocaleString('en')}/s  ETA ${left.toFixed(1)} s `,
    );
  };
}

/** Drops and rebuilds every read model from the log. */
export async function rebuild(databaseUrl: string, json: boolean): Promise<string> {
  const database = await openDatabase(databaseUrl, { max: 1 });
  try {
    const result = await rebuildSessionProjections(database.db, progressPrinter(performance.now()));
    if (process.stderr.isTTY) process.stderr.write('\n');
    const rate = Math.round(result.events / Math.max(result.seconds, 1e-3));
    if (json) return JSON.stringify({ ...result, eventsPerSecond: rate });
    return `Rebuilt ${result.sessions} session read models from ${result.events} events in ${result.seconds.toFixed(2)} s (${rate.toLocaleString('en')} events/s)`;
  } finally {
    await database.close();
  }
}
