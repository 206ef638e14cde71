import { isSessionStream, type ResolvedTenantSettings, type RoutingPolicy } from '@parley/contracts';
import { contextTokens, recordedTurns, turnContext, type RecordedTurn } from '@parley/conversation';
import { EventStore, KnowledgeBaseRepository, streamsActiveSince, TenantDirectory, type Db } from '@parley/event-store';
import { FaqMatcher, type SentenceEncoder } from '@parley/knowledge';
import { CliError } from '../cli-error';
import { style } from '../output';
import { entriesOf } from './kb.command';
import { definedOnly, kbOf, Router } from './rerun.command';

export interface WhatIfOptions {
  tenantId: string;
  since: Date;
  /** Conversations read at most (the oldest activity first). */
  limit: number;
  defaults: ResolvedTenantSettings;
  /** The settings to try instead of the tenant's. */
  overrides: { routingPolicy?: RoutingPolicy; faqThreshold?: number };
  /** A knowledge base to try instead of the one each turn was routed with: a version, `latest`, or a file (not imported). */
  kb?: { version: number | 'latest' } | { file: string; answers?: string };
  /** The responder's system prompt, to estimate the tokens of turns that would go to the LLM. */
  systemPrompt: string;
  json: boolean;
  note: (text: string) => void;
  /** Called as conversations are done (a progress line on a terminal). */
  progress?: (done: number, total: number) => void;
  /** The sentence encoder the services' matchers take (`PARLEY_MATCHER=encoder`), if they do. */
  encoder?: SentenceEncoder | null;
}

type Change = 'faq→llm' | 'llm→faq' | 'another answer' | 'another mode' | 'another reason';

interface Decision {
  mode: string;
  route: string;
  reason: string;
  intent: unknown;
}

interface Changed {
  streamId: string;
  turn: number;
  text: string;
  change: Change;
  recorded: Decision;
  whatIf: Decision;
  /** The user's next turn said the knowledge base's answer had not helped (`faq-did-not-help`). */
  didNotHelp: boolean;
}

/**
 * `parley routing what-if`: how the tenant's recent traffic would have been routed with another
 * FAQ threshold, routing policy or knowledge base. Every routed turn since `since` — in sessions
 * and without — is decided again by today's router (the services' own `routeMessage`), on the
 * history as it happened, and compared with the decision the log recorded. Nothing is written and
 * no LLM is called: it says how many answers would move between the knowledge base and the LLM, or
 * to another knowledge-base answer, and which; what becomes of the answers a user said had not
 * helped; and the LLM tokens that would be saved (recorded) or added (estimated).
 */
export async function whatIf(db: Db, options: WhatIfOptions): Promise<{ output: string; changed: number }> {
  const store = new EventStore(db);
  const knowledge = new KnowledgeBaseRepository(db);
  const tenantSettings = await new TenantDirectory(db, options.defaults, 0).settings(options.tenantId);
  const settings = { ...tenantSettings, ...definedOnly(options.overrides) };
  let tried: number | undefined;
  let fromFile: FaqMatcher | undefined;
  let kbLabel = 'each turn’s own knowledge base version';
  if (options.kb && 'version' in options.kb) {
    const kb =
      options.kb.version === 'latest'
        ? await knowledge.latest(options.tenantId)
        : await knowledge.get(options.tenantId, options.kb.version);
    if (!kb)
      throw new CliError(
        options.kb.version === 'latest'
          ? `Tenant ${options.tenantId} has no knowledge base`
          : `Tenant ${options.tenantId} has no knowledge base version ${options.kb.version}`,
      );
    tried = kb.version;
    kbLabel = `knowledge base v${kb.version}`;
  } else if (options.kb) {
    const entries = entriesOf(options.kb);
    options.note(`training the FAQ matcher of ${options.kb.file} (${entries.length} intents)...`);
    fromFile = options.encoder ? await FaqMatcher.trainWithEncoder(0, entries, options.encoder) : FaqMatcher.train(0, entries);
    kbLabel = `the knowledge base in ${options.kb.file} (not imported)`;
  }
  const router = new Router(knowledge, options.tenantId, settings, options.note, fromFile, options.encoder);

  const streams = await streamsActiveSince(db, options.tenantId, options.since, options.limit);
  const changed: Changed[] = [];
  const counts: Record<Change | 'same', number> = {
    same: 0,
    'faq→llm': 0,
    'llm→faq': 0,
    'another answer': 0,
    'another mode': 0,
    'another reason': 0,
  };
  const tokens = { saved: 0, added: 0 };
  const completions: number[] = []; // of the LLM turns seen: the estimate of what a new one would write
  let turns = 0;
  let didNotHelp = 0;
  for (const [index, streamId] of streams.entries()) {
    const recorded = recordedTurns(await store.readStream(streamId));
    for (const [i, turn] of recorded.entries()) {
      if (!turn.routed) continue;
      const usage = turn.outcome?.type === 'AssistantReplied' ? turn.outcome.data.usage : undefined;
      if (usage) completions.push(usage.completionTokens);
      if (Date.parse(turn.message.recordedAt) < options.since.getTime()) continue;
      turns++;
      const before = turn.routed.data;
      const after = await router.decide(turn.message, turn.stateAtRouting, tried ?? kbOf(turn), isSessionStream(streamId));
      const was: Decision = { mode: before.mode, route: before.route, reason: before.reason, intent: before.features.intent ?? null };
      const now: Decision = { mode: after.mode, route: after.route, reason: after.reason, intent: after.features.intent ?? null };
      const unhelpful = was.route === 'faq' && recorded[i + 1]?.routed?.data.reason === 'faq-did-not-help';
      if (unhelpful) didNotHelp++;
      const change = changeOf(was, now);
      counts[change]++;
      if (change === 'llm→faq' && usage) tokens.saved += usage.promptTokens + usage.completionTokens;
      if (change === 'faq→llm') tokens.added += promptTokens(turn, now.mode, options.systemPrompt);
      if (change !== 'same')
        changed.push({
          streamId,
          turn: turn.number,
          text: turn.message.data.text,
          change,
          recorded: was,
          whatIf: now,
          didNotHelp: unhelpful,
        });
    }
    options.progress?.(index + 1, streams.length);
  }
  // a turn that would go to the LLM writes about what the tenant's LLM turns wrote
  const completion = completions.length ? Math.round(completions.reduce((a, b) => a + b, 0) / completions.length) : 0;
  tokens.added += counts['faq→llm'] * completion;

  const setting = `policy ${settings.routingPolicy}, FAQ threshold ${settings.faqThreshold}, ${kbLabel}`;
  const unhelpfulChanged = changed.filter((c) => c.didNotHelp);
  if (options.json) {
    const report = {
      tenantId: options.tenantId,
      since: options.since.toISOString(),
      settings: setting,
      conversations: streams.length,
      turns,
      counts,
      tokens,
      didNotHelp: { turns: didNotHelp, changed: unhelpfulChanged.length },
      changed,
    };
    return { output: JSON.stringify(report, null, 2), changed: changed.length };
  }
  const pct = (n: number) => (turns ? `${((100 * n) / turns).toFixed(1)}%` : '-');
  const row = (name: string, n: number) => `  ${name.padEnd(36)}${String(n).padStart(7)}  ${pct(n)}`;
  const lines = [
    style.bold(`What if tenant ${options.tenantId} had routed with ${setting}`),
    style.dim(
      `${turns} routed turns in ${streams.length} conversations since ${options.since.toISOString()}, each decided again on the history as it happened (nothing written, no LLM called)`,
    ),
    '',
    row('unchanged', counts.same),
    row('knowledge base → LLM', counts['faq→llm']),
    row('LLM → knowledge base', counts['llm→faq']),
    row('another knowledge-base answer', counts['another answer']),
    row('another mode (stateful / stateless)', counts['another mode']),
    row('the same, for another reason', counts['another reason']),
    '',
    `  knowledge-base answers the user then said had not helped: ${didNotHelp}, of which ${unhelpfulChanged.length} would change`,
    `  LLM tokens: ${tokens.saved} saved (as recorded), ${tokens.added} added (estimated: the context, and ${completion} written a turn)`,
  ];
  const shown = changed.filter((c) => c.change !== 'another reason').slice(0, 20);
  if (shown.length) {
    lines.push('', style.bold(`Answers that would change${changed.length > shown.length ? ` (the first ${shown.length})` : ''}:`));
    const describe = (d: Decision) =>
      `${d.mode} via ${d.route}${d.route === 'faq' && d.intent ? ` (${String(d.intent)})` : ''} [${d.reason}]`;
    for (const c of shown) {
      const text = c.text.length > 80 ? `${c.text.slice(0, 77)}...` : c.text;
      lines.push(
        `  ${c.streamId} turn ${c.turn} ${JSON.stringify(text)}${c.didNotHelp ? style.yellow('  (the user said it had not helped)') : ''}`,
        `      ${style.dim(describe(c.recorded))} → ${describe(c.whatIf)}`,
      );
    }
  }
  return { output: lines.join('\n'), changed: changed.length };
}

function changeOf(was: Decision, now: Decision): Change | 'same' {
  if (was.route !== now.route) return was.route === 'faq' ? 'faq→llm' : 'llm→faq';
  if (was.route === 'faq' && was.intent !== now.intent) return 'another answer';
  if (was.mode !== now.mode) return 'another mode';
  if (was.reason !== now.reason) return 'another reason';
  return 'same';
}

/** The prompt a turn now sent to the LLM would have: its context as the responder would build it (without the user's memory). */
function promptTokens(turn: RecordedTurn, mode: string, systemPrompt: string): number {
  return contextTokens(
    turnContext({
      mode: mode as 'stateful' | 'stateless',
      message: turn.message.data,
      state: turn.stateAtRouting,
      systemPrompt,
      memory: null,
    }),
  );
}
