/** What each command does, how to call it, and examples: `parley <command> --help`. */
interface CommandHelp {
  usage: string[];
  about: string;
  options?: string[];
  examples: string[];
}

export const COMMANDS: Record<string, CommandHelp> = {
  sessions: {
    usage: ['parley sessions [--user <id>] [--since <time|30m|2h|7d>] [--limit <n>] [--json]'],
    about: 'Find conversations of the tenant, most recently active first.',
    examples: ['parley sessions --user ada --since 2h', 'parley sessions --limit 5 --json'],
  },
  replay: {
    usage: ['parley replay <sessionId> [--at <version|ISO time>] [--context] [--json]'],
    about:
      'A session as a timeline: each event, and under each answer the context the LLM was given (rebuilt from the log with\n' +
      "today's code and checked against the fingerprint recorded with the reply), tokens and timings; then the state the\n" +
      'events fold to. Erased data shows as erased.',
    options: [
      '--at <v|time>   the session as it was at that stream version or time',
      '--context       show each context message by message',
      '--json          everything, machine-readable',
    ],
    examples: [
      'parley replay 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01',
      'parley replay 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01 --at 7 --context',
      'parley replay 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01 --at 2026-11-25T10:00:00Z --json',
    ],
  },
  diff: {
    usage: ['parley diff <sessionId> --from <version> --to <version> [--json]'],
    about: "What changed in the session's state between two versions.",
    examples: ['parley diff 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01 --from 4 --to 9'],
  },
  rerun: {
    usage: [
      'parley rerun <sessionId> [--from-turn <n>] [--routing-policy <p>] [--faq-threshold <x>] [--json]',
      'parley rerun <sessionId> --live [--model <name>] [--prompt <file>] [--from-turn <n>] [--json]',
    ],
    about:
      "Runs today's router and context building over the recorded turns. Without --live the answers come from the log:\n" +
      'every decision and context must match the recorded ones, else the divergence is shown and the exit code is 1.\n' +
      'With --live the configured LLM (OPENAI_BASE_URL, PARLEY_MODEL) answers instead, and recorded and what-if\n' +
      'conversations are shown side by side. A rerun never writes anything.',
    options: [
      '--from-turn <n>        start at turn n (1-based)',
      '--routing-policy <p>   try hybrid, stateful or stateless instead of the tenant’s',
      '--faq-threshold <x>    try another FAQ confidence threshold',
      '--live                 call the LLM; --model <name> and --prompt <file> (a system prompt) change it',
    ],
    examples: [
      'parley rerun 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01',
      'parley rerun 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01 --faq-threshold 0.8',
      'parley rerun 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01 --live --prompt prompts/support.txt --from-turn 3',
    ],
  },
  routing: {
    usage: [
      'parley routing what-if [--since <time|30m|2h|7d>] [--faq-threshold <x>] [--routing-policy <p>] [--kb <version|latest|file> [--answers <file.json>]] [--limit <n>] [--json]',
    ],
    about:
      "How the tenant's recent traffic (default: the last 7 days) would have been routed with another FAQ threshold,\n" +
      'routing policy or knowledge base: every routed turn, in sessions and without, decided again by today’s router on the\n' +
      'history as it happened, and compared with the log — how many answers move between the knowledge base and the LLM or\n' +
      'to another knowledge-base answer, and which; what becomes of answers the user said had not helped; the LLM tokens\n' +
      'saved (recorded) or added (estimated). Nothing is written and no LLM is called.',
    options: [
      '--faq-threshold <x>    the threshold to try',
      '--routing-policy <p>   hybrid, stateful or stateless',
      '--kb <v|latest|file>   a knowledge base version, the newest, or a file not imported yet (CSV with --answers, or JSON)',
      '--limit <n>            conversations read at most (default 100000)',
    ],
    examples: [
      'parley routing what-if --faq-threshold 0.8',
      'parley routing what-if --since 2h --kb latest --json',
      'parley routing what-if --kb new-kb.json',
    ],
  },
  fork: {
    usage: ['parley fork <sessionId> [--at <version>] [--json]'],
    about:
      'A new session that starts from the session as it stood at a version (default: its latest), to try another path\nthrough the API. The original is unchanged.',
    examples: ['parley fork 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01 --at 7'],
  },
  tail: {
    usage: ['parley tail [--session <id>] [--type <Type,...>] [--limit <n>] [--json]'],
    about: "Follows the tenant's events as they are committed, in commit order, until interrupted (or --limit events).",
    examples: [
      'parley tail',
      'parley tail --session 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01 --type UserMessageReceived,AssistantReplied',
      'parley tail --json | jq .type',
    ],
  },
  export: {
    usage: ['parley export <sessionId> > out.ndjson', 'parley export --all [--since <time|30m|2h|7d>] > out.ndjson'],
    about:
      'Writes conversations as NDJSON with ids, versions and times intact (personal data readable: keep the file safe).\nErased streams are left out.',
    examples: [
      'parley export 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01 > case-1234.ndjson',
      'parley export --all --since 7d --tenant acme > acme-week.ndjson',
    ],
  },
  import: {
    usage: ['parley import <file.ndjson>'],
    about:
      'Loads an export into the tenant. Idempotent: events already there (same ids) are skipped; a stream holding\nother events at the same versions is refused. The relay publishes what was imported.',
    examples: ['parley import case-1234.ndjson --database-url postgres://postgres@staging-db:5432/parley'],
  },
  rebuild: {
    usage: ['parley rebuild [--json]'],
    about: 'Drops and refolds every read model from the log, with progress, rate and ETA on a terminal.',
    examples: ['parley rebuild'],
  },
  migrate: {
    usage: ['parley migrate [--create-db]'],
    about: 'Applies database migrations (and creates the database if absent).',
    examples: ['parley migrate --create-db'],
  },
  kb: {
    usage: [
      'parley kb import <file.csv> --answers <answers.json> [--if-empty]',
      'parley kb import <file.json> [--if-empty]',
      'parley kb list [--version <n>] [--json]',
    ],
    about: 'Adds a knowledge base version (CSV: text,category; JSON: {entries}) or shows the latest (or a given) one.',
    examples: ['parley kb import data/demo-bank/questions.csv --answers data/demo-bank/answers.json', 'parley kb list --version 2'],
  },
  keys: {
    usage: [
      'parley keys create --tenant <tenant> [--name <label>] [--json]',
      'parley keys list [--tenant <tenant>] [--json]',
      'parley keys revoke <keyId>',
    ],
    about: 'API keys: created (shown once; only the hash is stored; creates the tenant), listed, revoked (within PARLEY_TENANT_CACHE_MS).',
    examples: ['parley keys create --tenant acme --name "voice agent"', 'parley keys revoke 6f1c2d3e-...'],
  },
  tenants: {
    usage: [
      'parley tenants list [--json]',
      'parley tenants show [--tenant <tenant>] [--json]',
      'parley tenants set --tenant <tenant> [--routing-policy hybrid|stateful|stateless] [--faq-threshold <0..1>]\n                   [--context-budget <tokens>] [--idle-seconds <s>] [--concurrent-turns queue|interrupt] [--rate-limit <per minute>]\n                   [--caller-users on|off] [--models <m1,m2,...>] [--default-model <model>] [--llm-base-url <url>]\n                   [--llm-api-key-file <file>|-|default] [--transfer-number <+E.164>]',
    ],
    about:
      'Tenants and their own settings ("default" reverts one to the deployment default). --caller-users on: a voice caller\'s number names a Parley user, so a second call resumes what is remembered. --models, --default-model: the models its requests may name and the one they get; --llm-base-url and --llm-api-key-file (a file, or - for standard input): its own OpenAI-compatible server and key. The key is kept sealed and never shown; without a key of its own, a tenant\'s own server gets none. --transfer-number: where a voice call may be transferred when the caller asks for a person (Retell).',
    examples: [
      'parley tenants set --tenant acme --routing-policy stateful --context-budget 4000',
      'parley tenants set --tenant clinic --caller-users on',
      'parley tenants set --tenant acme --models gpt-4.1,gpt-4.1-mini --default-model gpt-4.1-mini',
      'parley tenants set --tenant acme --llm-base-url https://llm.acme.example/v1 --llm-api-key-file /run/secrets/acme-llm-key',
    ],
  },
  'erase-user': {
    usage: ['parley erase-user <userId>'],
    about: "Erases a user's personal data (keys destroyed, read models removed); idempotent.",
    examples: ['parley erase-user ada'],
  },
  dlq: {
    usage: ['parley dlq list [--json]', 'parley dlq retry <seq>... | --all'],
    about: "Messages services gave up on, with the reason; retry re-publishes them on their original subjects (in today's layout).",
    examples: ['parley dlq list', 'parley dlq retry 3 7'],
  },
  health: {
    usage: ['parley health <service>...'],
    about: 'Exit 0 if every named service (router, session-projector, responder, relay) answers over NATS.',
    examples: ['parley health router responder'],
  },
};

const COMMON = [
  '--database-url <url>   PostgreSQL (default: $DATABASE_URL or postgres://postgres@127.0.0.1:5432/parley)',
  '--nats-url <url>       NATS (default: $NATS_URL or nats://127.0.0.1:4222)',
  '--tenant <name>        tenant to act on (default: default, the tenant PARLEY_DEV_API_KEY seeds)',
  '-h, --help             help (parley <command> --help for one command)',
];

/** Options every command takes. */
export const GLOBAL_OPTIONS = new Set(['help', 'tenant', 'database-url', 'nats-url']);

/** The options a command takes: those its help names (so the help cannot leave one out), and the global ones. */
export function optionsOf(name: string): Set<string> {
  const help = COMMANDS[name];
  const text = `${help.usage.join(' ')} ${(help.options ?? []).join(' ')}`;
  return new Set([...GLOBAL_OPTIONS, ...[...text.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1])]);
}

export function commandHelp(name: string): string {
  const help = COMMANDS[name];
  return [
    `Usage:\n${help.usage.map((u) => `  ${u}`).join('\n')}`,
    '',
    help.about,
    ...(help.options ? ['', 'Options:', ...help.options.map((o) => `  ${o}`)] : []),
    '',
    'Common options:',
    ...COMMON.map((o) => `  ${o}`),
    '',
    'Examples:',
    ...help.examples.map((e) => `  npm run parley -- ${e.replace(/^parley /, '')}`),
  ].join('\n');
}

export const USAGE = [
  'parley — inspect, debug and operate a Parley cluster',
  '',
  'Usage:',
  ...Object.values(COMMANDS).flatMap((c) => c.usage.map((u) => `  ${u}`)),
  '',
  'Options:',
  ...COMMON.map((o) => `  ${o}`),
  '',
  'Examples:',
  '  npm run parley -- sessions --user ada --since 2h',
  '  npm run parley -- replay 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01 --context',
  '  npm run parley -- rerun 3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01',
  '  npm run parley -- replay --help',
].join('\n');
