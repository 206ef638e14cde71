import { z } from 'zod';
import { assertValidPrefix } from './subjects';
import { ConcurrentTurnPolicy, RoutingPolicy, type ResolvedTenantSettings } from './tenants';

/**
 * Every environment variable a Parley process reads, in one table: the services parse it at
 * startup, the docker-compose test checks the compose file against it, the README documents it.
 */
export const SERVICES = ['ingress', 'router', 'session-projector', 'responder', 'relay', 'cli'] as const;
export type ServiceName = (typeof SERVICES)[number];

const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
  );

/** One URL, or several comma-separated, each with one of the protocols. */
const urls = (protocols: string[]) =>
  z.string().refine(
    (value) =>
      value.split(',').every((part) => {
        try {
          return protocols.includes(new URL(part.trim()).protocol);
        } catch {
          return false;
        }
      }),
    `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}, or several separated by commas`,
  );

const int = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

const ALL: ServiceName[] = [...SERVICES];
/** Defaults of what each tenant may set for itself (`TenantSettings`): read wherever a tenant's settings are resolved. */
const TENANT_DEFAULT: ServiceName[] = ['ingress', 'router', 'responder', 'cli'];

export const SETTINGS = {
  DATABASE_URL: {
    services: ALL,
    default: 'postgres://postgres@127.0.0.1:5432/parley',
    schema: url(['postgres:', 'postgresql:']),
    doc: 'PostgreSQL holding the event log and read models.',
  },
  PARLEY_CONNECT_WAIT_SECONDS: {
    services: ALL,
    default: '0',
    schema: int(0, 3_600),
    doc: 'How long a service (or a `parley` command) keeps trying to reach PostgreSQL and NATS at start, with a backoff, before it gives up; 0: one try, failing at once with a message naming the server. Containers started beside their database want 60.',
  },
  NATS_URL: {
    services: ALL,
    default: 'nats://127.0.0.1:4222',
    schema: urls(['nats:', 'tls:']),
    doc: 'NATS server with JetStream enabled, or several servers of a cluster, comma-separated (the client takes any that answers, and moves to another when one goes).',
  },
  PARLEY_STREAM_REPLICAS: {
    services: ['router', 'session-projector', 'responder', 'relay'],
    default: '1',
    schema: int(1, 5),
    doc: 'Copies JetStream keeps of each Parley stream (events, dead letters): 3 on a cluster of three NATS servers, so one can go without losing or stopping anything. Applied when a service creates the streams, and changed when they exist with another number; a server that cannot hold that many (one node asked for 3) stops the service with a message saying so.',
  },
  PARLEY_NATS_PREFIX: {
    services: ALL,
    default: 'parley',
    schema: z.string().refine((v) => {
      try {
        return assertValidPrefix(v) === v;
      } catch {
        return false;
      }
    }, 'must contain only letters, digits, "_" and "-"'),
    doc: 'Prefix of every NATS subject and JetStream stream, so clusters can share one NATS server.',
  },
  PARLEY_MAX_CONCURRENT_TURNS: {
    services: ['router', 'session-projector', 'responder'],
    default: '256',
    schema: int(1, 10_000),
    doc: 'Messages each replica works on at once (for the responder: turns, LLM calls included); more wait in JetStream, not in memory. A second replica adds as many again.',
  },
  PARLEY_MAX_DELIVERIES: {
    services: ['router', 'session-projector', 'responder'],
    default: '5',
    schema: int(1, 100),
    doc: 'Deliveries of a failing message before it goes to the dead-letter stream.',
  },
  PARLEY_ACK_WAIT_MS: {
    services: ['router', 'session-projector', 'responder'],
    default: '30000',
    schema: int(500, 600_000),
    doc: 'How long JetStream waits for an ack before redelivering (to another replica, after a crash); long handlers heartbeat.',
  },
  PARLEY_ROUTING_POLICY: {
    services: TENANT_DEFAULT,
    default: 'hybrid',
    schema: RoutingPolicy,
    doc: 'Tenant default: `hybrid` routes per turn, `stateful` answers every turn with history, `stateless` never uses history.',
  },
  PARLEY_FAQ_THRESHOLD: {
    services: TENANT_DEFAULT,
    default: '0.7',
    schema: z
      .string()
      .regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'must be a number from 0 to 1')
      .transform(Number),
    doc: 'Tenant default: calibrated confidence needed to answer from the knowledge base (0.7 gave 96% precision on the Demo Bank).',
  },
  PARLEY_MATCHER: {
    services: ['ingress', 'router', 'cli'],
    default: 'tfidf',
    schema: z.enum(['tfidf', 'encoder']),
    doc: "The FAQ matcher: `tfidf` (words and character n-grams), or `encoder`, which also takes a sentence encoder's embeddings (Universal Sentence Encoder lite, in a thread of the router and ingress): 98.4% precision at 80% coverage against 97.8% on the Demo Bank, for about 120 MB more memory per process, 12 ms of CPU a question and minutes of training per knowledge base. The encoder is an optional npm dependency of Parley; nothing is downloaded at run time.",
  },
  PARLEY_KB_REFRESH_MS: {
    services: ['ingress', 'router'],
    default: '5000',
    schema: int(100, 3_600_000),
    doc: 'How often the router (and ingress, which routes the turns whose decision needs no session state) looks for a new knowledge base version and retrains on one.',
  },
  PARLEY_PROJECTION_QUIET_MS: {
    services: ['session-projector'],
    default: '30000',
    schema: int(10, 3_600_000),
    doc: "How long a session goes without a new event before the projector writes its row (a busy session's row is written every 24 events anyway; readers fold whatever is past it).",
  },
  PARLEY_RELAY_POLL_MS: {
    services: ['relay'],
    default: '100',
    schema: int(10, 60_000),
    doc: 'How often the relay looks for committed events that are not yet on JetStream.',
  },
  PORT: { services: ['ingress'], default: '3000', schema: int(1, 65535), doc: 'HTTP port of ingress.' },
  HOST: {
    services: ['ingress', 'router', 'session-projector', 'responder', 'relay'],
    default: '127.0.0.1',
    schema: z.string().min(1),
    doc: "Interface the HTTP servers listen on: ingress, and the workers' metrics ports (loopback by default; containers set 0.0.0.0).",
  },
  PARLEY_MAX_OPEN_TURNS: {
    services: ['ingress'],
    default: '2048',
    schema: int(1, 100_000),
    doc: 'Turn requests one ingress instance holds open at once; past it a turn is refused at once with 503 SERVICE.OVERLOADED and Retry-After.',
  },
  PARLEY_TURN_TIMEOUT_MS: {
    services: ['ingress'],
    default: '60000',
    schema: int(100, 600_000),
    doc: 'How long ingress waits for a turn to be answered before replying 504.',
  },
  PARLEY_SESSION_IDLE_SECONDS: {
    services: TENANT_DEFAULT,
    default: '1800',
    schema: int(1, 30 * 24 * 3600),
    doc: 'Tenant default: a session expires after this long without a turn (recorded as SessionExpired); 30 minutes.',
  },
  PARLEY_CONCURRENT_TURNS: {
    services: TENANT_DEFAULT,
    default: 'queue',
    schema: ConcurrentTurnPolicy,
    doc: "Tenant default: a turn arriving while the session's previous one is answered waits for it (`queue`) or interrupts it (`interrupt`).",
  },
  PARLEY_CALLER_USERS: {
    services: TENANT_DEFAULT,
    default: 'off',
    schema: z.enum(['on', 'off']).transform((v) => v === 'on'),
    doc: 'Tenant default: `on` makes a voice caller a user — the number a platform sends (Vapi `customer.number`) is mapped, as a keyed hash, to a Parley user id, so a second call resumes what is remembered about the caller. Opt-in: `off` keeps every call a stranger.',
  },
  PARLEY_RATE_LIMIT_PER_MINUTE: {
    services: TENANT_DEFAULT,
    default: '600',
    schema: int(1, 1_000_000),
    doc: 'Tenant default: requests per minute per API key (per ingress instance); more get 429 with Retry-After.',
  },
  PARLEY_TENANT_CACHE_MS: {
    services: ['ingress', 'router', 'responder'],
    default: '5000',
    schema: int(0, 600_000),
    doc: 'How long a service trusts what it read about a tenant and its API keys. `parley tenants set` and `keys revoke` tell the running services, which apply the change at once; this bounds it when that notice cannot reach them (NATS away, the embedded mode).',
  },
  PARLEY_DEV_API_KEY: {
    services: ['ingress'],
    default: undefined,
    schema: z
      .string()
      .min(16)
      .max(200)
      .regex(/^[\x21-\x7e]+$/, 'must be visible ASCII characters'),
    doc: 'For local use: at startup, ingress makes sure the tenant `default` exists with this API key.',
  },
  OPENAI_BASE_URL: {
    services: ['responder', 'cli'],
    default: 'https://api.openai.com/v1',
    schema: url(['http:', 'https:']),
    doc: 'Any OpenAI-compatible server.',
  },
  OPENAI_API_KEY: {
    services: ['responder', 'cli'],
    default: undefined,
    schema: z.string().min(1),
    doc: 'API key for OPENAI_BASE_URL; required when it is the OpenAI default.',
  },
  PARLEY_DEMO_LLM_URL: {
    services: ['responder'],
    default: undefined,
    schema: url(['http:', 'https:']),
    doc: 'An OpenAI-compatible demo LLM to answer with when neither OPENAI_API_KEY nor OPENAI_BASE_URL is set (docker-compose.yml points it at its demo-llm service, which echoes the user); the responder says so at start. Unset: the responder refuses to start without a key for the OpenAI default.',
  },
  PARLEY_MODEL: {
    services: ['responder', 'ingress', 'cli'],
    default: 'gpt-4o-mini',
    schema: z.string().min(1),
    doc: 'Model name sent to the LLM when the request names none (or `parley`).',
  },
  PARLEY_MODELS: {
    services: ['ingress'],
    default: undefined,
    schema: z
      .string()
      .transform((list) =>
        list
          .split(',')
          .map((name) => name.trim())
          .filter(Boolean),
      )
      .pipe(
        z
          .array(
            z
              .string()
              .max(200)
              .regex(/^[\x21-\x7e]+$/, 'model names are visible ASCII without spaces'),
          )
          .max(100),
      ),
    doc: 'Comma-separated models an OpenAI-compatible request may name besides `parley` and PARLEY_MODEL (the upstream must serve them); another is 404 model_not_found.',
  },
  PARLEY_SYSTEM_PROMPT: {
    services: ['responder', 'ingress', 'cli'],
    default: 'You are a helpful, concise assistant.',
    schema: z.string().min(1),
    doc: 'System message at the top of every LLM context (ingress and the CLI rebuild contexts with it to show what the LLM was given).',
  },
  PARLEY_CONTEXT_BUDGET_TOKENS: {
    services: TENANT_DEFAULT,
    default: '6000',
    schema: int(200, 1_000_000),
    doc: 'Tenant default: most tokens a stateful LLM input may hold: the rolling summary plus the most recent turns that fit. Once the turns after the summary pass half of it, older ones are folded into the summary (ConversationSummarized) after the reply, in the background; the summary keeps to a quarter of the budget.',
  },
  PARLEY_LLM_TIMEOUT_MS: {
    services: ['responder', 'cli'],
    default: '30000',
    schema: int(100, 600_000),
    doc: 'Timeout of one LLM call (per attempt).',
  },
  PARLEY_LLM_MAX_RETRIES: {
    services: ['responder', 'cli'],
    default: '2',
    schema: int(0, 10),
    doc: 'Retries of a failed LLM call (connection errors, 408/409/429/5xx).',
  },
  LOG_FORMAT: {
    services: ALL,
    default: 'auto',
    schema: z.enum(['auto', 'json', 'pretty']),
    doc: 'Log lines as JSON (one object a line: level, time, service, instance, and the request, tenant, session and turn ids where known) or pretty for a terminal; auto: pretty when writing to a terminal, JSON otherwise.',
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    services: ['ingress', 'router', 'session-projector', 'responder', 'relay'],
    default: undefined,
    schema: url(['http:', 'https:']),
    doc: 'OTLP/HTTP collector (e.g. http://localhost:4318): when set, each service exports its trace spans there (JSON to <endpoint>/v1/traces); unset, tracing is off.',
  },
  PARLEY_METRICS_TOKEN: {
    services: ['ingress'],
    default: undefined,
    schema: z.string().min(16, 'must be at least 16 characters'),
    doc: "When set, ingress's /metrics answers only with Authorization: Bearer <token> (the metrics name tenants); unset, it is open like /healthz.",
  },
  PARLEY_METRICS_PORT: {
    services: ['router', 'session-projector', 'responder', 'relay'],
    default: 'auto',
    schema: z.union([z.literal('auto'), int(0, 65_535)]),
    doc: "HTTP port of the worker's /metrics, /healthz and /readyz (on HOST). auto: router 9101, session-projector 9102, responder 9103, relay 9104, or any free port when that one is taken (a second replica on the host); a number: that port; 0: none.",
  },
  LOG_LEVEL: {
    services: ALL,
    default: 'log',
    schema: z.enum(['error', 'warn', 'log', 'debug', 'verbose']),
    doc: 'Most verbose level printed.',
  },
} as const satisfies Record<string, { services: readonly ServiceName[]; default: string | undefined; schema: z.ZodType; doc: string }>;

export type SettingName = keyof typeof SETTINGS;
type Parsed<K extends SettingName> = z.output<(typeof SETTINGS)[K]['schema']>;
type ForService<S extends ServiceName> = {
  [K in SettingName as S extends (typeof SETTINGS)[K]['services'][number] ? K : never]: (typeof SETTINGS)[K]['default'] extends string
    ? Parsed<K>
    : Parsed<K> | undefined;
};
export type Settings<S extends ServiceName> = ForService<S> & { explicit: ReadonlySet<SettingName> };

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  readonly code = 'CONFIG.INVALID';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export function settingsFor(service: ServiceName): SettingName[] {
  return (Object.keys(SETTINGS) as SettingName[]).filter((name) => (SETTINGS[name].services as readonly ServiceName[]).includes(service));
}

/** Reads and validates a service's settings; throws SettingsError listing every bad variable. */
export function parseSettings<S extends ServiceName>(service: S, env: Record<string, string | undefined>): Settings<S> {
  const out: Record<string, unknown> = {};
  const explicit = new Set<SettingName>();
  const problems: string[] = [];
  for (const name of settingsFor(service)) {
    const def = SETTINGS[name];
    const given = env[name];
    const raw = given === undefined || given === '' ? def.default : given;
    if (given !== undefined && given !== '') explicit.add(name);
    if (raw === undefined) {
      out[name] = undefined;
      continue;
    }
    const result = (def.schema as z.ZodType).safeParse(raw);
    if (result.success) out[name] = result.data;
    else problems.push(`${name}=${JSON.stringify(raw)}: ${result.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (problems.length) throw new SettingsError(problems);
  return Object.assign(out, { explicit }) as unknown as Settings<S>;
}

/** The deployment's defaults for every tenant setting, from a service's settings. */
type TenantDefaultName =
  | 'PARLEY_ROUTING_POLICY'
  | 'PARLEY_FAQ_THRESHOLD'
  | 'PARLEY_CONTEXT_BUDGET_TOKENS'
  | 'PARLEY_SESSION_IDLE_SECONDS'
  | 'PARLEY_RATE_LIMIT_PER_MINUTE'
  | 'PARLEY_CONCURRENT_TURNS'
  | 'PARLEY_CALLER_USERS';
export function tenantDefaults(settings: Pick<Settings<'ingress'>, TenantDefaultName>): ResolvedTenantSettings {
  return {
    routingPolicy: settings.PARLEY_ROUTING_POLICY,
    faqThreshold: settings.PARLEY_FAQ_THRESHOLD,
    contextBudgetTokens: settings.PARLEY_CONTEXT_BUDGET_TOKENS,
    sessionIdleSeconds: settings.PARLEY_SESSION_IDLE_SECONDS,
    rateLimitPerMinute: settings.PARLEY_RATE_LIMIT_PER_MINUTE,
    concurrentTurns: settings.PARLEY_CONCURRENT_TURNS,
    callerUsers: settings.PARLEY_CALLER_USERS,
  };
}
