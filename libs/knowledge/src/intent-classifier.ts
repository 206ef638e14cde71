import { TfIdf, type SparseVector } from './text-features';

export interface LabelledText {
  text: string;
  intent: string;
}

/**
 * The class of examples a knowledge base must not answer (chit-chat, other domains). Trained like
 * an intent; never returned as a match.
 */
export const OUT_OF_SCOPE = '__out_of_scope__';

export interface IntentScore {
  intent: string;
  /** Calibrated probability that this is the right intent. */
  confidence: number;
}

export interface TrainingOptions {
  epochs?: number;
  /** L2 regularisation strength. */
  l2?: number;
  learningRate?: number;
  minDf?: number;
  /** Deterministic shuffling. */
  seed?: number;
  /** Softmax temperature (from `calibrateTemperature`); 1 leaves scores as trained. */
  temperature?: number;
}

/** Settings found by cross-validation on the Demo Bank (see `npm run eval:routing`). */
export const DEFAULT_TRAINING: TrainingOptions = { epochs: 15, learningRate: 2, l2: 3e-6, minDf: 2 };

/** A small deterministic PRNG (mulberry32): the same data always trains the same model. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * How much a sentence embedding (unit length) weighs beside the TF-IDF vector (unit length too) it
 * is appended to. 0.75 did best of 0.5–3 on the Demo Bank's five folds (`npm run eval:encoder`).
 */
export const EMBEDDING_SCALE = 0.75;

/**
 * Multinomial logistic regression over TF-IDF features (`fitSoftmax`) — and, when the examples
 * come with sentence embeddings (`dense` dimensions of them), over both: the embedding is
 * appended to a text's TF-IDF vector, and every text classified must bring its own.
 */
export class IntentClassifier {
  private constructor(
    private readonly features: TfIdf,
    readonly intents: readonly string[],
    private readonly weights: Float32Array,
    private readonly bias: Float32Array,
    readonly temperature: number,
    /** Dimensions of the sentence embedding each text brings (0: none). */
    readonly dense: number,
  ) {}

  /** `embeddings`, when given, holds each example's sentence embedding, in the examples' order. */
  static train(examples: readonly LabelledText[], options: TrainingOptions = {}, embeddings?: readonly Float32Array[]): IntentClassifier {
    if (embeddings && embeddings.length !== examples.length) throw new Error('One embedding is needed for each example');
    const intents = [...new Set(examples.map((e) => e.intent))].sort();
    const label = new Map(intents.map((intent, i) => [intent, i]));
    const features = TfIdf.fit(
      examples.map((e) => e.text),
      options.minDf ?? DEFAULT_TRAINING.minDf!,
    );
    const dense = embeddings?.[0]?.length ?? 0;
    const { weights, bias } = fitSoftmax(
      examples.map((e, i) => withEmbedding(features, e.text, dense, embeddings?.[i])),
      examples.map((e) => label.get(e.intent)!),
      intents.length,
      features.size + dense,
      options,
    );
    return new IntentClassifier(features, intents, weights, bias, options.temperature ?? 1, dense);
  }

  /** The model as plain, structured-cloneable data (maps and typed arrays), to move it between threads. */
  toData(): IntentClassifierData {
    return {
      index: this.features.index,
      idf: this.features.idf,
      intents: this.intents,
      weights: this.weights,
      bias: this.bias,
      temperature: this.temperature,
      dense: this.dense,
    };
  }

  static fromData(data: IntentClassifierData): IntentClassifier {
    return new IntentClassifier(TfIdf.from(data.index, data.idf), data.intents, data.weights, data.bias, data.temperature, data.dense);
  }

  /** Bytes held by the model's arrays (weights, biases, idf). */
  get sizeBytes(): number {
    return this.weights.byteLength + this.bias.byteLength + this.features.idf.byteLength;
  }

  /** The same model with another softmax temperature. */
  withTemperature(temperature: number): IntentClassifier {
    return new IntentClassifier(this.features, this.intents, this.weights, this.bias, temperature, this.dense);
  }

  /** Raw class scores (logits). A classifier trained with embeddings needs the text's. */
  logits(text: string, embedding?: Float32Array): Float64Array {
    return logitsOf(withEmbedding(this.features, text, this.dense, embedding), this.weights, this.bias, this.intents.length);
  }

  /**
   * Intents ranked by calibrated confidence. The out-of-scope class is not among them, but the
   * probability it takes is missing from theirs: out-of-scope text scores low everywhere.
   */
  classify(text: string, top = 3, embedding?: Float32Array): IntentScore[] {
    const p = softmax(this.logits(text, embedding), this.temperature);
    return [...p]
      .map((confidence, i) => ({ intent: this.intents[i], confidence }))
      .filter((s) => s.intent !== OUT_OF_SCOPE)
      .sort((a, b) => b.confidence - a.confidence)
      .slice(0, top);
  }
}

/** A trained classifier as data. */
export interface IntentClassifierData {
  index: Map<string, number>;
  idf: Float32Array;
  intents: readonly string[];
  weights: Float32Array;
  bias: Float32Array;
  temperature: number;
  /** Dimensions of the sentence embedding each text brings (0: none). */
  dense: number;
}

/** A text's TF-IDF vector, followed (at index `features.size`) by its embedding when the model takes `dense` dimensions of one. */
function withEmbedding(features: TfIdf, text: string, dense: number, embedding: Float32Array | undefined): SparseVector {
  const lexical = features.transform(text);
  if (!dense) return lexical;
  if (embedding?.length !== dense) throw new Error(`This classifier needs each text's ${dense}-dimension sentence embedding`);
  const n = lexical.indices.length;
  const indices = new Int32Array(n + dense);
  const values = new Float32Array(n + dense);
  indices.set(lexical.indices);
  values.set(lexical.values);
  for (let d = 0; d < dense; d++) {
    indices[n + d] = features.size + d;
    values[n + d] = EMBEDDING_SCALE * embedding[d];
  }
  return { indices, values };
}

/**
 * Multinomial logistic regression on sparse vectors of `size` features into `k` classes, by SGD
 * with L2 regularisation (weights kept scaled, so each step touches only the example's features).
 * Weights come feature-major (`weights[feature * k + class]`). Deterministic for a given seed.
 */
export function fitSoftmax(
  xs: readonly SparseVector[],
  ys: readonly number[],
  k: number,
  size: number,
  options: TrainingOptions = {},
): { weights: Float32Array; bias: Float32Array } {
  const epochs = options.epochs ?? DEFAULT_TRAINING.epochs!;
  const l2 = options.l2 ?? DEFAULT_TRAINING.l2!;
  const eta0 = options.learningRate ?? DEFAULT_TRAINING.learningRate!;
  const weights = new Float32Array(k * size);
  const bias = new Float32Array(k);
  const scores = new Float64Array(k);
  const random = rng(options.seed ?? 7);
  const order = xs.map((_, i) => i);
  let scale = 1;
  let step = 0;
  const total = epochs * xs.length;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (const n of order) {
      const eta = eta0 / (1 + (4 * step++) / total);
      const x = xs[n];
      scoresInto(scores, x, weights, bias, k, scale);
      softmaxInPlace(scores);
      scale *= 1 - eta * l2;
      if (scale < 1e-6) {
        for (let i = 0; i < weights.length; i++) weights[i] *= scale;
        scale = 1;
      }
      for (let c = 0; c < k; c++) scores[c] -= c === ys[n] ? 1 : 0; // gradient of the loss per class
      for (let t = 0; t < x.indices.length; t++) {
        const row = x.indices[t] * k;
        const delta = (eta * x.values[t]) / scale;
        for (let c = 0; c < k; c++) {
          const g = scores[c];
          if (g > 1e-5 || g < -1e-5) weights[row + c] -= delta * g;
        }
      }
      for (let c = 0; c < k; c++) bias[c] -= eta * scores[c];
    }
  }
  for (let i = 0; i < weights.length; i++) weights[i] *= scale;
  return { weights, bias };
}

/** Class scores (logits) of a sparse vector under feature-major weights. */
export function logitsOf(x: SparseVector, weights: Float32Array, bias: Float32Array, k: number): Float64Array {
  const out = new Float64Array(k);
  scoresInto(out, x, weights, bias, k, 1);
  return out;
}

/** Weights are feature-major (`weights[feature * k + class]`): one example touches few, contiguous rows. */
function scoresInto(out: Float64Array, x: SparseVector, weights: Float32Array, bias: Float32Array, k: number, scale: number): void {
  out.fill(0);
  for (let t = 0; t < x.indices.length; t++) {
    const row = x.indices[t] * k;
    const v = x.values[t] * scale;
    for (let c = 0; c < k; c++) out[c] += weights[row + c] * v;
  }
  for (let c = 0; c < k; c++) out[c] += bias[c];
}

function softmaxInPlace(scores: Float64Array): void {
  let max = -Infinity;
  for (const v of scores) max = Math.max(max, v);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) sum += scores[i] = Math.exp(scores[i] - max);
  for (let i = 0; i < scores.length; i++) scores[i] /= sum;
}

export function softmax(logits: Float64Array, temperature = 1): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v / temperature);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i] / temperature - max);
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}
