import { foldSession } from '@parley/conversation';
import { normalizeSessionId, sessionEvents, type EventStore } from '@parley/event-store';
import { CliError } from '../cli-error';
import { style } from '../output';
import { readingSession } from './session-errors';

export interface Change {
  /** JSON path, e.g. `messages[2].text`. */
  path: string;
  kind: 'added' | 'removed' | 'changed';
  before?: unknown;
  after?: unknown;
}

/** Structural differences between two JSON values, by path. */
export function diffJson(before: unknown, after: unknown, path = ''): Change[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (Array.isArray(before) && Array.isArray(after)) {
    const changes: Change[] = [];
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      const at = `${path}[${i}]`;
      if (i >= before.length) changes.push({ path: at, kind: 'added', after: after[i] });
      else if (i >= after.length) changes.push({ path: at, kind: 'removed', before: before[i] });
      else changes.push(...diffJson(before[i], after[i], at));
    }
    return changes;
  }
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((key) => {
      const at = path ? `${path}.${key}` : key;
      if (!(key in before)) return [{ path: at, kind: 'added' as const, after: after[key] }];
      if (!(key in after)) return [{ path: at, kind: 'removed' as const, before: before[key] }];
      return diffJson(before[key], after[key], at);
    });
  }
  return [{ path: path || '(state)', kind: 'changed', before, after }];
}

/** What changed in a session's state between two stream versions. */
export async function diff(
  store: EventStore,
  options: { sessionId: string; tenantId: string; from: number; to: number; json: boolean },
): Promise<string> {
  const sessionId = normalizeSessionId(options.sessionId);
  const events = await readingSession(options, () => sessionEvents(store, sessionId, options.tenantId));
  const latest = events[events.length - 1].version;
  for (const [name, v] of [
    ['--from', options.from],
    ['--to', options.to],
  ] as const) {
    if (v < 0 || v > latest) throw new CliError(`${name} ${v} is outside session ${sessionId}, which has versions 0 to ${latest}`, 2);
  }
  if (options.from > options.to) throw new CliError(`--from (${options.from}) must not be after --to (${options.to})`, 2);
  const at = (v: number) => foldSession(events.filter((e) => e.version <= v)).state;
  const changes = diffJson(at(options.from), at(options.to));
  const between = events.filter((e) => e.version > options.from && e.version <= options.to).map((e) => `v${e.version} ${e.type}`);
  if (options.json) return JSON.stringify({ sessionId, from: options.from, to: options.to, events: between, changes }, null, 2);
  const show = (v: unknown) => JSON.stringify(v)?.slice(0, 160);
  return [
    style.bold(`Session ${sessionId}: v${options.from} → v${options.to}`) + style.dim(`  (${between.join(', ') || 'no events'})`),
    ...(changes.length === 0 ? ['  no change'] : []),
    ...changes.map((c) =>
      c.kind === 'added'
        ? style.green(`  + ${c.path} = ${show(c.after)}`)
        : c.kind === 'removed'
          ? style.red(`  - ${c.path} (was ${show(c.before)})`)
          : style.yellow(`  ~ ${c.path}: ${show(c.before)} → ${show(c.after)}`),
    ),
  ].join('\n');
}
