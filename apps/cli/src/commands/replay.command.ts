import type { RecordedEvent } from '@parley/contracts';
import { foldSession, type SessionState } from '@parley/conversation';
import type { EventStore } from '@parley/event-store';
import { CliError } from '../cli-error';
import { normalizeSessionId, rebuildContext, recordedTurns, sessionEvents, type RebuiltContext, type RecordedTurn } from './turn-history';
import { style } from '../output';

export interface ReplayOptions {
  sessionId: string;
  /** Only sessions of this tenant are found. */
  tenantId: string;
  /** Show the state as of this stream version, or as of this time (ISO). */
  at?: number | Date;
  json: boolean;
  /** Show each LLM turn's context, message by message (otherwise one summary line). */
  context: boolean;
  /** The responder's system prompt (PARLEY_SYSTEM_PROMPT), to rebuild contexts with. */
  systemPrompt: string;
}

/** One turn of a replay: what the user said, how it was routed and why, what the LLM was given, the reply. */
export interface ReplayedTurn {
  number: number;
  turnId: string;
  text: string;
  route: { mode: string; route: string; reason: string; features: Record<string, unknown> } | null;
  context: (RebuiltContext & { matchesRecorded: boolean | null }) | null;
  reply: { text: string; model: string; interrupted: string | null; toolCalls: unknown[] } | null;
  failure: { code: string; message: string } | null;
  usage: { promptTokens: number; completionTokens: number } | null;
  /** LLM time as the responder measured it, and from the user's message to the outcome in the log. */
  timings: { llmMs: number | null; turnMs: number | null };
}

/** Reads the session's events, folds them with the same `evolve` the services use, and rebuilds each turn's context. */
export async function replay(store: EventStore, options: ReplayOptions): Promise<string> {
  const sessionId = normalizeSessionId(options.sessionId);
  const all = await sessionEvents(store, sessionId, options.tenantId);
  const latest = all[all.length - 1].version;
  const atTime = options.at instanceof Date ? options.at.getTime() : null;
  const at = atTime !== null ? (all.filter((e) => Date.parse(e.recordedAt) <= atTime).at(-1)?.version ?? 0) : (options.at as number | undefined);
  if (at !== undefined && (at < 1 || at > latest)) {
    const what = options.at instanceof Date ? `${options.at.toISOString()} is before session ${sessionId} started` : `--at ${at} is outside session ${sessionId}, which has versions 1 to ${latest}`;
    throw new CliError(what, 2);
  }
  const events = at === undefined ? all : all.filter((e) => e.version <= at);
  const { state, version } = foldSession(events);
  const turns = await Promise.all(recordedTurns(events).map((turn) => replayedTurn(store, turn, options.systemPrompt)));
  if (options.json) return JSON.stringify({ sessionId, version, latestVersion: latest, events, turns, state }, null, 2);
  const byOutcome = new Map(turns.filter((t) => t.reply || t.failure).map((t) => [t.turnId, t]));
  return [
    style.bold(`Session ${sessionId}`) + style.dim(` · ${all.length} events · ${turns.length} turns · showing up to v${version}${version < latest ? ` of ${latest}` : ''}`),
    '',
    ...events.flatMap((event) => {
      const turn = (event.type === 'AssistantReplied' || event.type === 'TurnFailed') && byOutcome.get(event.data.turnId);
      return turn ? [describeEvent(event), ...describeTurn(turn, options.context)] : [describeEvent(event)];
    }),
    '',
    style.bold(`State at v${version}`),
    ...describeState(state),
  ].join('\n');
}

async function replayedTurn(store: EventStore, turn: RecordedTurn, systemPrompt: string): Promise<ReplayedTurn> {
  const context = await rebuildContext(store, turn, systemPrompt);
  const outcome = turn.outcome;
  const replied = outcome?.type === 'AssistantReplied' ? outcome : null;
  return {
    number: turn.number,
    turnId: turn.turnId,
    text: turn.message.data.text,
    route: turn.routed ? { mode: turn.routed.data.mode, route: turn.routed.data.route, reason: turn.routed.data.reason, features: turn.routed.data.features } : null,
    context: context && { ...context, matchesRecorded: context.recorded === null ? null : context.recorded === context.digest },
    reply: replied && { text: replied.data.text, model: replied.data.model, interrupted: replied.data.interrupted, toolCalls: replied.data.toolCalls ?? [] },
    failure: outcome?.type === 'TurnFailed' ? { code: outcome.data.code, message: outcome.data.message } : null,
    usage: replied?.data.usage ?? null,
    timings: {
      llmMs: replied && replied.data.model !== 'none' && !replied.data.model.startsWith('kb:') ? replied.data.latencyMs : null,
      turnMs: outcome ? Date.parse(outcome.recordedAt) - Date.parse(turn.message.recordedAt) : null,
    },
  };
}

/** The lines under a turn's outcome: its context (summary or in full), tokens and timings. */
function describeTurn(turn: ReplayedTurn, full: boolean): string[] {
  const pad = '        ';
  const lines: string[] = [];
  if (turn.context) {
    const check =
      turn.context.matchesRecorded === null
        ? style.dim('(no fingerprint recorded to check against)')
        : turn.context.matchesRecorded
          ? style.green('✓ the same the LLM was given')
          : style.red('✗ differs from what the LLM was given (the code, the system prompt or the memory changed)');
    lines.push(`${pad}${style.bold(`turn ${turn.number}`)} context: ${turn.context.messages.length} messages, ${turn.context.tokens} tokens ${check}${full ? '' : style.dim('  (--context shows them)')}`);
    if (full) for (const m of turn.context.messages) lines.push(`${pad}  ${style.dim(m.role.padEnd(9))} ${quote(m.content ?? (m.role === 'assistant' ? JSON.stringify(m.toolCalls ?? []) : ''))}`);
  } else if (turn.route?.route === 'faq') {
    lines.push(`${pad}${style.bold(`turn ${turn.number}`)} answered from the knowledge base: no LLM call, no context`);
  }
  const usage = turn.usage ? `tokens ${turn.usage.promptTokens} in → ${turn.usage.completionTokens} out · ` : '';
  const llm = turn.timings.llmMs === null ? '' : `LLM ${turn.timings.llmMs} ms · `;
  if (turn.timings.turnMs !== null) lines.push(`${pad}${style.dim(`${usage}${llm}turn ${turn.timings.turnMs} ms from message to outcome`)}`);
  return lines;
}

const short = (id: string) => id.slice(0, 8);
const quote = (text: string) => JSON.stringify(text.length > 200 ? `${text.slice(0, 197)}...` : text);

export function describeEvent(event: RecordedEvent): string {
  const head = `${style.dim(`v${String(event.version).padEnd(4)}`)} ${style.dim(event.recordedAt.slice(11, 23))}  ${
    event.erased ? style.red('[personal data erased] ') : ''
  }`;
  const kind = (text: string, colour: (s: string) => string) => colour(text.padEnd(20));
  switch (event.type) {
    case 'SessionStarted':
      return `${head}${kind('SessionStarted', style.blue)} user=${event.data.userId ?? '-'} metadata=${JSON.stringify(event.data.metadata)}`;
    case 'UserMessageReceived':
      return `${head}${kind('UserMessageReceived', style.cyan)} turn ${short(event.data.turnId)}  user: ${quote(event.data.text)}  (mode ${event.data.requestedMode})`;
    case 'TurnRouted':
      return `${head}${kind('TurnRouted', style.yellow)} turn ${short(event.data.turnId)}  → ${event.data.mode} via ${event.data.route} (${event.data.reason})${
        Object.keys(event.data.features).length ? style.dim(`  ${JSON.stringify(event.data.features)}`) : ''
      }`;
    case 'AssistantReplied': {
      const usage = event.data.usage ? `, ${event.data.usage.promptTokens}→${event.data.usage.completionTokens} tokens` : '';
      const cut = event.data.interrupted ? style.red(` [interrupted: ${event.data.interrupted}]`) : '';
      return `${head}${kind('AssistantReplied', style.green)} turn ${short(event.data.turnId)}  assistant: ${quote(event.data.text)}${cut}  ${style.dim(
        `(${event.data.model}, ${event.data.latencyMs} ms, ${event.data.contextMessages} context messages${usage})`,
      )}`;
    }
    case 'TurnFailed':
      return `${head}${kind('TurnFailed', style.red)} turn ${short(event.data.turnId)}  ${event.data.code}: ${event.data.message}`;
    case 'SessionExpired':
      return `${head}${kind('SessionExpired', style.blue)} after ${event.data.idleSeconds} s without a turn (last activity ${event.data.lastActivityAt})`;
    case 'ConversationSummarized': {
      const usage = event.data.usage ? `, ${event.data.usage.promptTokens}→${event.data.usage.completionTokens} tokens` : '';
      return `${head}${kind('ConversationSummarized', style.magenta)} turn ${short(event.data.turnId)}  messages up to v${event.data.throughVersion} (${
        event.data.summarizedMessages
      } in all) → summary: ${quote(event.data.summary)}  ${style.dim(`(${event.data.model}${usage})`)}`;
    }
    case 'ReplyInterrupted':
      return `${head}${kind('ReplyInterrupted', style.red)} turn ${short(event.data.turnId)}  the user barged in after hearing: ${quote(event.data.spokenText)}`;
    case 'SessionForked': {
      const summary = event.data.summary === null ? '' : `, a summary of ${event.data.summarizedMessages} messages`;
      return `${head}${kind('SessionForked', style.blue)} from session ${event.data.fromSessionId} at v${event.data.atVersion}: ${event.data.messages.length} messages${summary}`;
    }
    case 'MemoryRemembered':
      return `${head}${kind('MemoryRemembered', style.magenta)} ${event.data.name} = ${quote(event.data.value)}  ${style.dim(`(by ${event.data.source})`)}`;
    case 'MemoryForgotten':
      return `${head}${kind('MemoryForgotten', style.magenta)} ${event.data.name}  ${style.dim(`(by ${event.data.source})`)}`;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

export function describeState(state: SessionState): string[] {
  if (state.status === 'none') return ['  (no session)'];
  const lines = [
    `  user: ${state.userId ?? '-'}   started: ${state.startedAt}${state.expiredAt ? `   expired: ${state.expiredAt}` : ''}   metadata: ${JSON.stringify(state.metadata)}`,
    ...(state.forkedFrom ? [`  forked from session ${state.forkedFrom.sessionId} at v${state.forkedFrom.version}`] : []),
    ...(state.summary ? [`  summary of ${state.summary.messages} earlier messages (to v${state.summary.throughVersion}): ${quote(state.summary.text)}`] : []),
    `  messages (${state.messages.length}${state.summary ? ' after the summary' : ''}):`,
    ...state.messages.map((m) => `    ${(m.role === 'user' ? style.cyan : style.green)(m.role.padEnd(9))} ${quote(m.text)}`),
    `  turns (${state.turnCount}${state.turnCount > state.turns.length ? `, the last ${state.turns.length} shown` : ''}):`,
    ...state.turns.map(
      (t) => `    ${short(t.turnId)}  ${t.status.padEnd(8)} ${t.mode ?? '-'}${t.reason ? ` (${t.reason})` : ''}${t.error ? `  ${t.error.code}` : ''}`,
    ),
  ];
  return lines;
}
