import type { FaqMatcherData } from './faq-matcher';

/**
 * Version of the trained matcher's meaning and of its stored form. Bump it when training or the
 * features change (the same knowledge base would train to another model) or the layout below
 * does: stored models of another format are ignored and trained afresh.
 */
export const MATCHER_FORMAT = 2;

/**
 * The format a matcher is stored under: a matcher that takes a sentence encoder's embeddings is
 * another model of the same knowledge base, stored beside the TF-IDF one, never read in its place.
 */
export const matcherFormat = (encoder?: string | null): number => (encoder ? ENCODER_FORMATS[encoder] : MATCHER_FORMAT);
const ENCODER_FORMATS: Record<string, number> = { 'use-lite': 1000 + MATCHER_FORMAT };

interface Header {
  kbVersion: number;
  intents: string[];
  temperature: number;
  answers: [string, string][];
  /** The features in index order (the index is dense: feature i is `vocabulary[i]`). */
  vocabulary: string[];
  lengths: { idf: number; weights: number; bias: number };
  /** Dimensions of the sentence embedding the weights after the vocabulary's take, and its encoder. */
  dense?: number;
  encoder?: string;
}

/**
 * A trained matcher as bytes, to store beside its knowledge base version: a little-endian header
 * length, the header as JSON, then the idf, weights and bias as float32s.
 */
export function serializeMatcher(data: FaqMatcherData): Buffer {
  const { index, idf, intents, weights, bias, temperature } = data.classifier;
  const header: Header = {
    kbVersion: data.kbVersion,
    intents: [...intents],
    temperature,
    answers: [...data.answers],
    vocabulary: [...index.keys()],
    lengths: { idf: idf.length, weights: weights.length, bias: bias.length },
    ...(data.encoder ? { dense: data.classifier.dense, encoder: data.encoder } : {}),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const arrays = [idf, weights, bias].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  const out = Buffer.alloc(4 + json.length + arrays.reduce((n, a) => n + a.length, 0));
  out.writeUInt32LE(json.length, 0);
  json.copy(out, 4);
  let at = 4 + json.length;
  for (const a of arrays) {
    a.copy(out, at);
    at += a.length;
  }
  return out;
}

/** The matcher stored by `serializeMatcher`; throws on bytes of another layout. */
export function deserializeMatcher(bytes: Buffer): FaqMatcherData {
  const length = bytes.readUInt32LE(0);
  const header = JSON.parse(bytes.subarray(4, 4 + length).toString('utf8')) as Header;
  let at = 4 + length;
  // copied into fresh arrays: a Float32Array needs 4-byte alignment the stored bytes may not have
  const floats = (n: number) => {
    const array = new Float32Array(n);
    Buffer.from(array.buffer).set(bytes.subarray(at, at + 4 * n));
    at += 4 * n;
    return array;
  };
  const idf = floats(header.lengths.idf);
  const weights = floats(header.lengths.weights);
  const bias = floats(header.lengths.bias);
  const dense = header.dense ?? 0;
  if (at !== bytes.length || header.vocabulary.length !== idf.length || weights.length !== (idf.length + dense) * bias.length) {
    throw new Error('Stored matcher does not match its header');
  }
  return {
    kbVersion: header.kbVersion,
    classifier: {
      index: new Map(header.vocabulary.map((feature, i) => [feature, i])),
      idf,
      intents: header.intents,
      weights,
      bias,
      temperature: header.temperature,
      dense,
    },
    answers: new Map(header.answers),
    ...(header.encoder ? { encoder: header.encoder } : {}),
  };
}
