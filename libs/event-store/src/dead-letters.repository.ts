import { asc, eq, inArray, isNotNull } from 'drizzle-orm';
import type { Db } from './database';
import { deadLetters } from './schema';

/** A dead letter as the table keeps it (the same fields as the messaging library's `StoredDeadLetter`). */
export interface DeadLetterRow {
  seq: number;
  service: string;
  consumer: string;
  subject: string;
  reason: string;
  deliveries: number;
  failedAt: string;
  payload: string;
}

/**
 * The dead letters of the embedded mode's in-process bus, in Postgres so that they outlive the
 * process as JetStream's `<PREFIX>_DLQ` stream does; `parley dlq` lists and retries them.
 */
export class DeadLettersRepository {
  constructor(private readonly db: Pick<Db, 'insert' | 'select' | 'delete' | 'update'>) {}

  async put(letter: Omit<DeadLetterRow, 'seq'>): Promise<void> {
    await this.db.insert(deadLetters).values(letter);
  }

  async list(): Promise<DeadLetterRow[]> {
    return this.rows(await this.db.select().from(deadLetters).orderBy(asc(deadLetters.seq)));
  }

  /**
   * Asks the running bus to publish these again (`parley dlq retry` runs in another process than
   * the in-process bus); the letters that exist are returned.
   */
  async requestRetry(seqs: number[]): Promise<number[]> {
    if (seqs.length === 0) return [];
    const rows = await this.db
      .update(deadLetters)
      .set({ retryRequestedAt: new Date().toISOString() })
      .where(inArray(deadLetters.seq, seqs))
      .returning({ seq: deadLetters.seq });
    return rows.map((row) => row.seq);
  }

  /** The letters a retry was asked for, oldest first. */
  async retryRequested(): Promise<DeadLetterRow[]> {
    return this.rows(await this.db.select().from(deadLetters).where(isNotNull(deadLetters.retryRequestedAt)).orderBy(asc(deadLetters.seq)));
  }

  private rows(rows: (typeof deadLetters.$inferSelect)[]): DeadLetterRow[] {
    return rows.map(({ retryRequestedAt: _asked, ...row }) => ({ ...row, failedAt: new Date(row.failedAt).toISOString() }));
  }

  async remove(seq: number): Promise<void> {
    await this.db.delete(deadLetters).where(eq(deadLetters.seq, seq));
  }
}
