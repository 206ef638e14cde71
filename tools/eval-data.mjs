// What the routing evaluations (`eval:routing`, `eval:encoder`) measure on: the Demo Bank's
// questions, the out-of-scope examples every matcher trains against, other domains' utterances
// held out from training, the folds and the matcher's training settings.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const k = require('../dist/libs/knowledge/src/index.js');

export const FOLDS = 5;
export const questions = k
  .parseCsv(readFileSync(new URL('../data/demo-bank/questions.csv', import.meta.url), 'utf8'))
  .slice(1)
  .map(([text, intent]) => ({ text, intent }));
export const background = k.outOfScopeExamples();
export const outOfDomain = readFileSync(new URL('../data/eval/out-of-domain.txt', import.meta.url), 'utf8')
  .split('\n')
  .filter(Boolean);
export const options = k.DEFAULT_TRAINING;
