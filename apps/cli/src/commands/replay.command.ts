import { sessionStreamId, type RecordedEvent } from '@parley/contracts';
import { foldSession, type SessionState } from '@parley/conversation';
import type { EventStore } from '@parley/event-store';
import { CliError } from '../cli-error';
import { style } from '../output';

export interface ReplayOptions {
  sessionId: string;
  /** Only sessions of this tenant are found. */
  tenantId: string;
  /** Show the state as of this stream version. */
  at?: number;
  json: boolean;
}

/** Accepts `<uuid>` or `session-<uuid>`. */
export const normalizeSessionId = (id: string) => id.replace(/^session-/, '');

/** Reads the session's events and folds them with the same `evolve` the services use. */
export async function replay(store: EventStore, options: ReplayOptions): Promise<string> {
  const sessionId = normalizeSessionId(options.sessionId);
  const all = await store.readStream(sessionStreamId(sessionId));
  if (all.length === 0 || all[0].metadata.tenantId !== options.tenantId) throw new CliError(`Session ${sessionId} not found in tenant ${options.tenantId}`);
  const latest = all[all.length - 1].version;
  if (options.at !== undefined && (options.at < 1 || options.at > latest)) {
    throw new CliError(`--at ${options.at} is outside session ${sessionId}, which has versions 1 to ${latest}`, 2);
  }
  const events = options.at === undefined ? all : all.filter((e) => e.version <= options.at!);
  const { state, version } = foldSession(events);
  if (options.json) return JSON.stringify({ sessionId, version, latestVersion: latest, events, state }, null, 2);
  return [
    style.bold(`Session ${sessionId}`) + style.dim(` · ${all.length} events · showing up to v${version}${version < latest ? ` of ${latest}` : ''}`),
    '',
    ...events.map(describeEvent),
    '',
    style.bold(`State at v${version}`),
    ...describeState(state),
  ].join('\n');
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
