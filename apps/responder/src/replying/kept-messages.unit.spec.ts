/** Routed messages kept for their turn: bounded in number and in time, on a clock the test moves. */
import type { RecordedEvent } from '@parley/contracts';
import { KeptMessages, type Clock } from './kept-messages';

/** A clock whose time and timers the test moves by hand. */
function manualClock() {
  let now = 0;
  const timers = new Map<number, { at: number; run: () => void }>();
  let next = 0;
  const clock: Clock = {
    now: () => now,
    setTimeout: (run, ms) => {
      const id = ++next;
      timers.set(id, { at: now + ms, run });
      return id as unknown as { unref?: () => unknown };
    },
    clearTimeout: (id) => void timers.delete(id as number),
  };
  const advance = (ms: number) => {
    now += ms;
    for (const [id, timer] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at > now) continue;
      timers.delete(id);
      timer.run();
    }
  };
  return { clock, advance, pending: () => timers.size };
}

const message = (n: number) =>
  ({
    eventId: `m${n}`,
    type: 'UserMessageReceived',
    data: { turnId: `t${n}`, text: `hello ${n}`, requestedMode: 'auto' },
  }) as unknown as RecordedEvent<'UserMessageReceived'>;

describe('kept messages', () => {
  it('hands a message over once, while it is in time', () => {
    const { clock, advance } = manualClock();
    const kept = new KeptMessages(10, 60_000, clock);
    kept.keep(message(1));
    advance(59_000);
    expect(kept.take('m1')?.data.text).toBe('hello 1');
    expect(kept.take('m1')).toBeUndefined();
  });

  it('drops a message whose turn never comes when its minute is up, with nothing else happening', () => {
    const { clock, advance, pending } = manualClock();
    const kept = new KeptMessages(10, 60_000, clock);
    kept.keep(message(1));
    advance(30_000);
    kept.keep(message(2));
    advance(29_000);
    expect(kept.has('m1')).toBe(true);
    advance(2_000); // m1's minute is up: its timer fires
    expect([kept.has('m1'), kept.has('m2')]).toEqual([false, true]);
    advance(30_000);
    expect(kept.size).toBe(0);
    expect(pending()).toBe(0); // no timer left behind
  });

  it('keeps at most its capacity, dropping the oldest first; a repeat goes to the back', () => {
    const { clock } = manualClock();
    const kept = new KeptMessages(3, 60_000, clock);
    for (const n of [1, 2, 3]) kept.keep(message(n));
    kept.keep(message(1)); // again: now the newest
    kept.keep(message(4));
    expect(['m1', 'm2', 'm3', 'm4'].map((id) => kept.has(id))).toEqual([true, false, true, true]);
  });
});
