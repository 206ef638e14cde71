import { isSessionStream, type ResolvedTenantSettings, type RoutingPolicy } from '@parley/contracts';
import { recordedTurns } from '@parley/conversation';
import { EventStore, KnowledgeBaseRepository, streamsActiveSince, TenantDirectory, type Db } from '@parley/event-store';
import { CliError } from '../cli-error';
import { style } from '../output';
import { definedOnly, kbOf, Router } from './rerun.command';

export interface WhatIfOptions {
  tenantId: string;
  since: Date;
  /** Conversations read at most (the oldest activity first). */
  limit: number;
  defaults: ResolvedTenantSettings;
  /** The settings to try instead of the tenant's. */
  overrides: { routingPolicy?: RoutingPolicy; faqThreshold?: number };
  /** A knowledge base version to try (`latest`: the newest), instead of the one each turn was routed with. */
  kbVersion?: number | 'latest';
  json: boolean;
  note: (text: string) => void;
}

type Change = 'faq→llm' | 'llm→faq' | 'another answer' | 'another mode' | 'another reason';

interface Changed {
  streamId: string;
  turn: number;
  text: string;
  change: Change;
  recorded: { mode: string; route: string; reason: string; intent: unknown };
  whatIf: { mode: string; route: string; reason: string; intent: unknown };
}

/**
 * `parley whatif`: how the tenant's recent traffic would have been routed with another FAQ
 * threshold, routing policy or knowledge base version. Every routed turn since `since` — in
 * sessions and without — is decided again by today's router (the services' own `routeMessage`),
 * on the history as it happened, and compared with the decision the log recorded. Nothing is
 * written and no LLM is called: it says how many answers would move between the knowledge base
 * and the LLM, or to another knowledge-base answer, and which.
 */
export async function whatIf(db: Db, options: WhatIfOptions): Promise<{ output: string; changed: number }> {
  const store = new EventStore(db);
  const tenantSettings = await new TenantDirectory(db, options.defaults, 0).settings(options.tenantId);
  const settings = { ...tenantSettings, ...definedOnly(options.overrides) };
  const kb = options.kbVersion === 'latest' ? await new KnowledgeBaseRepository(db).latest(options.tenantId) : null;
  if (options.kbVersion === 'latest' && !kb) throw new CliError(`Tenant ${options.tenantId} has no knowledge base`);
  const tried = options.kbVersion === undefined ? undefined : (kb?.version ?? (options.kbVersion as number));
  const router = new Router(new KnowledgeBaseRepository(db), options.tenantId, settings, options.note);

  const streams = await streamsActiveSince(db, options.tenantId, options.since, options.limit);
  const changed: Changed[] = [];
  const counts: Record<Change | 'same', number> = { same: 0, 'faq→llm': 0, 'llm→faq': 0, 'another answer': 0, 'another mode': 0, 'another reason': 0 };
  let turns = 0;
  for (const streamId of streams) {
    const events = await store.readStream(streamId);
    for (const turn of recordedTurns(events)) {
      if (!turn.routed || Date.parse(turn.message.recordedAt) < options.since.getTime()) continue;
      turns++;
      const before = turn.routed.data;
      const after = await router.decide(turn.message, turn.stateAtRouting, tried ?? kbOf(turn), isSessionStream(streamId));
      const recorded = { mode: before.mode, route: before.route, reason: before.reason, intent: before.features.intent ?? null };
      const whatIf = { mode: after.mode, route: after.route, reason: after.reason, intent: after.features.intent ?? null };
      const change: Change | 'same' =
        recorded.route !== whatIf.route
          ? recorded.route === 'faq'
            ? 'faq→llm'
            : 'llm→faq'
          : recorded.route === 'faq' && recorded.intent !== whatIf.intent
            ? 'another answer'
            : recorded.mode !== whatIf.mode
              ? 'another mode'
              : recorded.reason !== whatIf.reason
                ? 'another reason'
                : 'same';
      counts[change]++;
      if (change !== 'same') changed.push({ streamId, turn: turn.number, text: turn.message.data.text, change, recorded, whatIf });
    }
  }

  const setting = `policy ${settings.routingPolicy}, FAQ threshold ${settings.faqThreshold}${tried === undefined ? ', each turn’s own knowledge base version' : `, knowledge base v${tried}`}`;
  if (options.json) {
    return { output: JSON.stringify({ tenantId: options.tenantId, since: options.since.toISOString(), settings: setting, conversations: streams.length, turns, counts, changed }, null, 2), changed: changed.length };
  }
  const pct = (n: number) => (turns ? `${((100 * n) / turns).toFixed(1)}%` : '-');
  const lines = [
    style.bold(`What if tenant ${options.tenantId} had routed with ${setting}`),
    style.dim(`${turns} routed turns in ${streams.length} conversations since ${options.since.toISOString()}, each decided again on the history as it happened (nothing written, no LLM called)`),
    '',
    `  unchanged                        ${String(counts.same).padStart(6)}  ${pct(counts.same)}`,
    `  knowledge base → LLM             ${String(counts['faq→llm']).padStart(6)}  ${pct(counts['faq→llm'])}`,
    `  LLM → knowledge base             ${String(counts['llm→faq']).padStart(6)}  ${pct(counts['llm→faq'])}`,
    `  another knowledge-base answer    ${String(counts['another answer']).padStart(6)}  ${pct(counts['another answer'])}`,
    `  another mode (stateful/stateless)${String(counts['another mode']).padStart(6)}  ${pct(counts['another mode'])}`,
    `  the same, for another reason     ${String(counts['another reason']).padStart(6)}  ${pct(counts['another reason'])}`,
  ];
  const shown = changed.filter((c) => c.change !== 'another reason').slice(0, 20);
  if (shown.length) {
    lines.push('', style.bold(`Answers that would change${changed.length > shown.length ? ` (the first ${shown.length})` : ''}:`));
    const describe = (r: Changed['recorded']) => `${r.mode} via ${r.route}${r.route === 'faq' && r.intent ? ` (${String(r.intent)})` : ''} [${r.reason}]`;
    for (const c of shown) {
      const text = c.text.length > 80 ? `${c.text.slice(0, 77)}...` : c.text;
      lines.push(`  ${c.streamId} turn ${c.turn} ${JSON.stringify(text)}`, `      ${style.dim(describe(c.recorded))} → ${describe(c.whatIf)}`);
    }
  }
  return { output: lines.join('\n'), changed: changed.length };
}
