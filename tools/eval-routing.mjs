// `npm run eval:routing`: how well the FAQ matcher routes, by 5-fold cross-validation on the Demo
// Bank's questions (every question predicted by a model that never saw it) and on out-of-domain
// utterances from other domains. Prints figures; it is an evaluation, not a test with a threshold.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { background, FOLDS, k, options, outOfDomain, questions } from './eval-data.mjs';

const require = createRequire(import.meta.url);

const TARGET_PRECISION = 0.96;

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
console.log(
  `\nOther scripts (small knowledge bases, 3 intents, 8 examples each; held-out questions; answered at the default threshold ${threshold}):`,
);
const langRows = [['language', 'script', 'top-1 (held out)', 'answered', 'correct among answered', 'English out-of-domain answered']];
for (const [code, { script, intents }] of Object.entries(languages)) {
  const matcher = k.FaqMatcher.train(
    1,
    Object.entries(intents).map(([intent, { answer, train }]) => ({ intent, answer, examples: train })),
  );
  const asked = Object.entries(intents).flatMap(([intent, { heldOut }]) =>
    heldOut.map((text) => ({ text, intent, best: matcher.best(text) })),
  );
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

// Follow-ups in context: a session's turn read alone, as the routing policy did before it read the
// turn before (`contextMatch`), against the policy now. The same policy code the router runs
// (routeTurn), with the matcher of this evaluation (trained on every Demo Bank question, held-out
// questions where it matters), at the threshold chosen above.
const c = require('../dist/libs/conversation/src/index.js');
const routeWith = (matcher, history, text, inContext) => {
  const [top] = matcher.classify(text, 1);
  const match = { intent: top.intent, confidence: top.confidence, kbVersion: 1 };
  let contextMatch = null;
  if (inContext && history.previousText) {
    const [ctx] = matcher.classify(c.followUpText(history.previousText, text), 1);
    contextMatch = { intent: ctx.intent, confidence: ctx.confidence, kbVersion: 1 };
  }
  return c.routeTurn({
    policy: 'hybrid',
    requestedMode: 'auto',
    inSession: true,
    text,
    match,
    threshold: choice.threshold,
    history,
    contextMatch,
  });
};
/** A session's user turns in order; what each became, with the history the router would have read. */
const session = (matcher, texts, inContext) => {
  let history = { llmTurns: 0, lastTurn: null, previousText: null };
  return texts.map((text) => {
    const decision = routeWith(matcher, history, text, inContext);
    history = {
      llmTurns: history.llmTurns + (decision.route === 'llm' && decision.mode === 'stateful' ? 1 : 0),
      lastTurn: { route: decision.route, intent: decision.features.intent },
      previousText: text,
    };
    return decision;
  });
};
const { followUps } = JSON.parse(readFileSync(new URL('../data/eval/follow-ups.json', import.meta.url), 'utf8'));
const sgd = readSgd();
// topic switches: two held-out questions of different intents, each answered right alone; does the
// second stay a knowledge-base answer when asked after the first? (what reading the turn before costs)
const random = seeded(7);
const foldTest = questions.filter((_, i) => i % FOLDS === 0);
const foldModel = k.IntentClassifier.train([...questions.filter((_, i) => i % FOLDS !== 0), ...background], { ...options, temperature });
const alone = foldTest.filter((q) => {
  const [top] = foldModel.classify(q.text, 1);
  return top.intent === q.intent && top.confidence >= choice.threshold;
});
const pairs = [];
while (pairs.length < 1000) {
  const a = alone[Math.floor(random() * alone.length)];
  const b = alone[Math.floor(random() * alone.length)];
  if (a.intent !== b.intent) pairs.push([a, b]);
}

console.log('\nFollow-ups in context (before: each turn judged alone; after: with what the user said before it):');
const followRows = [['', 'before', 'after']];
for (const inContext of [false, true]) {
  const col = inContext ? 2 : 1;
  const outcomes = followUps.map(({ previous, followUp, refersTo }) => {
    const [, decision] = session(model, [previous, followUp], inContext);
    return decision.route === 'faq' ? (decision.features.intent === refersTo ? 'right' : 'wrong') : 'llm';
  });
  const count = (o) => outcomes.filter((x) => x === o).length;
  const sgdTurns = sgd.map((texts) => session(model, texts, inContext));
  const sgdAnswered = sgdTurns.flat().filter((d) => d.route === 'faq').length;
  const switches = pairs.map(([a, b]) => session(foldModel, [a.text, b.text], inContext)[1]);
  const kept = switches.filter((d, i) => d.route === 'faq' && d.features.intent === pairs[i][1].intent).length;
  const set = (row, label, value) => ((followRows[row] ??= [label, '', ''])[col] = value);
  set(1, `written follow-ups (${followUps.length}): answered from the KB wrongly`, `${count('wrong')}`);
  set(2, '  answered from the KB rightly', `${count('right')}`);
  set(3, '  sent to the LLM with the conversation', `${count('llm')}`);
  set(
    4,
    `SGD user turns (${sgdTurns.flat().length}, ${sgd.length} dialogues, no banking): answered from the KB (all wrong)`,
    `${sgdAnswered}`,
  );
  set(5, `topic switches (${pairs.length} held-out pairs): second still answered from the KB`, pct(kept / pairs.length));
}
const fw = followRows[0].map((_, i) => Math.max(...followRows.map((r) => String(r[i]).length)));
for (const row of followRows)
  console.log('  ' + row.map((cell, i) => (i === 0 ? String(cell).padEnd(fw[i]) : String(cell).padStart(fw[i]))).join('  '));

function readSgd() {
  const dir = new URL('../../shared/data/sgd/', import.meta.url);
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .flatMap((f) => JSON.parse(readFileSync(new URL(f, dir), 'utf8')))
      .map((d) => d.turns.filter((t) => t.speaker === 'USER').map((t) => t.utterance));
  } catch {
    console.log('  (../shared/data/sgd not found: the SGD row is empty)');
    return [];
  }
}

function seeded(seed) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}
