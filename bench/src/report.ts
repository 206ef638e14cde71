import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

/** One scenario's outcome: a table for people and figures for files. */
export interface ScenarioResult {
  id: string;
  title: string;
  /** What was run, in words (sizes, concurrency). */
  setup: string;
  columns: string[];
  rows: (string | number)[][];
  /** The targets this run is held to, each with whether it was met. */
  targets: { target: string; actual: string; met: boolean }[];
  figures: Record<string, unknown>;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  postgres: string;
}

export async function describeMachine(databaseUrl: string): Promise<Machine> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('show server_version');
    return {
      cpu: cpus()[0]?.model.trim() ?? 'unknown',
      cores: cpus().length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      postgres: rows[0].server_version,
    };
  } finally {
    await client.end();
  }
}

function table(columns: string[], rows: (string | number)[][]): string {
  const cells = [columns, ...rows.map((r) => r.map(String))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(columns), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map((r) => line(r.map(String)))].join('\n');
}

export function render(result: ScenarioResult): string {
  const targets = result.targets.map((t) => `- ${t.met ? 'met' : 'NOT met'}: ${t.target} (this run: ${t.actual})`);
  return [`### ${result.title}`, '', result.setup, '', table(result.columns, result.rows), '', ...targets].join('\n');
}

const BEGIN = '<!-- bench:results:begin -->';
const END = '<!-- bench:results:end -->';
const scenarioBegin = (id: string) => `<!-- bench:${id}:begin -->`;
const scenarioEnd = (id: string) => `<!-- bench:${id}:end -->`;

/** The scenarios' blocks of the results section, by id, in their order. */
function blocksOf(section: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const match of section.matchAll(/<!-- bench:([\w-]+):begin -->[\s\S]*?<!-- bench:\1:end -->/g)) blocks.set(match[1], match[0]);
  return blocks;
}

/**
 * Writes the run to `bench/results/<time>.json` and updates the results section of
 * `docs/benchmarks.md` (between its markers): each scenario run replaces its own block, with the
 * run's time and machine; scenarios not run this time keep their last figures.
 */
export function save(root: string, machine: Machine, results: ScenarioResult[], startedAt: Date, order: string[]): string {
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ startedAt, machine, results }, null, 2) + '\n');
  const docPath = join(root, 'docs', 'benchmarks.md');
  const doc = readFileSync(docPath, 'utf8');
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${docPath} has no ${BEGIN} … ${END} section`);
  const blocks = blocksOf(doc.slice(begin, end));
  const run = `_Run of ${startedAt.toISOString()} on ${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB, Node ${machine.node}, PostgreSQL ${machine.postgres}._`;
  for (const result of results)
    blocks.set(result.id, [scenarioBegin(result.id), render(result), '', run, scenarioEnd(result.id)].join('\n'));
  const ids = [...order.filter((id) => blocks.has(id)), ...[...blocks.keys()].filter((id) => !order.includes(id))];
  const section = [BEGIN, '', ...ids.map((id) => blocks.get(id)! + '\n'), END].join('\n');
  writeFileSync(docPath, doc.slice(0, begin) + section + doc.slice(end + END.length));
  return file;
}
