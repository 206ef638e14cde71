// `npm run eval:routing`: how well the FAQ matcher routes, by 5-fold cross-validation on the Demo
// Bank's questions (every question predicted by a model that never saw it) and on out-of-domain
// utterances from other domains. Prints figures; it is an evaluation, not a test with a threshold.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const k = require('../dist/libs/knowledge/src/index.js');

const TARGET_PRECISION = 0.96;
const FOLDS = 5;
const questions = k
  .parseCsv(readFileSync(new URL('../data/demo-bank/questions.csv', import.meta.url), 'utf8'))
  .slice(1)
  .map(([text, intent]) => ({ text, intent }));
const background = k.outOfScopeExamples();
const outOfDomain = readFileSync(new URL('../data/eval/out-of-domain.txt', import.meta.url), 'utf8').split('\n').filter(Boolean);
const options = k.DEFAULT_TRAINING;

console.log(
  `Demo Bank: ${questions.length} questions, ${new Set(questions.map((q) => q.intent)).size} intents, ${background.length} out-of-scope examples; ` +
    `evaluated on ${outOfDomain.length} other out-of-domain utterances`,
);
let t = performance.now();
const heldOut = k.heldOutPredictions(questions, FOLDS, options, background);
console.log(`${FOLDS}-fold cross-validation: ${((performance.now() - t) / 1000).toFixed(1)} s`);
const temperature = k.fitTemperature(heldOut);
const choice = k.chooseThreshold(heldOut, temperature, TARGET_PRECISION);
const figures = k.heldOutFigures(heldOut, temperature, choice.threshold);

t = performance.now();
const model = k.IntentClassifier.train([...questions, ...background], { ...options, temperature });
const trainSeconds = (performance.now() - t) / 1000;
// the model's arrays (weights, biases, idf); its vocabulary map adds a few MB of JS heap
const modelMb = model.sizeBytes / 2 ** 20;
const oodAnswered = outOfDomain.filter((text) => model.classify(text, 1)[0].confidence >= choice.threshold);

const pct = (x) => `${(100 * x).toFixed(1)}%`;
const rows = [
  ['top-1 intent accuracy (held out)', pct(figures.accuracy), '≥ 90%'],
  [`answered from the KB (confidence ≥ ${choice.threshold.toFixed(3)})`, pct(figures.coverage), '≥ 75%'],
  ['correct among answered', pct(figures.precision), '≥ 96%'],
  ['out-of-domain answered from the KB', pct(oodAnswered.length / outOfDomain.length), '≤ 3%'],
  ['softmax temperature (fitted on held-out)', temperature.toFixed(2), ''],
  ['training on all questions', `${trainSeconds.toFixed(1)} s, ${modelMb.toFixed(0)} MB of weights`, ''],
];
const width = Math.max(...rows.map((r) => r[0].length));
console.log('');
for (const [name, value, target] of rows) console.log(`${name.padEnd(width)}  ${value.padStart(14)}  ${target}`);
if (oodAnswered.length) {
  console.log('\nOut-of-domain utterances answered (first 5):');
  for (const text of oodAnswered.slice(0, 5)) {
    const [top] = model.classify(text, 1);
    console.log(`  ${JSON.stringify(text)} → ${top.intent} (${top.confidence.toFixed(3)})`);
  }
}

// Knowledge bases in other scripts (data/eval/multilingual.json: small ones the tests write), each
// trained as the router trains a tenant's and asked questions it never saw, at the default threshold.
const { languages } = JSON.parse(readFileSync(new URL('../data/eval/multilingual.json', import.meta.url), 'utf8'));
const { SETTINGS } = require('../dist/libs/contracts/src/index.js');
const threshold = Number(SETTINGS.PARLEY_FAQ_THRESHOLD.default);
console.log(`\nOther scripts (small knowledge bases, 3 intents, 8 examples each; held-out questions; answered at the default threshold ${threshold}):`);
const langRows = [['language', 'script', 'top-1 (held out)', 'answered', 'correct among answered', 'English out-of-domain answered']];
for (const [code, { script, intents }] of Object.entries(languages)) {
  const matcher = k.FaqMatcher.train(1, Object.entries(intents).map(([intent, { answer, train }]) => ({ intent, answer, examples: train })));
  const asked = Object.entries(intents).flatMap(([intent, { heldOut }]) => heldOut.map((text) => ({ text, intent, best: matcher.best(text) })));
  const answered = asked.filter((q) => q.best.confidence >= threshold);
  const right = (qs) => qs.filter((q) => q.best.intent === q.intent).length;
  const strays = outOfDomain.filter((text) => matcher.best(text).confidence >= threshold).length;
  langRows.push([
    code,
    script,
    `${right(asked)}/${asked.length}`,
    `${answered.length}/${asked.length}`,
    answered.length ? `${right(answered)}/${answered.length}` : '-',
    pct(strays / outOfDomain.length),
  ]);
}
const widths = langRows[0].map((_, i) => Math.max(...langRows.map((r) => String(r[i]).length)));
for (const row of langRows) console.log('  ' + row.map((cell, i) => String(cell).padEnd(widths[i])).join('  '));
