/**
 * Trains one knowledge base's FAQ matcher off the service's event loop (training takes seconds);
 * the trained model goes back as structured-cloneable data, its arrays transferred, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { KnowledgeBaseEntry } from '@parley/contracts';
import { FaqMatcher } from '@parley/knowledge';

const { kbVersion, entries } = workerData as { kbVersion: number; entries: KnowledgeBaseEntry[] };
const data = FaqMatcher.train(kbVersion, entries).toData();
const { weights, bias, idf } = data.classifier;
parentPort!.postMessage(data, [weights.buffer as ArrayBuffer, bias.buffer as ArrayBuffer, idf.buffer as ArrayBuffer]);
