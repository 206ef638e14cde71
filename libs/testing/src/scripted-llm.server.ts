import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The part of an OpenAI chat-completions request tests look at. */
export interface ChatRequest {
  model: string;
  messages: { role: string; content: string | null; [key: string]: unknown }[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  tools?: unknown[];
  [key: string]: unknown;
}

/** What the scripted model does for one request. */
export interface ScriptedReply {
  /** Assistant text (streamed word by word when the request streams). */
  text?: string;
  /** Tool calls to return instead of, or besides, text. */
  toolCalls?: { name: string; arguments: Record<string, unknown> }[];
  /** Answer with this HTTP status and an OpenAI-shaped error instead. */
  status?: number;
  /** Headers of that error answer (`retry-after`, say). */
  headers?: Record<string, string>;
  /** Wait this long before answering (to provoke timeouts). */
  delayMs?: number;
  /**
   * Pause before each streamed piece (a model's pace: 25 ms is 40 tokens a second). An unstreamed
   * answer takes as long in all: a model is no faster for not streaming.
   */
  chunkDelayMs?: number;
  /**
   * Awaited before streamed text piece `index` (0-based) is written: lets a test hold generation
   * at a point until something has happened elsewhere, with no timing in the assertion.
   */
  beforePiece?: (index: number) => Promise<void> | void;
}

export type Script = (request: ChatRequest, index: number) => ScriptedReply | Promise<ScriptedReply>;

/** Default behaviour: echo the last user message and say how much context arrived. */
export const echoScript: Script = (request) => {
  const users = request.messages.filter((m) => m.role === 'user');
  const last = users.at(-1)?.content ?? '';
  return { text: `You said: ${last} (I can see ${request.messages.length - 1} messages of this conversation.)` };
};

const countTokens = (text: string) => (text.match(/\S+/g) ?? []).length;

/**
 * An OpenAI-compatible chat-completions server over real HTTP, with real SSE streaming and tool
 * calls, driven by a script. It records every request so tests can check the exact context.
 */
/**
 * A model that keeps seat preferences it is told about ("I prefer an aisle seat") with the
 * `remember` tool, says it noted them once the tool answered, and otherwise answers plainly.
 */
export const seatMemoryScript: Script = (request) => {
  const last = request.messages.at(-1)!;
  if (last.role === 'tool') return { text: 'Noted, I will keep that in mind.' };
  const said = String(last.content ?? '');
  const seat = /prefer an? (\w+) seat/.exec(said)?.[1];
  if (seat && request.tools) return { toolCalls: [{ name: 'remember', arguments: { name: 'seat_preference', value: `${seat} seat` } }] };
  return { text: `answer to: ${said}` };
};

export class ScriptedLlmServer {
  readonly requests: ChatRequest[] = [];
  /** The `Authorization` header of each request (null when none), in the order of `requests`. */
  readonly authorizations: (string | null)[] = [];
  /** Requests being answered right now, and the most there were at once (since the last `resetPeak`). */
  inFlight = 0;
  peakInFlight = 0;
  private script: Script;

  private constructor(
    private readonly server: Server,
    script: Script,
  ) {
    this.script = script;
  }

  static async start(script: Script = echoScript, options: { port?: number; host?: string } = {}): Promise<ScriptedLlmServer> {
    let instance: ScriptedLlmServer | undefined;
    const server = createServer((req, res) => {
      const self = instance!;
      self.peakInFlight = Math.max(self.peakInFlight, ++self.inFlight);
      let counted = true;
      const done = () => {
        if (counted) self.inFlight--;
        counted = false;
      };
      res.once('close', done);
      self.handle(req, res).catch((error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: String(error), type: 'server_error' } }));
      });
    });
    instance = new ScriptedLlmServer(server, script);
    await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
    return instance;
  }

  /** Base URL for `OPENAI_BASE_URL` (ends in `/v1`). */
  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/v1`;
  }

  setScript(script: Script): void {
    this.script = script;
  }

  resetPeak(): void {
    this.peakInFlight = this.inFlight;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/v1/models') {
      return json(res, 200, { object: 'list', data: [{ id: 'scripted', object: 'model', created: 0, owned_by: 'parley-tests' }] });
    }
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      return json(res, 404, { error: { message: `No route ${req.method} ${path}`, type: 'invalid_request_error' } });
    }
    let body: ChatRequest;
    try {
      body = JSON.parse(await readBody(req)) as ChatRequest;
    } catch {
      return json(res, 400, { error: { message: 'Body is not JSON', type: 'invalid_request_error' } });
    }
    const index = this.requests.push(body) - 1;
    this.authorizations.push(req.headers.authorization ?? null);
    const reply = await this.script(body, index);
    if (reply.delayMs) await sleep(reply.delayMs);
    if (res.destroyed) return;
    if (reply.status) {
      return json(
        res,
        reply.status,
        { error: { message: `scripted failure ${reply.status}`, type: 'server_error', code: null } },
        reply.headers,
      );
    }
    const id = `chatcmpl-${index}-${Date.now()}`;
    const created = Math.floor(Date.now() / 1000);
    const text = reply.text ?? (reply.toolCalls?.length ? null : '');
    const toolCalls = (reply.toolCalls ?? []).map((call, i) => ({
      id: `call_${index}_${i}`,
      type: 'function' as const,
      function: { name: call.name, arguments: JSON.stringify(call.arguments) },
    }));
    const finish = toolCalls.length ? 'tool_calls' : 'stop';
    const promptTokens = body.messages.reduce((n, m) => n + countTokens(String(m.content ?? '')), 0);
    const completionTokens = countTokens(text ?? '');
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };

    if (!body.stream) {
      if (reply.chunkDelayMs) await sleep(reply.chunkDelayMs * ((text ?? '').match(/\S+\s*|\s+/g) ?? []).length);
      if (res.destroyed) return;
      return json(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model: body.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: text, refusal: null, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
            logprobs: null,
            finish_reason: finish,
          },
        ],
        usage,
      });
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const chunk = (delta: object, finishReason: string | null, extra: object = {}) =>
      `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model: body.model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
        ...extra,
      })}\n\n`;
    res.write(chunk({ role: 'assistant', content: '' }, null));
    const pieces = (text ?? '').match(/\S+\s*|\s+/g) ?? [];
    for (const [i, piece] of pieces.entries()) {
      if (res.destroyed) return;
      if (reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
      await reply.beforePiece?.(i);
      if (res.destroyed) return;
      res.write(chunk({ content: piece }, null));
    }
    toolCalls.forEach((call, i) => res.write(chunk({ tool_calls: [{ index: i, ...call }] }, null)));
    res.write(chunk({}, finish));
    if (body.stream_options?.include_usage) {
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
