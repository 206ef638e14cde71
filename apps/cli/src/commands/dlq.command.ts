import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, listDeadLetters, retryDeadLetter, type StoredDeadLetter } from '@parley/messaging';
import { CliError } from '../cli-error';
import { style } from '../output';

export interface DlqOptions {
  natsUrl: string;
  prefix: string;
  action: 'list' | 'retry';
  /** retry: sequences to re-drive; empty with `all` for every one. */
  seqs: number[];
  all: boolean;
  json: boolean;
}

/** Shows or re-drives the messages services gave up on. */
export async function dlq(options: DlqOptions): Promise<string> {
  const nc = await connectNats(options.natsUrl, 'parley-cli');
  try {
    const jsm = await jetstreamManager(nc);
    const letters = await listDeadLetters(jsm, options.prefix);
    if (options.action === 'list') {
      if (options.json) return JSON.stringify(letters, null, 2);
      if (letters.length === 0) return 'No dead letters.';
      return letters.map(describe).join('\n');
    }
    const chosen = options.all ? letters : options.seqs.map((seq) => letters.find((l) => l.seq === seq) ?? seq);
    const missing = chosen.filter((l): l is number => typeof l === 'number');
    if (missing.length) throw new CliError(`No dead letter with sequence ${missing.join(', ')} (see: parley dlq list)`);
    for (const letter of chosen as StoredDeadLetter[]) await retryDeadLetter(nc, jsm, options.prefix, letter);
    return `Re-published ${chosen.length} dead letter${chosen.length === 1 ? '' : 's'}.`;
  } finally {
    await nc.close();
  }
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
