/** A trained matcher stored as bytes and read back answers exactly as the one trained. */
import { FaqMatcher } from './faq-matcher';
import { deserializeMatcher, serializeMatcher } from './matcher-format';

const entries = [
  {
    intent: 'card_arrival',
    examples: ['when will my card arrive', 'my new card has not come yet', 'card still not delivered'],
    answer: 'Cards arrive within five working days.',
  },
  {
    intent: 'lost_card',
    examples: ['I lost my card', 'my card was stolen', 'cannot find my card anywhere'],
    answer: 'Freeze it in the app.',
  },
  {
    intent: 'exchange_rate',
    examples: ['what is the exchange rate', 'how much is a euro in dollars', 'currency conversion rate'],
    answer: 'We use the daily rate.',
  },
];

describe('a stored matcher', () => {
  it('reads back into one that gives the same answers with the same confidence', () => {
    const trained = FaqMatcher.train(3, entries);
    const bytes = serializeMatcher(trained.toData());
    // stored at an odd offset, as a bytea read may hand it over
    const copy = Buffer.alloc(bytes.length + 1);
    bytes.copy(copy, 1);
    const loaded = FaqMatcher.fromData(deserializeMatcher(copy.subarray(1)));
    for (const question of ['has my card arrived?', 'someone stole my card', 'euro to dollar rate please', 'tell me a joke']) {
      expect(loaded.best(question)).toEqual(trained.best(question));
    }
    expect(loaded.kbVersion).toBe(3);
  });

  it('refuses bytes that do not match their header', () => {
    const bytes = serializeMatcher(FaqMatcher.train(1, entries).toData());
    expect(() => deserializeMatcher(bytes.subarray(0, bytes.length - 4))).toThrow();
  });
});
