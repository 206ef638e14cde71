import { CliError } from '../cli-error';
import { parseSince } from './sessions.command';

describe('parseSince', () => {
  const now = Date.parse('2026-11-25T12:00:00.000Z');
  it.each([
    ['30m', '2026-11-25T11:30:00.000Z'],
    ['2h', '2026-11-25T10:00:00.000Z'],
    ['7d', '2026-11-18T12:00:00.000Z'],
    ['45s', '2026-11-25T11:59:15.000Z'],
    ['2026-11-01T00:00:00Z', '2026-11-01T00:00:00.000Z'],
  ])('reads %s', (value, expected) => {
    expect(parseSince(value, now).toISOString()).toBe(expected);
  });
  it('refuses anything else as a usage error', () => {
    expect(() => parseSince('yesterday', now)).toThrow(CliError);
    expect(() => parseSince('5 minutes', now)).toThrow(/--since must be an ISO time or a duration/);
  });
});
