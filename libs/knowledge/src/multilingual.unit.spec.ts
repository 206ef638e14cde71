/**
 * Knowledge bases in any script: small ones in French (Latin with accents), Russian (Cyrillic),
 * Arabic and Chinese (no spaces between words), trained as the router trains them (with the
 * English out-of-scope background), each judged on questions it never saw.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FaqMatcher } from './faq-matcher';
import { featureCounts, wordsOf } from './text-features';

interface Language {
  script: string;
  intents: Record<string, { answer: string; train: string[]; heldOut: string[] }>;
}
const { languages } = JSON.parse(readFileSync(join(__dirname, '../../../data/eval/multilingual.json'), 'utf8')) as {
  languages: Record<string, Language>;
};

describe('knowledge bases in any script', () => {
  it('find words in every script, fold case and accents where the script has them, and keep marks that spell', () => {
    expect(wordsOf('Où est ma CARTE ? Ça fait 2 semaines')).toEqual(['ou', 'est', 'ma', 'carte', 'ca', 'fait', '2', 'semaines']);
    expect(wordsOf('Где моя КАРТА, ёлки')).toEqual(['где', 'моя', 'карта', 'елки']);
    // Arabic with or without its short vowels, and its freely chosen letter variants, is one word
    expect(wordsOf('أين بطاقتي؟')).toEqual(['اين', 'بطاقتي']);
    expect(wordsOf('سُرِقَت البطاقة')).toEqual(wordsOf('سرقت البطاقه'));
    expect(wordsOf('मेरा कार्ड कब आएगा')).toEqual(['मेरा', 'कार्ड', 'कब', 'आएगा']);
    expect(wordsOf('카드가 언제 도착하나요')).toEqual(['카드가', '언제', '도착하나요']);
    // no spaces: one run, whose characters and character n-grams carry it
    expect(wordsOf('我的卡什么时候到？')).toEqual(['我的卡什么时候到']);
    const features = featureCounts('我的卡丢了');
    for (const feature of ['c:卡', 'c:丢了', 'c:我的卡']) expect(features.has(feature)).toBe(true);
    expect(featureCounts('🙂 ¿¡!? …').size).toBe(0);
  });

  it.each(Object.keys(languages))('%s: answers the questions it never saw with the right intent', (code) => {
    const { intents } = languages[code];
    const matcher = FaqMatcher.train(
      1,
      Object.entries(intents).map(([intent, { answer, train }]) => ({ intent, answer, examples: train })),
    );
    const asked = Object.entries(intents).flatMap(([intent, { heldOut }]) => heldOut.map((text) => ({ text, intent })));
    const right = asked.filter(({ text, intent }) => matcher.best(text).intent === intent);
    expect(right.length / asked.length).toBeGreaterThanOrEqual(8 / 9);
  });
});
