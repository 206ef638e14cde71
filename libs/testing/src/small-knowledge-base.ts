import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './cluster';

/** Five intents of the Demo Bank knowledge base, enough for a confident match and quick to train. */
export function smallKnowledgeBase(dir: string): { questions: string; answers: string } {
  const demo = join(repoRoot(), 'data/demo-bank');
  const keep = new Set(['age_limit', 'card_arrival', 'activate_my_card', 'apple_pay_or_google_pay', 'exchange_rate']);
  const rows = readFileSync(join(demo, 'questions.csv'), 'utf8').split('\n');
  const questions = join(dir, 'questions.csv');
  writeFileSync(questions, [rows[0], ...rows.slice(1).filter((row) => keep.has(row.slice(row.lastIndexOf(',') + 1).trim()))].join('\n'));
  const all = JSON.parse(readFileSync(join(demo, 'answers.json'), 'utf8')) as Record<string, string>;
  const answers = join(dir, 'answers.json');
  writeFileSync(answers, JSON.stringify(Object.fromEntries(Object.entries(all).filter(([intent]) => keep.has(intent)))));
  return { questions, answers };
}
