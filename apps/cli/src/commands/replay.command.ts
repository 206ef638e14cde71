import type { RecordedEvent } from '@parley/contracts';
import type { SessionState } from '@parley/conversation';
import { replaySession, type EventStore, type ReplayedTurn } from '@parley/event-store';
import { style } from '../output';
import { readingSession } from './session-errors';

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

/** `parley replay`: the session read from the log (`replaySession`, which the inspector page shows too), as text or JSON. */
export async function replay(store: EventStore, options: ReplayOptions): Promise<string> {
  const replayed = await readingSession(options, () => replaySession(store, options));
  const { sessionId, version, latestVersion: latest, events, turns, state } = replayed;
  if (options.json) return JSON.stringify(replayed, null, 2);
  const byOutcome = new Map(turns.filter((t) => t.reply || t.failure).map((t) => [t.turnId, t]));
  return [
    style.bold(`Session ${sessionId}`) +
      style.dim(` · ${latest} events · ${turns.length} turns · showing up to v${version}${version < latest ? ` of ${latest}` : ''}`),
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
    lines.push(
      `${pad}${style.bold(`turn ${turn.number}`)} context: ${turn.context.messages.length} messages, ${turn.context.tokens} tokens ${check}${full ? '' : style.dim('  (--context shows them)')}`,
    );
    if (full)
      for (const m of turn.context.messages)
        lines.push(
          `${pad}  ${style.dim(m.role.padEnd(9))} ${quote(m.content ?? (m.role === 'assistant' ? JSON.stringify(m.toolCalls ?? []) : ''))}`,
        );
  } else if (turn.route?.route === 'faq') {
    lines.push(`${pad}${style.bold(`turn ${turn.number}`)} answered from the knowledge base: no LLM call, no context`);
  }
  for (const fact of turn.remembered) lines.push(`${pad}${style.magenta('remembered')} ${fact.name} = ${quote(fact.value)}`);
  if (turn.generation) lines.push(`${pad}${style.dim(`asked of the model: ${describeGeneration(turn.generation)}`)}`);
  const usage = turn.usage ? `tokens ${turn.usage.promptTokens} in → ${turn.usage.completionTokens} out · ` : '';
  const llm = turn.timings.llmMs === null ? '' : `LLM ${turn.timings.llmMs} ms · `;
  if (turn.timings.turnMs !== null)
    lines.push(`${pad}${style.dim(`${usage}${llm}turn ${turn.timings.turnMs} ms from message to outcome`)}`);
  return lines;
}

const short = (id: string) => id.slice(0, 8);
/** `model gpt-4.1, temperature 0.2, maxTokens 40, responseFormat json_schema` */
const describeGeneration = (generation: Record<string, unknown>) =>
  Object.entries(generation)
    .map(([name, value]) => `${name} ${name === 'responseFormat' ? (value as { type: string }).type : JSON.stringify(value)}`)
    .join(', ');
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
    case 'ResponseDeleted':
      return `${head}${kind('ResponseDeleted', style.dim)} turn ${short(event.data.turnId)}  its stored response was deleted (DELETE /v1/responses/{id}); the turn stays in the conversation`;
    case 'ConversationItemsAdded':
      return `${head}${kind('ConversationItemsAdded', style.cyan)} ${event.data.items.length} item(s) joined the conversation without a turn: ${event.data.items
        .map((m) => `${m.role}: ${quote(m.content ?? JSON.stringify(m.role === 'assistant' ? (m.toolCalls ?? []) : ''))}`)
        .join('  ')}`;
    case 'ConversationItemDeleted':
      return `${head}${kind('ConversationItemDeleted', style.dim)} item ${event.data.itemId} left the conversation (later contexts leave it out)`;
    case 'SessionMetadataUpdated':
      return `${head}${kind('SessionMetadataUpdated', style.blue)} metadata=${JSON.stringify(event.data.metadata)}`;
    case 'ConversationDeleted':
      return `${head}${kind('ConversationDeleted', style.dim)} the conversation was deleted (DELETE /v1/conversations/{id}); its turns stay in the log`;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

export function describeState(state: SessionState): string[] {
  if (state.status === 'none') return ['  (no session)'];
  const lines = [
    `  user: ${state.userId ?? '-'}   started: ${state.startedAt}${state.expiredAt ? `   expired: ${state.expiredAt}` : ''}${state.deletedAt ? `   conversation deleted: ${state.deletedAt}` : ''}   metadata: ${JSON.stringify(state.metadata)}`,
    ...(state.forkedFrom ? [`  forked from session ${state.forkedFrom.sessionId} at v${state.forkedFrom.version}`] : []),
    ...(state.summary
      ? [`  summary of ${state.summary.messages} earlier messages (to v${state.summary.throughVersion}): ${quote(state.summary.text)}`]
      : []),
    `  messages (${state.messages.length}${state.summary ? ' after the summary' : ''}):`,
    ...state.messages.map((m) => `    ${(m.role === 'user' ? style.cyan : style.green)(m.role.padEnd(9))} ${quote(m.text)}`),
    `  turns (${state.turnCount}${state.turnCount > state.turns.length ? `, the last ${state.turns.length} shown` : ''}):`,
    ...state.turns.map(
      (t) =>
        `    ${short(t.turnId)}  ${t.status.padEnd(8)} ${t.mode ?? '-'}${t.reason ? ` (${t.reason})` : ''}${t.error ? `  ${t.error.code}` : ''}`,
    ),
  ];
  return lines;
}
