/**
 * Runs the sentence encoder off the service's event loop (a question takes about 12 ms of CPU):
 * loads it, says `ready` (or why it cannot), then answers `{ id, texts }` with `{ id, vectors }`.
 */
import { parentPort } from 'node:worker_threads';
import { describeError } from '@parley/messaging';
import { loadUseLite, type SentenceEncoder } from '@parley/knowledge';

const port = parentPort!;
void loadUseLite().then(
  (encoder: SentenceEncoder) => {
    port.on('message', ({ id, texts }: { id: number; texts: string[] }) => {
      encoder.embed(texts).then(
        (vectors) =>
          port.postMessage(
            { id, vectors },
            vectors.map((v) => v.buffer as ArrayBuffer),
          ),
        // the error says what failed, never the texts
        (error: unknown) => port.postMessage({ id, error: describeError(error) }),
      );
    });
    port.postMessage({ ready: true });
  },
  (error: unknown) => port.postMessage({ failed: describeError(error) }),
);
