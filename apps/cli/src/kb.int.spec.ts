/** `parley kb` as a separate process against the real Postgres. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateDatabase } from '@parley/event-store';
import { createTestDatabase, repoRoot, runCli, type TestDatabase } from '@parley/testing';

describe('parley kb', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  const dir = mkdtempSync(join(tmpdir(), 'parley-kb-'));
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  beforeAll(async () => {
    db = await createTestDatabase('kb_cli');
    await migrateDatabase(db.url);
    env = { DATABASE_URL: db.url };
  });
  afterAll(() => db?.drop());

  it('imports the Demo Bank CSV with its answers, and lists it', async () => {
    const demo = join(repoRoot(), 'data/demo-bank');
    const imported = await runCli(['kb', 'import', join(demo, 'questions.csv'), '--answers', join(demo, 'answers.json')], env);
    expect(imported).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('Imported 77 entries (10003 example questions) as knowledge base version 1 of tenant default'),
    });
    const listed = await runCli(['kb', 'list'], env);
    expect(listed.stdout).toContain('Knowledge base of tenant default, version 1');
    expect(listed.stdout).toContain('card_arrival (153 examples');
    const skipped = await runCli(['kb', 'import', join(demo, 'questions.csv'), '--answers', join(demo, 'answers.json'), '--if-empty'], env);
    expect(skipped.stdout).toContain('already has knowledge base version 1; nothing imported');
  });

  it('imports a knowledge base in any script, and warns of examples with nothing to match on', async () => {
    const json = file(
      'scripts.json',
      JSON.stringify({
        entries: [
          { intent: 'lost_card_fr', examples: ["J'ai perdu ma carte", 'Carte volée'], answer: 'Bloquez-la dans l’application.' },
          { intent: 'lost_card_ru', examples: ['Я потерял карту', '🙂'], answer: 'Заблокируйте карту.' },
          { intent: 'only_emoji', examples: ['🙂🙂', '!!!'], answer: 'Hm.' },
        ],
      }),
    );
    const imported = await runCli(['kb', 'import', json, '--tenant', 'scripts'], env);
    expect(imported.code).toBe(0);
    expect(imported.stderr).toContain(
      'warning: 3 example question(s) have no letters or numbers to match on; 1 entries have no other, so they can never be matched: only_emoji',
    );
    const clean = await runCli(
      [
        'kb',
        'import',
        file('clean.json', JSON.stringify({ entries: [{ intent: 'x', examples: ['我的卡丢了'], answer: 'y' }] })),
        '--tenant',
        'scripts',
      ],
      env,
    );
    expect(clean.stderr).toBe('');
  });

  it('adds a version from JSON without touching the old one, per tenant', async () => {
    const json = file(
      'kb.json',
      JSON.stringify({ entries: [{ intent: 'opening_hours', examples: ['when are you open'], answer: 'Nine to five.' }] }),
    );
    expect((await runCli(['kb', 'import', json], env)).stdout).toContain('as knowledge base version 2');
    const latest = JSON.parse((await runCli(['kb', 'list', '--json'], env)).stdout);
    expect(latest).toMatchObject({ version: 2, entries: [{ intent: 'opening_hours', answer: 'Nine to five.' }] });
    expect(latest.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    const first = JSON.parse((await runCli(['kb', 'list', '--version', '1', '--json'], env)).stdout);
    expect(first.entries).toHaveLength(77);
    expect((await runCli(['kb', 'import', json, '--tenant', 'acme'], env)).stdout).toContain('version 1 of tenant acme');
  });

  it('names what is wrong with a bad import, and imports nothing', async () => {
    const csv = file('q.csv', 'text,category\nwhere is my card,card_arrival\nforgot pin,pin_blocked\n');
    const missing = await runCli(
      ['kb', 'import', csv, '--answers', file('a.json', JSON.stringify({ card_arrival: 'Soon.', refunds: 'Ask.' })), '--tenant', 'bad'],
      env,
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no answer for: pin_blocked; answers without example questions: refunds');
    expect((await runCli(['kb', 'import', csv], env)).code).toBe(2);
    expect((await runCli(['kb', 'import', file('bad.json', '{"entries": []}')], env)).stderr).toContain('entries');
    expect((await runCli(['kb', 'import', join(dir, 'nope.json')], env)).stderr).toContain('ENOENT');
    expect(
      (await runCli(['kb', 'import', file('h.csv', 'question,intent\na,b\n'), '--answers', file('b.json', '{"b":"x"}')], env)).stderr,
    ).toContain('header "text,category"');
    const none = await runCli(['kb', 'list', '--tenant', 'bad'], env);
    expect(none).toMatchObject({ code: 1, stderr: expect.stringContaining('Tenant bad has no knowledge base') });
    expect((await runCli(['kb', 'list', '--tenant', 'bad tenant'], env)).code).toBe(2);
  });
});
