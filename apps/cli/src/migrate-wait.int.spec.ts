/**
 * `parley migrate` in a container started beside its database: with PARLEY_CONNECT_WAIT_SECONDS it
 * waits for Postgres (here: behind a proxy that refuses connections until the test opens it).
 */
import { createTestDatabase, runCli, TcpProxy, TEST_POSTGRES_URL, waitFor, type TestDatabase } from '@parley/testing';

describe('parley migrate waiting for Postgres', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;

  beforeAll(async () => {
    db = await createTestDatabase('migrate_wait');
    const postgres = new URL(TEST_POSTGRES_URL);
    proxy = await TcpProxy.start({ host: postgres.hostname, port: Number(postgres.port || 5432) });
  });
  afterAll(async () => {
    await proxy?.close();
    await db?.drop();
  });

  const viaProxy = () => {
    const url = new URL(db.url);
    url.host = `127.0.0.1:${proxy.port}`;
    return url.toString();
  };

  it('waits for Postgres to come up, says so once, then migrates', async () => {
    proxy.cut();
    const migrating = runCli(['migrate'], { DATABASE_URL: viaProxy(), PARLEY_CONNECT_WAIT_SECONDS: '30' });
    // Postgres "comes up" once the CLI has been turned away twice (it tried again)
    await waitFor(() => proxy.refused >= 2, { what: 'the CLI to try twice', timeoutMs: 15_000 });
    proxy.restore();
    const result = await migrating;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Applied migrations');
    expect(result.stderr.match(/trying again for up to 30 s/g)).toHaveLength(1);
    expect(result.stderr).toContain(`Cannot reach PostgreSQL at postgres://postgres@127.0.0.1:${proxy.port}/`);
    expect(proxy.refused).toBeGreaterThanOrEqual(2);
  });

  it('every other command waits the same way: compose imports its knowledge base right after migrating', async () => {
    proxy.cut();
    const refusedBefore = proxy.refused;
    const importing = runCli(['kb', 'import', 'data/demo-bank/questions.csv', '--answers', 'data/demo-bank/answers.json', '--if-empty'], {
      DATABASE_URL: viaProxy(),
      PARLEY_CONNECT_WAIT_SECONDS: '30',
    });
    await waitFor(() => proxy.refused >= refusedBefore + 2, { what: 'kb import to try twice', timeoutMs: 15_000 });
    proxy.restore();
    const result = await importing;
    expect(result.stderr.match(/trying again for up to 30 s/g)).toHaveLength(1);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Imported/);
  });

  it('does not wait for what waiting cannot mend: a database that does not exist', async () => {
    const missing = new URL(db.url);
    missing.pathname = '/parley_no_such_database';
    const started = Date.now();
    const result = await runCli(['sessions'], { DATABASE_URL: missing.toString(), PARLEY_CONNECT_WAIT_SECONDS: '30' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('refused the connection');
    expect(result.stderr).toContain('does not exist');
    expect(result.stderr).not.toContain('trying again');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('fails at once without it, naming the server', async () => {
    proxy.cut();
    const started = Date.now();
    const result = await runCli(['migrate'], { DATABASE_URL: viaProxy() });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Cannot reach PostgreSQL');
    expect(Date.now() - started).toBeLessThan(10_000);
    proxy.restore();
  });
});
