/**
 * Runs tasks one at a time per key, in the order they were added; tasks of different keys run
 * concurrently. A key's queue is forgotten once it is empty, so memory follows the work in hand.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  /** Resolves when the task has run (its failure is the task's own business: it never rejects). */
  run(key: string, task: () => Promise<void>): Promise<void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.then(task).catch(() => undefined);
    this.tails.set(key, next);
    void next.then(() => {
      if (this.tails.get(key) === next) this.tails.delete(key);
    });
    return next;
  }

  /** Keys with work queued or running. */
  get size(): number {
    return this.tails.size;
  }

  /** Resolves once everything queued so far has run. */
  async drained(): Promise<void> {
    await Promise.allSettled([...this.tails.values()]);
  }
}
