import { sql } from 'drizzle-orm';
import { connectDatabase } from '@parley/event-store';
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

/** Finds conversations: most recently active first. */
export async function sessions(databaseUrl: string, options: SessionsOptions): Promise<string> {
  const since = options.since ? parseSince(options.since) : null;
  const database = await connectDatabase(databaseUrl, { max: 1 });
  try {
    const result = await database.db.execute(sql`
      select s.stream_id, s.user_id, s.version, s.created_at, s.updated_at, s.closed_at, s.erased_at,
             (select count(*)::int from events e where e.stream_id = s.stream_id and e.type = 'UserMessageReceived') as turns
      from streams s
      where s.tenant_id = ${options.tenantId} and s.stream_id like 'session-%'
        ${options.userId ? sql`and s.user_id = ${options.userId}` : sql``}
        ${since ? sql`and s.updated_at >= ${since.toISOString()}` : sql``}
      order by s.updated_at desc
      limit ${options.limit}`);
    const rows = (
      result.rows as {
        stream_id: string;
        user_id: string | null;
        version: number;
        turns: number;
        created_at: Date;
        updated_at: Date;
        closed_at: Date | null;
        erased_at: Date | null;
      }[]
    ).map((r) => ({
      sessionId: r.stream_id.slice('session-'.length),
      userId: r.user_id,
      turns: r.turns,
      version: r.version,
      startedAt: new Date(r.created_at).toISOString(),
      lastActivityAt: new Date(r.updated_at).toISOString(),
      status: r.erased_at ? 'erased' : r.closed_at ? 'expired' : 'live',
    }));
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
