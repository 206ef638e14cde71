import { IntentClassifier, OUT_OF_SCOPE, rng, softmax, type LabelledText, type TrainingOptions } from './intent-classifier';

/** A prediction for an example its model was not trained on. */
export interface HeldOutPrediction {
  intent: string;
  logits: Float64Array;
  intents: readonly string[];
}

/** What cross-validation needs of a model: its classes and a text's raw scores over them. */
export interface ScoringModel {
  readonly intents: readonly string[];
  logits(text: string): Float64Array;
}

/**
 * k-fold cross-validation: every example predicted by a model trained without it. `background`
 * (out-of-scope examples) joins every training fold and is never predicted. `train` makes the
 * model (by default the matcher's classifier with `options`), so other models are compared on the
 * very same folds.
 */
export function heldOutPredictions(
  examples: readonly LabelledText[],
  folds: number,
  options: TrainingOptions = {},
  background: readonly LabelledText[] = [],
  train: (examples: LabelledText[]) => ScoringModel = (fold) => IntentClassifier.train(fold, options),
): HeldOutPrediction[] {
  const random = rng(options.seed ?? 11);
  const order = examples.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const out: HeldOutPrediction[] = [];
  for (let f = 0; f < folds; f++) {
    const test = order.filter((_, i) => i % folds === f).map((i) => examples[i]);
    const model = train([...order.filter((_, i) => i % folds !== f).map((i) => examples[i]), ...background]);
    for (const e of test) out.push({ intent: e.intent, logits: model.logits(e.text), intents: model.intents });
  }
  return out;
}

/** The best in-scope intent of a prediction (out-of-scope is never an answer) and its probability. */
export const bestInScope = (p: Pick<HeldOutPrediction, 'logits' | 'intents'>, temperature: number) => {
  const probs = softmax(p.logits, temperature);
  let best = -1;
  for (let i = 0; i < probs.length; i++) if (p.intents[i] !== OUT_OF_SCOPE && (best < 0 || probs[i] > probs[best])) best = i;
  return { intent: p.intents[best], confidence: probs[best] };
};

/** The softmax temperature that makes held-out confidences honest (minimum negative log-likelihood). */
export function fitTemperature(predictions: readonly HeldOutPrediction[]): number {
  let best = { t: 1, nll: Infinity };
  for (let t = 0.2; t <= 3.0001; t += 0.05) {
    let nll = 0;
    for (const p of predictions) {
      const probs = softmax(p.logits, t);
      nll -= Math.log(Math.max(probs[p.intents.indexOf(p.intent)] ?? 0, 1e-12));
    }
    if (nll < best.nll) best = { t, nll };
  }
  return Math.round(best.t * 100) / 100;
}

export interface ThresholdChoice {
  threshold: number;
  /** Share of held-out questions answered at this threshold. */
  coverage: number;
  /** Share of answered questions answered with the right intent. */
  precision: number;
}

/** The lowest confidence threshold whose answers are right at least `targetPrecision` of the time. */
export function chooseThreshold(predictions: readonly HeldOutPrediction[], temperature: number, targetPrecision: number): ThresholdChoice {
  const scored = predictions.map((p) => {
    const t = bestInScope(p, temperature);
    return { confidence: t.confidence, right: t.intent === p.intent };
  });
  scored.sort((a, b) => b.confidence - a.confidence);
  let right = 0;
  let choice: ThresholdChoice = { threshold: 1, coverage: 0, precision: 1 };
  for (let i = 0; i < scored.length; i++) {
    if (scored[i].right) right++;
    const precision = right / (i + 1);
    const next = scored[i + 1]?.confidence;
    if (precision >= targetPrecision && next !== scored[i].confidence) {
      choice = { threshold: scored[i].confidence, coverage: (i + 1) / scored.length, precision };
    }
  }
  return choice;
}

/** Top-1 accuracy and, at a threshold, coverage and precision of held-out predictions. */
export function heldOutFigures(predictions: readonly HeldOutPrediction[], temperature: number, threshold: number) {
  let correct = 0;
  let answered = 0;
  let answeredRight = 0;
  for (const p of predictions) {
    const t = bestInScope(p, temperature);
    const right = t.intent === p.intent;
    if (right) correct++;
    if (t.confidence >= threshold) {
      answered++;
      if (right) answeredRight++;
    }
  }
  return {
    accuracy: correct / predictions.length,
    coverage: answered / predictions.length,
    precision: answered ? answeredRight / answered : 1,
  };
}

/** Precision of the `coverage` share of predictions answered with the highest confidence. */
export function precisionAtCoverage(predictions: readonly HeldOutPrediction[], temperature: number, coverage: number): number {
  const scored = predictions
    .map((p) => {
      const t = bestInScope(p, temperature);
      return { confidence: t.confidence, right: t.intent === p.intent };
    })
    .sort((a, b) => b.confidence - a.confidence)
    .slice(0, Math.max(1, Math.round(coverage * predictions.length)));
  return scored.filter((s) => s.right).length / scored.length;
}
