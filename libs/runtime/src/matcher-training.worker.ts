/**
 * Trains one knowledge base's FAQ matcher off the service's event loop (training takes seconds);
 * the trained model goes back as structured-cloneable data, its arrays transferred, not copied.
 * With `embedded`, the training texts' sentence embeddings (made by the encoder's thread), the
 * matcher takes them beside its TF-IDF features.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { KnowledgeBaseEntry } from '@parley/contracts';
import { DEFAULT_TEMPERATURE, FaqMatcher } from '@parley/knowledge';

const { kbVersion, entries, embedded } = workerData as {
  kbVersion: number;
  entries: KnowledgeBaseEntry[];
  embedded?: { encoder: string; embeddings: Float32Array[] };
};
const data = FaqMatcher.train(kbVersion, entries, DEFAULT_TEMPERATURE, embedded).toData();
const { weights, bias, idf } = data.classifier;
parentPort!.postMessage(data, [weights.buffer as ArrayBuffer, bias.buffer as ArrayBuffer, idf.buffer as ArrayBuffer]);
