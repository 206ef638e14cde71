/** Latency figures of a list of samples in milliseconds. */
export interface Latency {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

export function latency(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length };
}

/** Runs `run` `warmup` times unmeasured, then `n` times measured one after another. */
export async function timed(n: number, warmup: number, run: () => Promise<unknown>): Promise<Latency> {
  for (let i = 0; i < warmup; i++) await run();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  return latency(samples);
}

/**
 * Like `timed`, for runs to be compared with each other: they take turns, one sample of each per
 * round, so a spell of background work (an autovacuum, another process) falls on all of them alike.
 */
export async function timedInTurns<K extends string>(
  n: number,
  warmup: number,
  runs: Record<K, () => Promise<unknown>>,
): Promise<Record<K, Latency>> {
  const keys = Object.keys(runs) as K[];
  for (let i = 0; i < warmup; i++) for (const key of keys) await runs[key]();
  const samples = Object.fromEntries(keys.map((key) => [key, [] as number[]])) as Record<K, number[]>;
  for (let i = 0; i < n; i++) {
    for (const key of keys) {
      const started = performance.now();
      await runs[key]();
      samples[key].push(performance.now() - started);
    }
  }
  return Object.fromEntries(keys.map((key) => [key, latency(samples[key])])) as Record<K, Latency>;
}

export const ms = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1));
