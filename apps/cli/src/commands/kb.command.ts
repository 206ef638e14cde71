import { openDatabase } from '../connections';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { KnowledgeBaseAnswers } from '@parley/contracts';
import { KnowledgeBaseRepository } from '@parley/event-store';
import { entriesFromCsv, entriesFromJson, featurelessExamples, KnowledgeBaseFormatError } from '@parley/knowledge';
import { CliError } from '../cli-error';
import { style } from '../output';

export interface KbImportOptions {
  file: string;
  /** For a CSV: the `{ intent: answer }` JSON file. */
  answers?: string;
  /** Import only when the tenant has no knowledge base yet (what `npm start` does). */
  ifEmpty: boolean;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(`Cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readText(path));
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
}

export function entriesOf(options: Pick<KbImportOptions, 'file' | 'answers'>) {
  try {
    if (extname(options.file).toLowerCase() === '.csv') {
      if (!options.answers) throw new CliError('A CSV import needs --answers <file.json> with one answer per category', 2);
      const answers = KnowledgeBaseAnswers.safeParse(readJson(options.answers));
      if (!answers.success) throw new CliError(`${options.answers} must map each category to a non-empty answer`);
      return entriesFromCsv(readText(options.file), answers.data);
    }
    if (options.answers) throw new CliError('--answers is only for CSV imports; a JSON file carries its answers', 2);
    return entriesFromJson(readJson(options.file));
  } catch (error) {
    if (error instanceof KnowledgeBaseFormatError) throw new CliError(`${options.file}: ${error.message}`);
    throw error;
  }
}

export async function kbImport(databaseUrl: string, tenantId: string, options: KbImportOptions): Promise<string> {
  const entries = entriesOf(options);
  // what the matcher can make nothing of is said before it is stored (and stored all the same)
  const featureless = featurelessExamples(entries);
  if (featureless.examples) {
    const never = featureless.entries.length
      ? `; ${featureless.entries.length} entries have no other, so they can never be matched: ${featureless.entries.join(', ')}`
      : '';
    process.stderr.write(`parley: warning: ${featureless.examples} example question(s) have no letters or numbers to match on${never}\n`);
  }
  const database = await openDatabase(databaseUrl, { max: 1 });
  try {
    const repository = new KnowledgeBaseRepository(database.db);
    if (options.ifEmpty) {
      const latest = await repository.latest(tenantId);
      if (latest) return `Tenant ${tenantId} already has knowledge base version ${latest.version}; nothing imported`;
    }
    const version = await repository.publish(tenantId, entries, options.file);
    const examples = entries.reduce((n, e) => n + e.examples.length, 0);
    return `Imported ${entries.length} entries (${examples} example questions) as knowledge base version ${version} of tenant ${tenantId}`;
  } finally {
    await database.close();
  }
}

export async function kbList(databaseUrl: string, tenantId: string, options: { version?: number; json: boolean }): Promise<string> {
  const database = await openDatabase(databaseUrl, { max: 1 });
  try {
    const repository = new KnowledgeBaseRepository(database.db);
    const kb = options.version ? await repository.get(tenantId, options.version) : await repository.latest(tenantId);
    if (!kb)
      throw new CliError(
        options.version
          ? `Tenant ${tenantId} has no knowledge base version ${options.version}`
          : `Tenant ${tenantId} has no knowledge base`,
      );
    const versions = await repository.versions(tenantId);
    if (options.json) return JSON.stringify({ ...kb, versions }, null, 2);
    return [
      style.bold(`Knowledge base of tenant ${tenantId}, version ${kb.version}`) +
        style.dim(` (from ${kb.source}, ${kb.createdAt}; ${versions.length} version${versions.length === 1 ? '' : 's'})`),
      '',
      ...kb.entries.map(
        (e) =>
          `${style.cyan(e.intent)} ${style.dim(`(${e.examples.length} examples, e.g. ${JSON.stringify(e.examples[0])})`)}\n    ${e.answer}`,
      ),
    ].join('\n');
  } finally {
    await database.close();
  }
}
