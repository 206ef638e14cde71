// What the knowledge library offers the rest of Parley, by name.
export { DEFAULT_TRAINING, fitSoftmax, IntentClassifier, logitsOf } from './intent-classifier';
export { TfIdf } from './text-features';
export { EncoderUnavailableError, loadUseLite, type SentenceEncoder, USE_LITE } from './sentence-encoder';
export { parseCsv } from './csv';
export {
  bestInScope,
  chooseThreshold,
  fitTemperature,
  heldOutFigures,
  heldOutPredictions,
  precisionAtCoverage,
  type ScoringModel,
} from './calibration';
export { entriesFromCsv, entriesFromJson, featurelessExamples, KnowledgeBaseFormatError } from './knowledge-base';
export {
  DEFAULT_FAQ_THRESHOLD,
  DEFAULT_TEMPERATURE,
  type FaqMatch,
  FaqMatcher,
  type FaqMatcherData,
  outOfScopeExamples,
} from './faq-matcher';
export { deserializeMatcher, MATCHER_FORMAT, matcherFormat, serializeMatcher } from './matcher-format';
