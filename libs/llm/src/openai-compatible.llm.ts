import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { LlmError, LlmErrorCodes, type Llm, type LlmCallRecord, type LlmMessage, type LlmRequest, type LlmResult } from './llm.port';

const tracer = trace.getTracer('parley.llm');

export interface OpenAiCompatibleOptions {
  baseURL: string;
  /** Some local servers need none; the SDK insists on a string. */
  apiKey?: string;
  model: string;
  /** Per attempt. */
  timeoutMs: number;
  /** The SDK retries connection errors, 408, 409, 429 and 5xx with backoff. */
  maxRetries: number;
  /** Told of every call once it ends (metrics). */
  observe?: (call: LlmCallRecord) => void;
}

/** Any OpenAI-compatible server, through the official SDK. */
export class OpenAiCompatibleLlm implements Llm {
  private readonly client: OpenAI;

  constructor(private readonly options: OpenAiCompatibleOptions) {
    this.client = new OpenAI({
      baseURL: options.baseURL,
      apiKey: options.apiKey ?? 'not-needed',
      timeout: options.timeoutMs,
      maxRetries: options.maxRetries,
    });
  }

  /**
   * One call through the SDK, in a client span named as OpenTelemetry's GenAI conventions name it
   * (`chat <model>`, with the model, the server and the tokens; never the messages).
   */
  async complete(request: LlmRequest): Promise<LlmResult> {
    const { model, baseURL } = this.options;
    const server = safeUrl(baseURL);
    const startedAt = performance.now();
    return tracer.startActiveSpan(
      `chat ${model}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'openai',
          'gen_ai.request.model': model,
          'parley.llm.purpose': request.purpose ?? 'reply',
          'parley.llm.streamed': Boolean(request.onDelta),
          ...(server
            ? { 'server.address': server.hostname, 'server.port': Number(server.port) || (server.protocol === 'https:' ? 443 : 80) }
            : {}),
        },
      },
      async (span) => {
        let result: LlmResult | undefined;
        let failure: LlmError | undefined;
        try {
          result = await (request.onDelta ? this.stream(request, request.onDelta) : this.call(request));
          span.setAttributes({
            'gen_ai.response.model': result.model,
            ...(result.usage
              ? { 'gen_ai.usage.input_tokens': result.usage.promptTokens, 'gen_ai.usage.output_tokens': result.usage.completionTokens }
              : {}),
            ...(result.interrupted ? { 'parley.llm.interrupted': true } : {}),
          });
          return result;
        } catch (error) {
          failure = error instanceof LlmError ? error : new LlmError(LlmErrorCodes.BadResponse, 'Unexpected LLM failure', { cause: error });
          span.setAttribute('error.type', failure.code);
          span.setStatus({ code: SpanStatusCode.ERROR, message: failure.code });
          throw error;
        } finally {
          span.end();
          this.options.observe?.({
            purpose: request.purpose ?? 'reply',
            tenantId: request.tenantId,
            seconds: (performance.now() - startedAt) / 1000,
            errorCode: failure?.code ?? null,
            usage: result?.usage ?? null,
          });
        }
      },
    );
  }

  private async call(request: LlmRequest): Promise<LlmResult> {
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    const startedAt = Date.now();
    try {
      completion = await this.client.chat.completions.create(this.body(request), { signal: request.signal });
    } catch (error) {
      throw translate(error, this.options, Date.now() - startedAt);
    }
    const choice = completion.choices?.[0];
    const toolCalls = (choice?.message?.tool_calls ?? [])
      .filter((call) => call.type === 'function')
      .map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments }));
    if (!choice || (typeof choice.message?.content !== 'string' && toolCalls.length === 0)) {
      throw new LlmError(LlmErrorCodes.BadResponse, 'The LLM answered without a text message or a tool call');
    }
    return {
      text: choice.message.content ?? '',
      toolCalls,
      model: completion.model ?? this.options.model,
      usage: completion.usage
        ? { promptTokens: completion.usage.prompt_tokens, completionTokens: completion.usage.completion_tokens }
        : null,
      interrupted: false,
    };
  }

  private body(request: LlmRequest) {
    const o = request.options ?? {};
    const maxTokens = o.maxTokens ?? request.maxTokens;
    const tools = request.tools?.length;
    return {
      model: o.model ?? this.options.model,
      messages: request.messages.map(toOpenAi),
      ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
      ...(o.maxCompletionTokens !== undefined ? { max_completion_tokens: o.maxCompletionTokens } : {}),
      ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
      ...(o.topP !== undefined ? { top_p: o.topP } : {}),
      ...(o.stop ? { stop: o.stop } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(o.presencePenalty !== undefined ? { presence_penalty: o.presencePenalty } : {}),
      ...(o.frequencyPenalty !== undefined ? { frequency_penalty: o.frequencyPenalty } : {}),
      ...(o.responseFormat ? { response_format: o.responseFormat } : {}),
      ...(tools
        ? {
            tools: request.tools!.map((t) => ({
              type: 'function' as const,
              function: { name: t.name, description: t.description, parameters: t.parameters },
            })),
            // meaningful only with tools (OpenAI refuses them without)
            ...(o.toolChoice !== undefined ? { tool_choice: o.toolChoice } : {}),
            ...(o.parallelToolCalls !== undefined ? { parallel_tool_calls: o.parallelToolCalls } : {}),
          }
        : {}),
    };
  }

  /**
   * The same call streamed (`stream: true`, usage in the last chunk): text is passed on as it
   * arrives, tool calls are assembled from their pieces. An abort ends the stream with what came.
   */
  private async stream(request: LlmRequest, onDelta: (text: string) => void): Promise<LlmResult> {
    const startedAt = Date.now();
    let text = '';
    let model = this.options.model;
    let usage: LlmResult['usage'] = null;
    const calls: { id: string; name: string; arguments: string }[] = [];
    try {
      const stream = await this.client.chat.completions.create(
        { ...this.body(request), stream: true, stream_options: { include_usage: true } },
        { signal: request.signal },
      );
      for await (const chunk of stream) {
        if (chunk.model) model = chunk.model;
        if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
        const delta = chunk.choices?.[0]?.delta;
        if (delta?.content) {
          text += delta.content;
          onDelta(delta.content);
        }
        for (const piece of delta?.tool_calls ?? []) {
          const call = (calls[piece.index] ??= { id: '', name: '', arguments: '' });
          if (piece.id) call.id = piece.id;
          if (piece.function?.name) call.name += piece.function.name;
          if (piece.function?.arguments) call.arguments += piece.function.arguments;
        }
      }
    } catch (error) {
      if (request.signal?.aborted) return { text, toolCalls: [], model, usage, interrupted: true };
      throw translate(error, this.options, Date.now() - startedAt);
    }
    if (request.signal?.aborted) return { text, toolCalls: [], model, usage, interrupted: true };
    const toolCalls = calls.filter((c) => c && c.name);
    if (!text && !toolCalls.length) throw new LlmError(LlmErrorCodes.BadResponse, 'The LLM streamed neither text nor a tool call');
    return { text, toolCalls, model, usage, interrupted: false };
  }
}

function toOpenAi(message: LlmMessage): OpenAI.Chat.Completions.ChatCompletionMessageParam {
  if (message.role === 'tool') return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
  if (message.role === 'assistant' && message.toolCalls?.length) {
    return {
      role: 'assistant',
      content: message.content,
      tool_calls: message.toolCalls.map((c) => ({
        id: c.id,
        type: 'function' as const,
        function: { name: c.name, arguments: c.arguments },
      })),
    };
  }
  if (message.role === 'assistant') return { role: 'assistant', content: message.content };
  return message;
}

function translate(error: unknown, options: OpenAiCompatibleOptions, elapsedMs: number): LlmError {
  const where = `${options.baseURL} (model ${options.model})`;
  if (error instanceof APIUserAbortError) return new LlmError(LlmErrorCodes.Aborted, 'The LLM call was aborted', { cause: error });
  // The SDK tells a timeout from other connection failures by the abort error's class, which is
  // realm-specific (it misfires under test sandboxes); elapsed time is the reliable signal.
  const timedOut = error instanceof APIConnectionTimeoutError || (error instanceof APIConnectionError && elapsedMs >= options.timeoutMs);
  if (timedOut)
    return new LlmError(LlmErrorCodes.Timeout, `The LLM at ${where} did not answer within ${options.timeoutMs} ms`, { cause: error });
  // what failed, never what the server said of the request: its message may quote the user's words,
  // and a failure is recorded (TurnFailed) and logged, where an erasure cannot reach
  if (error instanceof APIConnectionError)
    return new LlmError(LlmErrorCodes.Unreachable, `Cannot reach the LLM at ${where}${connectionCause(error)}`, { cause: error });
  if (error instanceof APIError) {
    const code = typeof error.code === 'string' ? error.code : typeof error.type === 'string' ? error.type : null;
    return new LlmError(LlmErrorCodes.Upstream, `The LLM at ${where} answered ${error.status ?? 'an error'}${code ? ` (${code})` : ''}`, {
      cause: error,
    });
  }
  return new LlmError(LlmErrorCodes.BadResponse, `Unexpected LLM failure (${error instanceof Error ? error.name : typeof error})`, {
    cause: error,
  });
}

const safeUrl = (value: string): URL | null => {
  try {
    return new URL(value);
  } catch {
    return null;
  }
};

/** The system error behind a failed connection (ECONNREFUSED, ENOTFOUND, ...), if there is one. */
function connectionCause(error: unknown): string {
  for (let current = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; current && depth < 6; depth++) {
    if (typeof current.code === 'string' && /^E[A-Z]+$/.test(current.code)) return `: ${current.code}`;
    current = current.cause as typeof current;
  }
  return '';
}

/** The deployment's LLM settings, as every process that calls the model reads them. */
export interface LlmSettings {
  OPENAI_BASE_URL: string;
  OPENAI_API_KEY?: string;
  PARLEY_MODEL: string;
  PARLEY_LLM_TIMEOUT_MS: number;
  PARLEY_LLM_MAX_RETRIES: number;
}

/** The options of the deployment's LLM client, from its settings (the responder's and `parley rerun --live`'s alike). */
export function llmOptionsFrom(settings: LlmSettings, overrides: Partial<OpenAiCompatibleOptions> = {}): OpenAiCompatibleOptions {
  return {
    baseURL: settings.OPENAI_BASE_URL,
    apiKey: settings.OPENAI_API_KEY,
    model: settings.PARLEY_MODEL,
    timeoutMs: settings.PARLEY_LLM_TIMEOUT_MS,
    maxRetries: settings.PARLEY_LLM_MAX_RETRIES,
    ...overrides,
  };
}
