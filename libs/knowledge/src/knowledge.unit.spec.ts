import { chooseThreshold, fitTemperature, heldOutFigures, heldOutPredictions, precisionAtCoverage } from './calibration';
import { parseCsv } from './csv';
import { IntentClassifier, OUT_OF_SCOPE } from './intent-classifier';
import { featureCounts, TfIdf } from './text-features';

describe('parseCsv', () => {
  it('reads quoted fields with commas, doubled quotes and line breaks', () => {
    expect(parseCsv('text,category\r\n"Hi, ""there""\nfriend",greeting\nplain,other\n')).toEqual([
      ['text', 'category'],
      ['Hi, "there"\nfriend', 'greeting'],
      ['plain', 'other'],
    ]);
  });
  it('refuses an unterminated quote', () => {
    expect(() => parseCsv('"open,x')).toThrow(/quoted field/);
  });
});

describe('text features', () => {
  it('uses words, word pairs and character n-grams within words', () => {
    const features = [...featureCounts("Top-up isn't working").keys()];
    expect(features).toEqual(expect.arrayContaining(['w:top', 'w:up', "w:isn't", 'b:top up', 'c: to', 'c:top', 'c:king ']));
  });
  it('drops rare features and L2-normalises', () => {
    const tfidf = TfIdf.fit(['card arrived', 'card lost', 'pin blocked'], 2);
    const v = tfidf.transform('card card');
    expect(Math.hypot(...v.values)).toBeCloseTo(1, 5);
    expect(tfidf.transform('pin').values.length).toBe(0); // "pin" occurs once: below min df
  });
});

const examples = [
  ...[
    'my card has not arrived',
    'when will my card arrive',
    'card still not delivered',
    'where is my new card',
    'card delivery is late',
  ].map((text) => ({ text, intent: 'card_arrival' })),
  ...['I forgot my pin', 'my pin is blocked', 'pin locked after wrong attempts', 'unblock my pin please', 'reset my pin'].map((text) => ({
    text,
    intent: 'pin_blocked',
  })),
  ...[
    'what is the exchange rate',
    'exchange rate for euros',
    'how much is a dollar in pounds',
    'currency exchange rate today',
    'rate to exchange money',
  ].map((text) => ({ text, intent: 'exchange_rate' })),
];
const background = ['thanks a lot', 'yes please', 'book a table for two', 'which movie is playing', 'ok that works'].map((text) => ({
  text,
  intent: OUT_OF_SCOPE,
}));

describe('IntentClassifier', () => {
  const model = IntentClassifier.train([...examples, ...background], { minDf: 1, epochs: 30 });

  it('ranks the right intent first, with probabilities that sum below 1 once out-of-scope takes its share', () => {
    const ranked = model.classify('my card did not arrive yet', 3);
    expect(ranked[0].intent).toBe('card_arrival');
    expect(ranked.map((r) => r.intent)).not.toContain(OUT_OF_SCOPE);
    expect(ranked.reduce((s, r) => s + r.confidence, 0)).toBeLessThanOrEqual(1 + 1e-9);
    expect(model.classify('pin blocked', 1)[0].intent).toBe('pin_blocked');
  });

  it('is less sure of chit-chat than of a real question', () => {
    expect(model.classify('thanks a lot', 1)[0].confidence).toBeLessThan(model.classify('when will my card arrive', 1)[0].confidence);
  });

  it('trains the same model from the same data', () => {
    const again = IntentClassifier.train([...examples, ...background], { minDf: 1, epochs: 30 });
    expect(again.classify('exchange rate', 1)).toEqual(model.classify('exchange rate', 1));
  });
});

describe('calibration', () => {
  const heldOut = heldOutPredictions(examples, 5, { minDf: 1, epochs: 30 }, background);

  it('predicts every in-scope example once, from a model that did not see it', () => {
    expect(heldOut).toHaveLength(examples.length);
  });

  it('compares another model on the very same folds', () => {
    const folds: string[][] = [];
    const other = heldOutPredictions(examples, 5, { minDf: 1, epochs: 30 }, background, (fold) => {
      folds.push(fold.map((e) => e.text));
      return IntentClassifier.train(fold, { minDf: 1, epochs: 30 });
    });
    expect(other).toEqual(heldOut);
    // each fold trains on the background and on every example but a fifth of them
    expect(folds).toHaveLength(5);
    for (const fold of folds) {
      expect(fold).toEqual(expect.arrayContaining(background.map((b) => b.text)));
      expect(fold.length - background.length).toBeGreaterThanOrEqual(Math.floor((examples.length * 4) / 5));
    }
  });

  it('fits a temperature and picks the lowest threshold meeting the precision target', () => {
    const t = fitTemperature(heldOut);
    expect(t).toBeGreaterThan(0);
    const choice = chooseThreshold(heldOut, t, 0.9);
    const figures = heldOutFigures(heldOut, t, choice.threshold);
    expect(figures.precision).toBeGreaterThanOrEqual(0.9);
    expect(figures.coverage).toBeCloseTo(choice.coverage, 10);
    // any lower threshold that answers more falls below the target
    const lower = heldOutFigures(heldOut, t, choice.threshold - 1e-9);
    if (lower.coverage > figures.coverage) expect(lower.precision).toBeLessThan(0.9);
    // precision at the coverage that threshold gives is the precision of what it answers
    expect(precisionAtCoverage(heldOut, t, choice.coverage)).toBeCloseTo(figures.precision, 10);
    // and answering everything is as precise as top-1 is accurate
    expect(precisionAtCoverage(heldOut, t, 1)).toBeCloseTo(heldOutFigures(heldOut, t, 0).accuracy, 10);
    // a target nobody can meet answers nothing
    expect(chooseThreshold(heldOut, t, 1.01)).toEqual({ threshold: 1, coverage: 0, precision: 1 });
  });
});
