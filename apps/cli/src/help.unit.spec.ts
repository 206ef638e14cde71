/** Each command takes the options its help names, and the global ones; nothing else. */
import { COMMANDS, GLOBAL_OPTIONS, optionsOf } from './help';
import { RUNNERS } from './runners';

describe('command options', () => {
  it('are the ones each command’s help names, plus the global ones', () => {
    expect([...optionsOf('migrate')].sort()).toEqual(['create-db', 'database-url', 'help', 'nats-url', 'tenant']);
    expect(optionsOf('rerun')).toEqual(
      new Set([...GLOBAL_OPTIONS, 'from-turn', 'routing-policy', 'faq-threshold', 'json', 'live', 'model', 'prompt']),
    );
    expect(optionsOf('replay').has('live')).toBe(false);
    for (const name of Object.keys(COMMANDS)) expect(optionsOf(name).has('help')).toBe(true);
  });

  it('has a runner for every command its help describes, and help for every command it runs', () => {
    expect(Object.keys(RUNNERS).sort()).toEqual(Object.keys(COMMANDS).sort());
  });
});
