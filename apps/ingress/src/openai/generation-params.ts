import { GenerationOptions, JsonSchemaFormat, tenantDefaultModel, type ResolvedTenantSettings } from '@parley/contracts';
import { z } from 'zod';
import { ApiError } from '../http/api-error';

/**
 * OpenAI's sampling and output parameters as the two APIs spell them, checked against the ranges
 * OpenAI accepts (a value outside is `400` naming its `param`), and turned into the
 * `GenerationOptions` a turn records. `null` is the same as absent, as OpenAI's SDKs send it.
 */
const shape = GenerationOptions.shape;
const orNull = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

/** What both APIs share, by their wire names. */
const common = {
  temperature: orNull(shape.temperature.unwrap()),
  top_p: orNull(shape.topP.unwrap()),
  parallel_tool_calls: orNull(z.boolean()),
  presence_penalty: orNull(shape.presencePenalty.unwrap()),
  frequency_penalty: orNull(shape.frequencyPenalty.unwrap()),
  seed: orNull(shape.seed.unwrap()),
};

/** Parameters of `POST /v1/chat/completions` that reach the model. */
export const ChatGenerationParams = {
  ...common,
  max_tokens: orNull(shape.maxTokens.unwrap()),
  max_completion_tokens: orNull(shape.maxCompletionTokens.unwrap()),
  stop: orNull(z.union([z.string().min(1).max(1_000), shape.stop.unwrap()])),
  tool_choice: orNull(shape.toolChoice.unwrap()),
  response_format: orNull(shape.responseFormat.unwrap()),
  /** One choice per request: more is refused rather than silently answered once. */
  n: orNull(z.literal(1, { error: 'only n = 1 is supported: a turn has one reply' })),
};

/** Parameters of `POST /v1/responses` that reach the model (`text.format` is its response format). */
export const ResponsesGenerationParams = {
  ...common,
  max_output_tokens: orNull(shape.maxCompletionTokens.unwrap()),
  tool_choice: orNull(
    z.union([z.enum(['none', 'auto', 'required']), z.object({ type: z.literal('function'), name: z.string().min(1).max(64) })]),
  ),
  text: orNull(
    z.looseObject({
      format: z
        .discriminatedUnion('type', [
          z.object({ type: z.literal('text') }),
          z.object({ type: z.literal('json_object') }),
          z.object({ type: z.literal('json_schema'), ...JsonSchemaFormat.shape }),
        ])
        .optional(),
    }),
  ),
};

type Present<T> = { [K in keyof T]: Exclude<T[K], null> };
const present = <T extends object>(values: T) =>
  Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null && v !== undefined)) as Partial<Present<T>>;

type ChatParams = { [K in keyof typeof ChatGenerationParams]?: z.infer<(typeof ChatGenerationParams)[K]> };
type ResponsesParams = { [K in keyof typeof ResponsesGenerationParams]?: z.infer<(typeof ResponsesGenerationParams)[K]> };

/** A chat completion request's parameters as a turn records them. */
export function chatGeneration(body: ChatParams, model: string | undefined): GenerationOptions | undefined {
  const stop = body.stop ?? undefined;
  return nonEmpty({
    model,
    temperature: body.temperature,
    topP: body.top_p,
    maxTokens: body.max_tokens,
    maxCompletionTokens: body.max_completion_tokens,
    stop: typeof stop === 'string' ? [stop] : stop,
    seed: body.seed,
    presencePenalty: body.presence_penalty,
    frequencyPenalty: body.frequency_penalty,
    toolChoice: body.tool_choice,
    parallelToolCalls: body.parallel_tool_calls,
    responseFormat: body.response_format,
  });
}

/** A Responses request's parameters as a turn records them. */
export function responsesGeneration(body: ResponsesParams, model: string | undefined): GenerationOptions | undefined {
  const choice = body.tool_choice ?? undefined;
  const format = body.text?.format;
  return nonEmpty({
    model,
    temperature: body.temperature,
    topP: body.top_p,
    maxCompletionTokens: body.max_output_tokens,
    seed: body.seed,
    presencePenalty: body.presence_penalty,
    frequencyPenalty: body.frequency_penalty,
    toolChoice: typeof choice === 'object' ? { type: 'function', function: { name: choice.name } } : choice,
    parallelToolCalls: body.parallel_tool_calls,
    responseFormat:
      format?.type === 'json_schema'
        ? {
            type: 'json_schema',
            json_schema: { name: format.name, description: format.description, schema: format.schema, strict: format.strict },
          }
        : format,
  });
}

function nonEmpty(values: { [K in keyof GenerationOptions]: GenerationOptions[K] | null | undefined }): GenerationOptions | undefined {
  const options = present(values) as GenerationOptions;
  const format = options.responseFormat;
  if (format?.type === 'json_schema') format.json_schema = present(format.json_schema) as typeof format.json_schema;
  return Object.keys(options).length ? GenerationOptions.parse(options) : undefined;
}

/**
 * The models a client may name: `parley` (the default), the default itself, and those allowed —
 * the deployment's (`PARLEY_MODEL`, `PARLEY_MODELS`) unless the tenant set its own (`models`,
 * `defaultModel`). Another is `404 model_not_found`, as OpenAI answers an unknown model.
 */
export class ModelCatalog {
  constructor(
    private readonly defaultModel: string,
    private readonly allowed: readonly string[],
  ) {}

  /** What one tenant may name. */
  forTenant(settings: Pick<ResolvedTenantSettings, 'models' | 'defaultModel'>): TenantModels {
    return new TenantModels(this.defaultModel, tenantDefaultModel(settings) ?? null, settings.models ?? this.allowed);
  }
}

export class TenantModels {
  readonly ids: string[];
  private readonly defaultModel: string;

  constructor(
    private readonly deploymentDefault: string,
    /** The tenant's own default, when it set one. */
    private readonly ownDefault: string | null,
    allowed: readonly string[],
  ) {
    this.defaultModel = ownDefault ?? deploymentDefault;
    this.ids = [...new Set(['parley', this.defaultModel, ...allowed])];
  }

  /**
   * The model a turn records: none when it is the deployment's default (the responder's own), the
   * name otherwise — the tenant's default included, so a rerun asks for the model the turn had.
   */
  resolve(requested: string | undefined): string | undefined {
    const model = requested === undefined || requested === 'parley' ? this.defaultModel : requested;
    if (!this.ids.includes(model)) {
      throw new ApiError(
        'MODEL.NOT_FOUND',
        `The model ${JSON.stringify(model.slice(0, 200))} does not exist or you do not have access to it; you may name ${this.ids.join(', ')}`,
        {
          param: 'model',
        },
      );
    }
    return model === this.deploymentDefault && this.ownDefault === null ? undefined : model;
  }

  has(id: string): boolean {
    return this.ids.includes(id);
  }
}
