import type { KnowledgeBaseEntry } from '@parley/contracts';
import background from '../data/out-of-scope.json';
import { DEFAULT_TRAINING, IntentClassifier, OUT_OF_SCOPE, type IntentClassifierData, type LabelledText } from './intent-classifier';
import type { SentenceEncoder } from './sentence-encoder';

/** Temperature and threshold fitted on the Demo Bank by `npm run eval:routing` (96% precision). */
export const DEFAULT_TEMPERATURE = 0.75;
export const DEFAULT_FAQ_THRESHOLD = 0.7;

/** Chit-chat and other domains, trained as every matcher's "none of these" class. */
export const outOfScopeExamples = (): LabelledText[] => (background as string[]).map((text) => ({ text, intent: OUT_OF_SCOPE }));

export interface FaqMatch {
  intent: string;
  confidence: number;
  answer: string;
  /** Knowledge base version the matcher was trained on. */
  kbVersion: number;
}

export interface FaqMatcherData {
  kbVersion: number;
  classifier: IntentClassifierData;
  answers: Map<string, string>;
  /** The sentence encoder whose embeddings the matcher takes beside its TF-IDF features, if any. */
  encoder?: string;
}

/**
 * Examples are embedded this many at a time: as fast as 100 at a time, and the encoder's thread
 * holds about 230 MB at most instead of 500.
 */
const EMBEDDING_BATCH = 10;

/** A knowledge base version with its trained matcher. */
export class FaqMatcher {
  private constructor(
    readonly kbVersion: number,
    private readonly classifier: IntentClassifier,
    private readonly answers: Map<string, string>,
    /** Name of the sentence encoder each question's embedding must come from (none: TF-IDF alone). */
    readonly encoder?: string,
  ) {}

  /**
   * Trains on a knowledge base's examples (and the out-of-scope ones). With `embedded` — every
   * training text's embedding by a sentence encoder (`embedTrainingTexts`) — the model takes the
   * embeddings beside its TF-IDF features, and each question then needs its own (`prepared`).
   */
  static train(
    kbVersion: number,
    entries: readonly KnowledgeBaseEntry[],
    temperature = DEFAULT_TEMPERATURE,
    embedded?: { encoder: string; embeddings: readonly Float32Array[] },
  ): FaqMatcher {
    const classifier = IntentClassifier.train(trainingExamples(entries), { ...DEFAULT_TRAINING, temperature }, embedded?.embeddings);
    return new FaqMatcher(kbVersion, classifier, answersOf(entries), embedded?.encoder);
  }

  /**
   * The embedding of every text a knowledge base trains on, in training order, made in batches
   * (each awaited: another caller's question is embedded between two batches, not after them all).
   */
  static async embedTrainingTexts(entries: readonly KnowledgeBaseEntry[], encoder: SentenceEncoder): Promise<Float32Array[]> {
    const texts = trainingExamples(entries).map((e) => e.text);
    const embeddings: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += EMBEDDING_BATCH) embeddings.push(...(await encoder.embed(texts.slice(i, i + EMBEDDING_BATCH))));
    return embeddings;
  }

  /** A matcher over TF-IDF features and the encoder's embeddings: paraphrases with no word of an example in common can match. */
  static async trainWithEncoder(
    kbVersion: number,
    entries: readonly KnowledgeBaseEntry[],
    encoder: SentenceEncoder,
    temperature = DEFAULT_TEMPERATURE,
  ): Promise<FaqMatcher> {
    const embeddings = await FaqMatcher.embedTrainingTexts(entries, encoder);
    return FaqMatcher.train(kbVersion, entries, temperature, { encoder: encoder.name, embeddings });
  }

  /** The matcher as structured-cloneable data (to train it in a worker thread and use it in another). */
  toData(): FaqMatcherData {
    return { kbVersion: this.kbVersion, classifier: this.classifier.toData(), answers: this.answers, encoder: this.encoder };
  }

  static fromData(data: FaqMatcherData): FaqMatcher {
    return new FaqMatcher(data.kbVersion, IntentClassifier.fromData(data.classifier), data.answers, data.encoder);
  }

  /**
   * The matcher answering `best` for these texts without more ado: a matcher that takes sentence
   * embeddings has `encoder` (the one it was trained with) embed them first, all at once.
   */
  async prepared(texts: readonly string[], encoder: SentenceEncoder | null): Promise<Pick<FaqMatcher, 'kbVersion' | 'best'>> {
    if (!this.encoder) return this;
    if (encoder?.name !== this.encoder) throw new Error(`This matcher takes the embeddings of the sentence encoder ${this.encoder}`);
    const unique = [...new Set(texts)];
    const vectors = await encoder.embed(unique);
    const embeddings = new Map(unique.map((text, i) => [text, vectors[i]]));
    return { kbVersion: this.kbVersion, best: (question) => this.best(question, embeddings.get(question)) };
  }

  /**
   * The best entry for a question, with its calibrated confidence (whatever it is). A matcher
   * trained with an encoder needs the question's embedding by it.
   */
  best(question: string, embedding?: Float32Array): FaqMatch {
    const [top] = this.classifier.classify(question, 1, embedding);
    return { intent: top.intent, confidence: top.confidence, answer: this.answers.get(top.intent) ?? '', kbVersion: this.kbVersion };
  }
}

/** A knowledge base's examples, with the out-of-scope ones every matcher trains against. */
const trainingExamples = (entries: readonly KnowledgeBaseEntry[]): LabelledText[] => [
  ...entries.flatMap((e) => e.examples.map((text) => ({ text, intent: e.intent }))),
  ...outOfScopeExamples(),
];

const answersOf = (entries: readonly KnowledgeBaseEntry[]) => new Map(entries.map((e) => [e.intent, e.answer]));
