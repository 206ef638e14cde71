import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import { readEventStream } from '../http-stream';

/** The LangGraph.js peer as a child process (same process tree), on a database of its own on the same Postgres. */
export class LangGraphPeer {
  private constructor(
    private readonly child: ChildProcess,
    readonly baseUrl: string,
    private readonly databaseUrl: string,
  ) {}

  static async start(databaseUrl: string, llmUrl: string): Promise<LangGraphPeer> {
    const child = spawn(process.execPath, [join(__dirname, 'langgraph-server.js')], {
      env: { ...process.env, DATABASE_URL: databaseUrl, LLM_URL: llmUrl, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let errors = '';
    child.stderr!.on('data', (chunk) => (errors += chunk));
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk) => {
        out += chunk;
        const match = /listening (\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`LangGraph peer exited (${code}): ${errors}`)));
    });
    return new LangGraphPeer(child, `http://127.0.0.1:${port}`, databaseUrl);
  }

  get pid(): number {
    return this.child.pid!;
  }

  async turn(threadId: string, text: string): Promise<string> {
    const res = await fetch(`${this.baseUrl}/threads/${threadId}/turns`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
    });
    const body = (await res.json()) as { reply?: string; error?: string };
    if (!res.ok) throw new Error(`LangGraph turn failed: ${body.error}`);
    return body.reply!;
  }

  /** A streamed turn: milliseconds to its first piece and to its end. */
  async streamedTurn(threadId: string, text: string): Promise<{ first: number; done: number }> {
    const started = performance.now();
    const res = await fetch(`${this.baseUrl}/threads/${threadId}/turns/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
    });
    if (res.status !== 200 || !res.body) throw new Error(`LangGraph.js turn failed: ${res.status} ${await res.text()}`);
    return readEventStream(res.body, started);
  }

  /** Bytes of its checkpoint tables (with indexes and TOAST). */
  async storageBytes(): Promise<number> {
    return tableBytes(this.databaseUrl, ['checkpoints', 'checkpoint_blobs', 'checkpoint_writes', 'checkpoint_migrations']);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** Total size of tables (with their indexes and TOAST) that exist among `tables`. */
export async function tableBytes(databaseUrl: string, tables: string[]): Promise<number> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ bytes: string }>(
      `select coalesce(sum(pg_total_relation_size(c.oid)), 0)::text as bytes from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'r' and c.relname = any($1)`,
      [tables],
    );
    return Number(rows[0].bytes);
  } finally {
    await client.end();
  }
}
