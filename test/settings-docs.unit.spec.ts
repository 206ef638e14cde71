/** README and .env.example document exactly the settings the code reads, with the same defaults. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS, type SettingName } from '@parley/contracts';

const root = join(__dirname, '..');
const envExample = readFileSync(join(root, '.env.example'), 'utf8');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const names = Object.keys(SETTINGS) as SettingName[];

describe('settings documentation', () => {
  it('.env.example lists every setting with its default, and nothing else', () => {
    const documented = Object.fromEntries(
      envExample
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    expect(Object.keys(documented).sort()).toEqual([...names].sort());
    for (const name of names) expect([name, documented[name]]).toEqual([name, SETTINGS[name].default ?? '']);
  });

  it('the README table lists every setting with its default', () => {
    for (const name of names) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row).toBeDefined();
      const def = SETTINGS[name].default;
      expect(row).toContain(def === undefined ? '| — |' : `\`${def}\``);
    }
  });
});
