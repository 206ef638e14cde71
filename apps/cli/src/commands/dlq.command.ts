import { openDatabase, openNats } from '../connections';
import { DeadLettersRepository } from '@parley/event-store';
import { JetStreamBus, type StoredDeadLetter } from '@parley/messaging';
import { CliError } from '../cli-error';
import { style } from '../output';

export interface DlqOptions {
  /** Where the dead letters are: JetStream's `<PREFIX>_DLQ`, or the embedded mode's `dead_letters` table. */
  source: { natsUrl: string } | { databaseUrl: string };
  prefix: string;
  action: 'list' | 'retry';
  /** retry: sequences to re-drive; empty with `all` for every one. */
  seqs: number[];
  all: boolean;
  json: boolean;
}

/** What a dead-letter store answers to: JetStream's, or the table the in-process bus re-publishes from. */
interface Letters {
  list(): Promise<StoredDeadLetter[]>;
  retry(letters: StoredDeadLetter[]): Promise<string>;
  close(): Promise<void>;
}

/** Shows or re-drives the messages services gave up on. */
export async function dlq(options: DlqOptions): Promise<string> {
  const letters = await open(options);
  try {
    const all = await letters.list();
    if (options.action === 'list') {
      if (options.json) return JSON.stringify(all, null, 2);
      if (all.length === 0) return 'No dead letters.';
      return all.map(describe).join('\n');
    }
    const chosen = options.all ? all : options.seqs.map((seq) => all.find((l) => l.seq === seq) ?? seq);
    const missing = chosen.filter((l): l is number => typeof l === 'number');
    if (missing.length) throw new CliError(`No dead letter with sequence ${missing.join(', ')} (see: parley dlq list)`);
    return await letters.retry(chosen as StoredDeadLetter[]);
  } finally {
    await letters.close();
  }
}

const count = (n: number) => `${n} dead letter${n === 1 ? '' : 's'}`;

async function open(options: DlqOptions): Promise<Letters> {
  if ('natsUrl' in options.source) {
    const bus = new JetStreamBus(await openNats(options.source.natsUrl), options.prefix);
    return {
      list: () => bus.listDeadLetters(),
      async retry(chosen) {
        for (const letter of chosen) await bus.retryDeadLetter(letter);
        return `Re-published ${count(chosen.length)}.`;
      },
      close: () => bus.close(),
    };
  }
  const database = await openDatabase(options.source.databaseUrl);
  const table = new DeadLettersRepository(database.db);
  return {
    list: () => table.list(),
    async retry(chosen) {
      // the bus is in the memory of the process running Parley: it re-publishes what is asked of it
      await table.requestRetry(chosen.map((letter) => letter.seq));
      return `Asked Parley to re-publish ${count(chosen.length)}: the running process does within 2 s (or as it next starts).`;
    },
    close: () => database.close(),
  };
}

function describe(letter: StoredDeadLetter): string {
  let what = '';
  try {
    const event = JSON.parse(letter.payload) as { type?: string; streamId?: string; version?: number };
    if (event.type) what = `${event.type} ${event.streamId}@${event.version}`;
  } catch {
    what = `(unreadable: ${JSON.stringify(letter.payload.slice(0, 40))})`;
  }
  return `${style.bold(`#${letter.seq}`)}  ${style.dim(letter.failedAt)}  ${letter.service}  ${what}  ${style.dim(`after ${letter.deliveries} deliveries`)}\n      ${style.red(letter.reason)}`;
}
