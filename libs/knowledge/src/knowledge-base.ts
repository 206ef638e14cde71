import { KnowledgeBaseDocument, type KnowledgeBaseEntry } from '@parley/contracts';
import { parseCsv } from './csv';
import { featureCounts } from './text-features';

export class KnowledgeBaseFormatError extends Error {
  override readonly name = 'KnowledgeBaseFormatError';
  readonly code = 'KB.INVALID';
}

/**
 * Builds entries from a `text,category` CSV of example questions plus an answer per category.
 * Every category needs an answer and every answer a category: a mismatch is named, not skipped.
 */
export function entriesFromCsv(csv: string, answers: Record<string, string>): KnowledgeBaseEntry[] {
  let rows: string[][];
  try {
    rows = parseCsv(csv);
  } catch (error) {
    throw new KnowledgeBaseFormatError(`Invalid CSV: ${(error as Error).message}`);
  }
  const [header, ...data] = rows;
  if (!header || header[0]?.trim() !== 'text' || header[1]?.trim() !== 'category') {
    throw new KnowledgeBaseFormatError('The CSV must start with the header "text,category"');
  }
  const examples = new Map<string, string[]>();
  data.forEach((row, i) => {
    const [text, category] = row.map((f) => f.trim());
    if (row.length !== 2 || !text || !category) throw new KnowledgeBaseFormatError(`CSV row ${i + 2} needs a text and a category`);
    examples.set(category, [...(examples.get(category) ?? []), text]);
  });
  const unanswered = [...examples.keys()].filter((intent) => !answers[intent]);
  const unused = Object.keys(answers).filter((intent) => !examples.has(intent));
  if (unanswered.length || unused.length) {
    throw new KnowledgeBaseFormatError(
      [
        unanswered.length ? `no answer for: ${unanswered.join(', ')}` : '',
        unused.length ? `answers without example questions: ${unused.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; '),
    );
  }
  return validated([...examples].map(([intent, list]) => ({ intent, examples: list, answer: answers[intent] })));
}

/** Validates a JSON knowledge base document. */
export function entriesFromJson(json: unknown): KnowledgeBaseEntry[] {
  return validated((json as { entries?: unknown })?.entries);
}

function validated(entries: unknown): KnowledgeBaseEntry[] {
  const parsed = KnowledgeBaseDocument.safeParse({ entries });
  if (!parsed.success) {
    throw new KnowledgeBaseFormatError(
      parsed.error.issues
        .map((i) => `${i.path.join('.') || 'entries'}: ${i.message}`)
        .slice(0, 5)
        .join('; '),
    );
  }
  return parsed.data.entries;
}

/**
 * Examples the matcher can make nothing of (no letters or numbers in any script: emoji, symbols,
 * punctuation), and the entries all of whose examples are such — those can never be matched.
 */
export function featurelessExamples(entries: readonly KnowledgeBaseEntry[]): { examples: number; entries: string[] } {
  let examples = 0;
  const entriesWithout: string[] = [];
  for (const entry of entries) {
    const empty = entry.examples.filter((text) => featureCounts(text).size === 0).length;
    examples += empty;
    if (empty === entry.examples.length) entriesWithout.push(entry.intent);
  }
  return { examples, entries: entriesWithout };
}
