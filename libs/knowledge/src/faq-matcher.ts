import type { KnowledgeBaseEntry } from '@parley/contracts';
import background from '../data/out-of-scope.json';
import { DEFAULT_TRAINING, IntentClassifier, OUT_OF_SCOPE, type IntentClassifierData, type LabelledText } from './intent-classifier';

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
}

/** A knowledge base version with its trained matcher. */
export class FaqMatcher {
  private constructor(
    readonly kbVersion: number,
    private readonly classifier: IntentClassifier,
    private readonly answers: Map<string, string>,
  ) {}

  static train(kbVersion: number, entries: readonly KnowledgeBaseEntry[], temperature = DEFAULT_TEMPERATURE): FaqMatcher {
    const examples = entries.flatMap((e) => e.examples.map((text) => ({ text, intent: e.intent })));
    const classifier = IntentClassifier.train([...examples, ...outOfScopeExamples()], { ...DEFAULT_TRAINING, temperature });
    return new FaqMatcher(kbVersion, classifier, new Map(entries.map((e) => [e.intent, e.answer])));
  }

  /** The matcher as structured-cloneable data (to train it in a worker thread and use it in another). */
  toData(): FaqMatcherData {
    return { kbVersion: this.kbVersion, classifier: this.classifier.toData(), answers: this.answers };
  }

  static fromData(data: FaqMatcherData): FaqMatcher {
    return new FaqMatcher(data.kbVersion, IntentClassifier.fromData(data.classifier), data.answers);
  }

  /** The best entry for a question, with its calibrated confidence (whatever it is). */
  best(question: string): FaqMatch {
    const [top] = this.classifier.classify(question, 1);
    return { intent: top.intent, confidence: top.confidence, answer: this.answers.get(top.intent) ?? '', kbVersion: this.kbVersion };
  }
}
