/**
 * Text → sparse TF-IDF vectors over word 1–2-grams and character 2–5-grams (within words, padded
 * by spaces). Character n-grams carry typos, inflections and compounds ("top-up", "topup",
 * "topped up"); word bigrams carry phrases ("not working", "exchange rate").
 *
 * Words are letters and numbers of every script (with the combining marks that spell, such as
 * Devanagari's vowel signs), lowercased, with what writers may leave out folded away ("café" =
 * "cafe", "ё" = "е", Arabic written with or without its short vowels). Scripts written without spaces between words (Chinese, Japanese, Thai) come as runs;
 * their character n-grams — and, for Han, kana and Hangul, single characters — carry them.
 */
export interface SparseVector {
  indices: Int32Array;
  values: Float32Array;
}

/**
 * Lowercase; compatibility forms unified (full-width letters, ligatures); what writers may leave
 * out dropped: Latin, Greek and Cyrillic accents, Arabic short vowels and tatweel, Hebrew points;
 * Arabic letter variants a writer picks freely unified (أ إ آ ٱ → ا, ى → ي, ة → ه).
 */
const normalize = (text: string) =>
  text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f\u064b-\u065f\u0670\u0640\u0591-\u05c7]/g, '')
    .normalize('NFC') // what else decomposed (Hangul syllables, kana with voicing marks) comes back whole
    .replace(/[أإآٱ]/g, 'ا')
    .replace(/ى/g, 'ي')
    .replace(/ة/g, 'ه')
    .replace(/[’‘`]/g, "'");

const WORD = /[\p{L}\p{N}\p{M}]+(?:'[\p{L}\p{M}]+)?/gu;
/** Characters that are words on their own often enough to count alone: Han, kana, Hangul. */
const IDEOGRAPH = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

export function wordsOf(text: string): string[] {
  return normalize(text).match(WORD) ?? [];
}

/** Every feature of a text, with its raw count. */
export function featureCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (feature: string) => counts.set(feature, (counts.get(feature) ?? 0) + 1);
  const words = wordsOf(text);
  for (let i = 0; i < words.length; i++) {
    add(`w:${words[i]}`);
    if (i + 1 < words.length) add(`b:${words[i]} ${words[i + 1]}`);
    const chars = [...` ${words[i]} `]; // by code point: a character outside the BMP is one
    for (let n = 2; n <= 5; n++) for (let j = 0; j + n <= chars.length; j++) add(`c:${chars.slice(j, j + n).join('')}`);
    for (const char of chars) if (IDEOGRAPH.test(char)) add(`c:${char}`);
  }
  return counts;
}

/** A fitted vocabulary with inverse document frequencies. */
export class TfIdf {
  private constructor(
    readonly index: Map<string, number>,
    readonly idf: Float32Array,
  ) {}

  get size(): number {
    return this.idf.length;
  }

  /** Rebuilds a vocabulary from its parts (e.g. after crossing a worker thread). */
  static from(index: Map<string, number>, idf: Float32Array): TfIdf {
    return new TfIdf(index, idf);
  }

  /** Keeps features seen in at least `minDf` documents. */
  static fit(texts: readonly string[], minDf = 2): TfIdf {
    const df = new Map<string, number>();
    for (const text of texts) for (const feature of featureCounts(text).keys()) df.set(feature, (df.get(feature) ?? 0) + 1);
    const index = new Map<string, number>();
    const idf: number[] = [];
    for (const [feature, count] of df) {
      if (count < minDf) continue;
      index.set(feature, idf.length);
      idf.push(Math.log((1 + texts.length) / (1 + count)) + 1);
    }
    return new TfIdf(index, Float32Array.from(idf));
  }

  /** Sublinear tf × idf, L2-normalised; unknown features are dropped. */
  transform(text: string): SparseVector {
    const entries: [number, number][] = [];
    for (const [feature, count] of featureCounts(text)) {
      const i = this.index.get(feature);
      if (i !== undefined) entries.push([i, (1 + Math.log(count)) * this.idf[i]]);
    }
    entries.sort((a, b) => a[0] - b[0]);
    const norm = Math.sqrt(entries.reduce((sum, [, v]) => sum + v * v, 0)) || 1;
    return { indices: Int32Array.from(entries.map(([i]) => i)), values: Float32Array.from(entries.map(([, v]) => v / norm)) };
  }
}
