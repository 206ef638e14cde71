import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { ClientMessage, ToolCallData, ToolSpecData } from '@parley/contracts';
import type WebSocket from 'ws';
import type { TenantContext } from '../auth/auth.guard';
import { ApiError } from '../http/api-error';
import { reconcile } from '../openai/openai-shapes';
import type { VoiceSessions } from '../openai/voice-sessions';
import type { SessionsService } from '../sessions/sessions.service';
import type { TurnsService } from '../turns/turns.service';
import type { BargeIn } from '../turns/barge-in.service';
import type { TurnResult } from '../turns/turn-result';
import { parseRetellFrame, REMINDER_TEXT, type RetellMessage, type RetellReply, type Utterance } from './retell-shapes';

/** What a call needs of ingress. */
export interface RetellParts {
  voice: VoiceSessions;
  turns: TurnsService;
  bargeIn: BargeIn;
  sessions: SessionsService;
  /** Takes a request from the key's rate budget (the HTTP API's): 0 when allowed, else seconds to wait. */
  admit: () => number;
}

/** The answer being spoken (or generated): Retell's id for it, and what has gone out so far. */
interface Answer {
  responseId: number;
  turnId: string | null;
  sent: string;
  stop: AbortController;
  /** Set when a newer request took its place: nothing more of it goes out. */
  superseded: boolean;
  /** Settles once its turn has an outcome (or never started). */
  done: Promise<void>;
  finish: () => void;
}

/** A turn to ask for. */
interface Asked {
  sessionId: string;
  text: string;
  mode: 'auto' | 'stateful';
  context: ClientMessage[];
  key: string;
  tools: ToolSpecData[];
}

const log = new Logger('retell');

/** Call control the model is offered in a Retell call: ending it, and (with a tenant's `transferNumber`) handing it to a person. */
const END_CALL: ToolSpecData = {
  name: 'end_call',
  description: 'End the phone call. Use it once the caller says goodbye or asks to hang up, after your last words.',
  parameters: { type: 'object', properties: {} },
};
const TRANSFER_CALL: ToolSpecData = {
  name: 'transfer_call',
  description:
    'Transfer the phone call to a person. Use it when the caller asks for a human, after telling them you are transferring them.',
  parameters: { type: 'object', properties: {} },
};

/** What the model is told of a call-control call that the call outlived (Retell kept the line open). */
const OUTLIVED: Record<string, string> = {
  end_call: 'The call did not end: the caller is still on the line.',
  transfer_call: 'The transfer did not go through: the caller is still on the line.',
};

/** Retell's transcript as chat messages: the agent's lines are the assistant's, what it said aloud. */
const chatOf = (transcript: readonly Utterance[]): ClientMessage[] =>
  transcript.flatMap((u): ClientMessage[] =>
    u.role === 'agent' ? [{ role: 'assistant', content: u.content }] : u.role === 'user' ? [{ role: 'user', content: u.content }] : [],
  );

/**
 * One Retell call over its custom-LLM WebSocket: one Parley session per `call_id`. Each
 * `response_required` is a turn whose reply goes out in pieces as the model writes it; a newer
 * request cancels the answer in progress, recording what the caller heard of it (the agent's last
 * line in Retell's transcript) as a barge-in; `reminder_required` is a turn of the session too;
 * `update_only` keeps the transcript; pings are answered.
 */
export class RetellCall {
  private transcript: Utterance[] = [];
  private callerNumber: string | undefined;
  private session: Promise<string> | null = null;
  private answer: Answer | null = null;
  /** Call-control calls of the last answer: the model hears what became of them with the next turn. */
  private unanswered: ToolCallData[] = [];
  /** Requests are prepared one at a time, in the order they came. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: WebSocket,
    private readonly callId: string,
    private readonly tenant: TenantContext,
    private readonly parts: RetellParts,
  ) {}

  /** The config (call details wanted, pings kept), and an empty begin message: the caller speaks first. */
  start(): void {
    this.send({ response_type: 'config', config: { auto_reconnect: true, call_details: true } });
    this.send({ response_type: 'response', response_id: 0, content: '', content_complete: true, end_call: false });
  }

  receive(frame: string): void {
    const parsed = parseRetellFrame(frame);
    if ('ignore' in parsed) return;
    if ('invalid' in parsed) {
      // what is wrong, never the text it was in
      this.socket.close(1007, `REQUEST.INVALID: ${parsed.invalid}`.slice(0, 123));
      return;
    }
    const message = parsed.message;
    if (message.interaction_type === 'ping_pong') return this.send({ response_type: 'ping_pong', timestamp: message.timestamp });
    if (message.interaction_type === 'update_only') {
      this.transcript = message.transcript;
      return;
    }
    if (message.interaction_type === 'call_details') {
      this.callerNumber = message.call.from_number ?? undefined;
      return;
    }
    if (message.transcript) this.transcript = message.transcript;
    // past the key's rate limit, the caller hears nothing more until the budget refills
    if (this.parts.admit() > 0) {
      log.warn(`call ${this.callId.slice(0, 64)}: RATE_LIMITED, response ${message.response_id} not answered`);
      return this.send({
        response_type: 'response',
        response_id: message.response_id,
        content: '',
        content_complete: true,
        end_call: false,
      });
    }
    // a newer request takes the place of the answer in progress at once: nothing more of it goes out
    const previous = this.answer;
    if (previous) previous.superseded = true;
    const answer = this.newAnswer(message.response_id);
    const transcript = this.transcript;
    // requests are taken in the order they came; each turn, once asked, is answered on its own
    this.queue = this.queue
      .then(async () => {
        const asked = await this.prepare(message, transcript, previous);
        void this.respond(answer, asked);
      })
      .catch((error: unknown) => {
        this.failed(error);
        this.finishEmpty(answer);
      });
  }

  /** The caller hung up (or Retell closed): an answer still being generated stops, recorded as interrupted. */
  closed(): void {
    this.answer?.stop.abort();
  }

  private sessionId(): Promise<string> {
    this.session ??= (async () => {
      const userId = await this.parts.voice.callerUser(this.tenant, this.callerNumber, 'call.from_number');
      return this.parts.voice.sessionFor(this.tenant.tenantId, `retell:${this.callId}`, userId);
    })();
    return this.session;
  }

  private newAnswer(responseId: number): Answer {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const answer: Answer = { responseId, turnId: null, sent: '', stop: new AbortController(), superseded: false, done, finish };
    this.answer = answer;
    return answer;
  }

  /** What the request asks: the caller's new words (or a reminder), in the call's session, with what they heard of the last answer recorded. */
  private async prepare(
    message: Extract<RetellMessage, { response_id: number }>,
    transcript: Utterance[],
    previous: Answer | null,
  ): Promise<Asked> {
    const sessionId = await this.sessionId();
    const reminder = message.interaction_type === 'reminder_required';
    const added = reconcile(chatOf(transcript));
    const { state } = await this.parts.sessions.state(this.tenant.tenantId, sessionId);
    const isNew = state.messages.length === 0 && state.summary === null;
    // the agent's last line is what the caller heard of the answer before: shorter, they barged in
    if (previous) await this.supersede(previous, sessionId, transcript);
    else if (!isNew && added?.lastAssistant && !reminder)
      await this.parts.voice.noteWhatWasHeard(this.tenant, state, added.lastAssistant.content ?? '');
    const text = reminder || !added ? REMINDER_TEXT : added.text;
    // a new session takes in what was said before Parley was asked (a greeting Retell spoke, say);
    // a call-control call the call outlived is answered, so the model's conversation stays whole
    const outlived = this.unanswered
      .splice(0)
      .map((call): ClientMessage => ({ role: 'tool', toolCallId: call.id, content: OUTLIVED[call.name] ?? 'Done.' }));
    const context = [...(isNew && added ? added.earlier : []), ...outlived];
    const key = `retell-${createHash('sha256').update(`${this.callId}\u0000${message.response_id}\u0000${text}`).digest('hex').slice(0, 40)}`;
    const tools = [END_CALL, ...(this.tenant.settings.transferNumber ? [TRANSFER_CALL] : [])];
    return { sessionId, text, mode: reminder ? 'stateful' : 'auto', context, key, tools };
  }

  /** The turn, its reply going out in pieces as the model writes it. */
  private async respond(answer: Answer, asked: Asked): Promise<void> {
    try {
      const result = await this.parts.turns.inSession(this.tenant, asked.sessionId, asked.text, asked.mode, {
        idempotencyKey: asked.key,
        tools: asked.tools,
        ...(asked.context.length ? { context: asked.context } : {}),
        stream: {
          onDelta: ({ turnId, delta }) => {
            answer.turnId = turnId;
            if (answer.superseded) return;
            answer.sent += delta;
            this.send({ response_type: 'response', response_id: answer.responseId, content: delta, content_complete: false });
          },
          signal: answer.stop.signal,
        },
      });
      this.complete(answer, result);
    } catch (error) {
      if (answer.superseded) return;
      this.failed(error);
      this.finishEmpty(answer);
    } finally {
      answer.finish();
      if (this.answer === answer) this.answer = null;
    }
  }

  /** The caller hears nothing rather than a made-up line; Retell asks again (a reminder) if they stay quiet. */
  private finishEmpty(answer: Answer): void {
    answer.finish();
    if (this.answer === answer) this.answer = null;
    if (!answer.superseded)
      this.send({ response_type: 'response', response_id: answer.responseId, content: '', content_complete: true, end_call: false });
  }

  /** The last piece: whether the model ended the call, or handed it to the tenant's `transferNumber`. */
  private complete(answer: Answer, result: TurnResult): void {
    answer.turnId = result.turnId;
    const calls = result.toolCalls ?? [];
    this.unanswered = calls;
    if (answer.superseded) return;
    // a knowledge-base answer comes whole
    if (!answer.sent && result.reply.text)
      this.send({ response_type: 'response', response_id: answer.responseId, content: result.reply.text, content_complete: false });
    const transferTo = calls.some((c) => c.name === 'transfer_call') ? this.tenant.settings.transferNumber : undefined;
    this.send({
      response_type: 'response',
      response_id: answer.responseId,
      content: '',
      content_complete: true,
      end_call: calls.some((c) => c.name === 'end_call'),
      ...(transferTo ? { transfer_number: transferTo } : {}),
    });
  }

  /**
   * A newer request came while an answer was going out: nothing more of it is sent. What the
   * caller heard of it — the agent's last line in Retell's transcript, when it is the start of what
   * was sent — is recorded as a barge-in (which also stops the generation), so later turns see it
   * instead of the whole reply.
   */
  private async supersede(previous: Answer, sessionId: string, transcript: Utterance[]): Promise<void> {
    const spoken =
      [...transcript]
        .reverse()
        .find((u) => u.role === 'agent')
        ?.content.trim() ?? '';
    const heard = spoken && previous.sent.trim().startsWith(spoken) ? spoken : '';
    if (previous.turnId) {
      await this.parts.bargeIn.interrupt(this.tenant, sessionId, previous.turnId, heard).catch((error: unknown) => this.failed(error));
    } else previous.stop.abort(); // nothing generated yet: stop it where it is
    // its outcome comes within moments of the stop; the new turn is asked for then (or after 3 s at most)
    await Promise.race([previous.done, new Promise((resolve) => setTimeout(resolve, 3_000).unref())]);
  }

  private failed(error: unknown): void {
    const code = error instanceof ApiError ? error.code : error instanceof Error ? error.name : 'unknown';
    log.warn(`call ${this.callId.slice(0, 64)}: a response failed (${code})`);
  }

  private send(reply: RetellReply): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(reply));
  }
}
