import { openDatabase } from '../connections';
import { listSessions } from '@parley/event-store';
import { CliError } from '../cli-error';
import { style } from '../output';

export interface SessionsOptions {
  tenantId: string;
  userId?: string;
  /** ISO time or a duration back from now (`30m`, `2h`, `7d`). */
  since?: string;
  limit: number;
  json: boolean;
}

/** `30m`, `2h`, `7d`, or an ISO time → an absolute time. */
export function parseSince(value: string, now = Date.now()): Date {
  const relative = /^(\d+)([smhd])$/.exec(value);
  if (relative) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(relative[1]) * unit);
  }
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new CliError(`--since must be an ISO time or a duration like 30m, 2h, 7d; got "${value}"`, 2);
  return new Date(time);
}

/** Finds conversations: most recently active first (`listSessions`, which the inspector page lists too). */
export async function sessions(databaseUrl: string, options: SessionsOptions): Promise<string> {
  const since = options.since ? parseSince(options.since) : undefined;
  const database = await openDatabase(databaseUrl, { max: 1 });
  try {
    const rows = await listSessions(database.db, { tenantId: options.tenantId, userId: options.userId, since, limit: options.limit });
    if (options.json) return JSON.stringify(rows, null, 2);
    if (rows.length === 0) return 'No sessions found.';
    return rows
      .map(
        (r) =>
          `${r.sessionId}  ${style.dim(r.lastActivityAt)}  ${String(r.turns).padStart(3)} turns  ${(r.userId ?? '-').padEnd(16)} ${
            r.status === 'live' ? style.green(r.status) : style.dim(r.status)
          }`,
      )
      .join('\n');
  } finally {
    await database.close();
  }
}
