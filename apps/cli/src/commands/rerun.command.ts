import { randomUUID } from 'node:crypto';
import type { ClientMessage, EventType, NewEvent, RecordedEvent, ResolvedTenantSettings, RoutingPolicy } from '@parley/contracts';
import {
  evolveSession,
  foldSession,
  recordedTurns,
  routeMessage,
  routingTexts,
  turnContext,
  type RecordedTurn,
  type RouteDecision,
  type SessionState,
} from '@parley/conversation';
import {
  EventStore,
  KnowledgeBaseRepository,
  memoryBefore,
  rebuildContext,
  sessionEvents,
  TenantDirectory,
  type Db,
} from '@parley/event-store';
import { deserializeMatcher, FaqMatcher, matcherFormat, type SentenceEncoder } from '@parley/knowledge';
import type { Llm } from '@parley/llm';
import { CliError } from '../cli-error';
import { style } from '../output';
import { readingSession } from './session-errors';

export interface RerunOptions {
  sessionId: string;
  tenantId: string;
  /** First turn to rerun (1-based). */
  fromTurn: number;
  /** Deployment defaults, for what the tenant does not set. */
  defaults: ResolvedTenantSettings;
  /** Try other routing settings than the tenant's. */
  overrides: { routingPolicy?: RoutingPolicy; faqThreshold?: number };
  /** The responder's system prompt (PARLEY_SYSTEM_PROMPT). */
  systemPrompt: string;
  json: boolean;
  /** `--live`: answer with this LLM (`model` when `--model` names one) instead of the log, optionally with another system prompt. */
  live?: { llm: Llm; prompt?: string; model?: string };
  /** Progress notes (training a matcher takes seconds). */
  note: (text: string) => void;
  /** The sentence encoder the services' matchers take (`PARLEY_MATCHER=encoder`), if they do. */
  encoder?: SentenceEncoder | null;
}

interface Route {
  mode: string;
  route: string;
  reason: string;
}

const sameRoute = (a: Route, b: Route) => a.mode === b.mode && a.route === b.route && a.reason === b.reason;
const describeRoute = (r: Route) => `${r.mode} via ${r.route} (${r.reason})`;
const quote = (text: string) => JSON.stringify(text.length > 160 ? `${text.slice(0, 157)}...` : text);

/** The router as it runs today, fed what the router saw then: the tenant's settings, its knowledge base version, the session. */
export class Router {
  private readonly matchers = new Map<number, Promise<FaqMatcher | null>>();

  constructor(
    private readonly knowledge: KnowledgeBaseRepository,
    private readonly tenantId: string,
    private readonly settings: ResolvedTenantSettings,
    private readonly note: (text: string) => void,
    /** A matcher to route every turn with instead (a knowledge base from a file, not imported). */
    private readonly only?: FaqMatcher,
    /** The sentence encoder the services' matchers take, if they do (`PARLEY_MATCHER=encoder`). */
    private readonly encoder: SentenceEncoder | null = null,
  ) {}

  private matcher(version: number | null): Promise<FaqMatcher | null> {
    if (this.only) return Promise.resolve(this.only);
    const key = version ?? 0;
    if (!this.matchers.has(key)) {
      this.matchers.set(
        key,
        (async () => {
          const kb = version === null ? await this.knowledge.latest(this.tenantId) : await this.knowledge.get(this.tenantId, version);
          if (!kb) return null;
          // the model the services trained and stored for this version, when there is one in today's format
          const stored = await this.knowledge.model(this.tenantId, kb.version, matcherFormat(this.encoder?.name));
          if (stored) {
            try {
              const matcher = FaqMatcher.fromData(deserializeMatcher(stored));
              this.note(`using the FAQ matcher of knowledge base v${kb.version} the services trained`);
              return matcher;
            } catch {
              // unreadable: trained again below
            }
          }
          this.note(`training the FAQ matcher of knowledge base v${kb.version} (${kb.entries.length} intents)...`);
          return this.encoder
            ? FaqMatcher.trainWithEncoder(kb.version, kb.entries, this.encoder)
            : FaqMatcher.train(kb.version, kb.entries);
        })(),
      );
    }
    return this.matchers.get(key)!;
  }

  /** The decision for a turn (the services' own `routeMessage`); `recordedKb` is the knowledge base version it was routed with, if any. */
  async decide(
    message: RecordedEvent<'UserMessageReceived'>,
    state: SessionState,
    recordedKb: number | null,
    inSession = true,
  ): Promise<RouteDecision & { answer: string | null }> {
    const { routingPolicy: policy, faqThreshold: threshold } = this.settings;
    const trained = await this.matcher(recordedKb);
    const matcher = trained && (await trained.prepared(routingTexts(message.data, state), this.encoder));
    const routing = routeMessage({ message: message.data, inSession, policy, threshold, matcher, state });
    if (routing.kind !== 'routed') throw new Error('routing with the session state cannot need it');
    return { ...routing.decision, answer: routing.match?.answer ?? null };
  }
}

/**
 * `parley rerun`: today's router and context-building code over a session's recorded turns. By
 * default the answers come from the log, so it is deterministic: every routing decision and every
 * LLM context (checked against the fingerprint recorded with the reply) must come out as recorded,
 * else the divergence is shown and the exit code is 1 — a regression test on a real conversation.
 * `--live` answers with the configured LLM instead, carrying the new answers forward, and shows
 * the recorded and the what-if conversation side by side. Nothing is written anywhere.
 */
export async function rerun(db: Db, options: RerunOptions): Promise<{ output: string; diverged: boolean }> {
  const store = new EventStore(db);
  const events = await readingSession(options, () => sessionEvents(store, options.sessionId, options.tenantId));
  const turns = recordedTurns(events);
  if (!turns.length) throw new CliError(`Session ${options.sessionId} has no turns to rerun`);
  if (options.fromTurn > turns.length) throw new CliError(`--from-turn ${options.fromTurn}: the session has ${turns.length} turns`, 2);
  const tenantSettings = await new TenantDirectory(db, options.defaults, 0).settings(options.tenantId);
  const settings = { ...tenantSettings, ...definedOnly(options.overrides) };
  const router = new Router(new KnowledgeBaseRepository(db), options.tenantId, settings, options.note, undefined, options.encoder);
  const chosen = turns.filter((t) => t.number >= options.fromTurn);
  const setting = `policy ${settings.routingPolicy}, FAQ threshold ${settings.faqThreshold}`;
  return options.live ? live(store, events, chosen, router, options, setting) : replayCheck(store, chosen, router, options, setting);
}

export const definedOnly = <T extends object>(value: T): Partial<T> =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
export const kbOf = (turn: RecordedTurn) =>
  typeof turn.routed?.data.features.kbVersion === 'number' ? turn.routed.data.features.kbVersion : null;

async function replayCheck(store: EventStore, turns: RecordedTurn[], router: Router, options: RerunOptions, setting: string) {
  const results = [];
  for (const turn of turns) {
    if (!turn.routed) {
      results.push({
        turn: turn.number,
        turnId: turn.turnId,
        text: turn.message.data.text,
        ok: true,
        skipped: 'not routed in the log',
        divergences: [] as string[],
      });
      continue;
    }
    const decision = await router.decide(turn.message, turn.stateAtRouting, kbOf(turn));
    const divergences: string[] = [];
    if (!sameRoute(decision, turn.routed.data))
      divergences.push(`route: recorded ${describeRoute(turn.routed.data)}, now ${describeRoute(decision)}`);
    let context: { checked: boolean; messages: number; tokens: number } | null = null;
    if (!divergences.length && decision.route === 'llm') {
      const rebuilt = await rebuildContext(store, turn, options.systemPrompt);
      if (rebuilt) {
        context = { checked: rebuilt.recorded !== null, messages: rebuilt.messages.length, tokens: rebuilt.tokens };
        if (rebuilt.recorded !== null && rebuilt.recorded !== rebuilt.digest) {
          divergences.push(
            `context: ${rebuilt.messages.length} messages (${rebuilt.tokens} tokens) rebuilt today differ from what the LLM was given:`,
          );
          for (const m of rebuilt.messages) divergences.push(`    ${m.role.padEnd(9)} ${quote(m.content ?? '')}`);
        }
      }
    }
    results.push({
      turn: turn.number,
      turnId: turn.turnId,
      text: turn.message.data.text,
      ok: !divergences.length,
      route: decision,
      context,
      divergences,
    });
  }
  const diverged = results.filter((r) => !r.ok);
  if (options.json)
    return {
      output: JSON.stringify({ sessionId: options.sessionId, settings: setting, turns: results, diverged: diverged.length }, null, 2),
      diverged: diverged.length > 0,
    };
  const lines = [
    style.bold(
      `Rerun of session ${options.sessionId}, turns ${turns[0].number}–${turns.at(-1)!.number}, answers from the log (${setting})`,
    ),
    '',
  ];
  for (const r of results) {
    const head = `${r.ok ? style.green('✓') : style.red('✗')} turn ${r.turn} ${quote(r.text)}`;
    if ('skipped' in r && r.skipped) lines.push(`${style.dim('-')} turn ${r.turn} ${quote(r.text)}  ${style.dim(r.skipped)}`);
    else if (r.ok) {
      const ctx = r.context
        ? r.context.checked
          ? `, context ✓ (${r.context.messages} messages)`
          : `, context not checked (no fingerprint recorded)`
        : '';
      lines.push(`${head}  ${style.dim(`${describeRoute(r.route!)}${ctx}`)}`);
    } else lines.push(head, ...r.divergences.map((d) => `    ${style.red(d)}`));
  }
  lines.push(
    '',
    diverged.length
      ? style.red(`${diverged.length} of ${results.length} turns diverge from the log.`)
      : style.green(`All ${results.length} turns route and build their contexts as recorded.`),
  );
  return { output: lines.join('\n'), diverged: diverged.length > 0 };
}

/** Builds events that never touch the log: the what-if conversation lives in memory only. */
function synthetic<T extends EventType>(type: T, data: NewEvent<T>['data'], like: RecordedEvent, version: number): RecordedEvent {
  return {
    eventId: randomUUID(),
    type,
    data,
    metadata: like.metadata,
    streamId: like.streamId,
    version,
    globalPosition: like.globalPosition,
    recordedAt: new Date().toISOString(),
    schemaVersion: 1,
  } as RecordedEvent;
}

async function live(
  store: EventStore,
  events: RecordedEvent[],
  turns: RecordedTurn[],
  router: Router,
  options: RerunOptions,
  setting: string,
) {
  const { llm, prompt, model } = options.live!;
  const systemPrompt = prompt ?? options.systemPrompt;
  // the what-if session starts as the recorded one stood before the first rerun turn
  let whatIf = foldSession(events.filter((e) => e.version < turns[0].message.version));
  let version = whatIf.version;
  const rows = [];
  for (const turn of turns) {
    whatIf = { state: evolveSession(whatIf.state, turn.message), version: ++version };
    const decision = await router.decide(turn.message, whatIf.state, kbOf(turn));
    let reply: string;
    let context: ClientMessage[] = [];
    if (decision.route === 'faq') reply = decision.answer ?? '';
    else {
      const userId = whatIf.state.status === 'open' ? whatIf.state.userId : null;
      const memory =
        userId && decision.mode === 'stateful' ? await memoryBefore(store, options.tenantId, userId, turn.message.globalPosition) : null;
      context = turnContext({ mode: decision.mode, message: turn.message.data, state: whatIf.state, systemPrompt, memory });
      // what the client asked of the model then, but the model `--model` names
      const asked = turn.message.data.generation;
      const generation = asked && model ? { ...asked, model } : asked;
      const answered = await llm.complete({ messages: context, tools: turn.message.data.tools, options: generation, purpose: 'rerun' });
      reply = answered.text || JSON.stringify(answered.toolCalls);
    }
    const { answer: _answer, ...routed } = decision;
    whatIf = {
      state: evolveSession(whatIf.state, synthetic('TurnRouted', { turnId: turn.turnId, ...routed }, turn.message, ++version)),
      version,
    };
    const replied = {
      turnId: turn.turnId,
      text: reply,
      model: 'rerun',
      usage: null,
      latencyMs: 0,
      contextMessages: context.length,
      interrupted: null,
    };
    whatIf = { state: evolveSession(whatIf.state, synthetic('AssistantReplied', replied, turn.message, ++version)), version };
    const recordedReply =
      turn.outcome?.type === 'AssistantReplied'
        ? turn.outcome.data.text
        : turn.outcome?.type === 'TurnFailed'
          ? `[failed: ${turn.outcome.data.code}]`
          : '[no answer]';
    rows.push({
      turn: turn.number,
      text: turn.message.data.text,
      recorded: {
        route: turn.routed ? { mode: turn.routed.data.mode, route: turn.routed.data.route, reason: turn.routed.data.reason } : null,
        reply: recordedReply,
      },
      whatIf: { route: { mode: decision.mode, route: decision.route, reason: decision.reason }, reply, contextMessages: context.length },
    });
  }
  if (options.json)
    return {
      output: JSON.stringify({ sessionId: options.sessionId, settings: setting, systemPrompt, turns: rows }, null, 2),
      diverged: false,
    };
  const lines = [style.bold(`What-if rerun of session ${options.sessionId} with the live LLM (${setting}; nothing is written)`), ''];
  for (const row of rows) {
    const routeChanged = !row.recorded.route || !sameRoute(row.recorded.route, row.whatIf.route);
    const replyChanged = row.recorded.reply !== row.whatIf.reply;
    lines.push(style.bold(`turn ${row.turn}`) + `  user: ${quote(row.text)}`);
    lines.push(`  ${'route'.padEnd(7)} recorded: ${row.recorded.route ? describeRoute(row.recorded.route) : '-'}`);
    lines.push(
      `  ${''.padEnd(7)} what-if:  ${(routeChanged ? style.yellow : style.dim)(describeRoute(row.whatIf.route))}${routeChanged ? style.yellow('  ← changed') : ''}`,
    );
    lines.push(`  ${'reply'.padEnd(7)} recorded: ${quote(row.recorded.reply)}`);
    lines.push(
      `  ${''.padEnd(7)} what-if:  ${(replyChanged ? style.yellow : style.dim)(quote(row.whatIf.reply))}${replyChanged ? style.yellow('  ← changed') : ''}`,
    );
  }
  const changed = rows.filter((r) => r.recorded.reply !== r.whatIf.reply).length;
  lines.push('', `${changed} of ${rows.length} replies differ from the recorded conversation.`);
  return { output: lines.join('\n'), diverged: false };
}
