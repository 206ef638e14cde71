import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { USE_LITE, type SentenceEncoder } from '@parley/knowledge';

type Reply = { ready: true } | { failed: string } | { id: number; vectors: Float32Array[] } | { id: number; error: string };

/**
 * The sentence encoder in a worker thread of its own (`encoder.worker.ts`): embedding a question
 * takes about 12 ms of CPU, which would otherwise hold up every other message of the service.
 * Requests are answered in order. A worker that dies fails what it held and is started again on
 * the next request.
 */
export class EncoderThread implements SentenceEncoder {
  readonly name = USE_LITE.name;
  readonly dimensions = USE_LITE.dimensions;
  private worker: Promise<Worker> | null = null;
  private readonly pending = new Map<number, { resolve: (v: Float32Array[]) => void; reject: (e: Error) => void }>();
  private next = 0;
  private closed = false;

  /** Starts the encoder; rejects (naming the install command) where it is not installed. */
  static async start(): Promise<EncoderThread> {
    const thread = new EncoderThread();
    await thread.started();
    return thread;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (!texts.length) return [];
    const worker = await this.started();
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, texts });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = await this.worker?.catch(() => null);
    await worker?.terminate();
  }

  private started(): Promise<Worker> {
    if (this.closed) return Promise.reject(new Error('The sentence encoder is closed'));
    this.worker ??= new Promise<Worker>((resolve, reject) => {
      const worker = new Worker(join(__dirname, 'encoder.worker.js'));
      worker.on('message', (reply: Reply) => {
        if ('ready' in reply) return resolve(worker);
        if ('failed' in reply) {
          reject(new Error(reply.failed));
          return void worker.terminate();
        }
        const waiting = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        if ('error' in reply) waiting?.reject(new Error(`The sentence encoder failed: ${reply.error}`));
        else waiting?.resolve(reply.vectors);
      });
      worker.once('error', reject);
      worker.once('exit', (code) => {
        reject(new Error(`The sentence encoder's thread exited with code ${code}`));
        this.worker = null;
        for (const waiting of this.pending.values()) waiting.reject(new Error(`The sentence encoder's thread exited with code ${code}`));
        this.pending.clear();
      });
    });
    return this.worker;
  }
}
