import { readdirSync, readFileSync } from 'node:fs';
import { latency, type Latency } from './measure';

export interface LoadResult {
  latency: Latency;
  /** Completed operations per second over the measured run. */
  perSecond: number;
  seconds: number;
}

/**
 * Runs `workers` loops at once; loop `w` calls `step(w, i)` for its i-th operation until `perWorker`
 * are done, timing each. Per-key order is the caller's: a worker owns the sessions it drives.
 */
export async function runLoad(
  workers: number,
  perWorker: number,
  step: (worker: number, index: number) => Promise<unknown>,
): Promise<LoadResult> {
  const samples: number[] = [];
  const seconds = await timeLoad(workers, perWorker, step, samples);
  return { latency: latency(samples), perSecond: samples.length / seconds, seconds };
}

/**
 * Runs systems' loads in turns — `rounds` rounds, one share of each system's load per round — and
 * adds each system's rounds up: a spell of a slower machine falls on all of them alike. Step `i`
 * of worker `w` keeps counting across rounds. `watch(key)` is called as a round of that system
 * starts, and what it returns as the round ends (to sample what the round cost).
 */
export async function runLoadsInTurns<K extends string>(
  rounds: number,
  workers: number,
  perWorker: number,
  steps: Record<K, (worker: number, index: number) => Promise<unknown>>,
  watch?: (key: K) => () => void,
): Promise<Record<K, LoadResult>> {
  const keys = Object.keys(steps) as K[];
  const samples = Object.fromEntries(keys.map((key) => [key, [] as number[]])) as Record<K, number[]>;
  const seconds = Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
  const share = Math.ceil(perWorker / rounds);
  for (let round = 0; round * share < perWorker; round++) {
    const offset = round * share;
    const n = Math.min(share, perWorker - offset);
    for (const key of round % 2 ? [...keys].reverse() : keys) {
      const done = watch?.(key);
      seconds[key] += await timeLoad(workers, n, (w, i) => steps[key](w, offset + i), samples[key]);
      done?.();
    }
  }
  return Object.fromEntries(
    keys.map((key) => [key, { latency: latency(samples[key]), perSecond: samples[key].length / seconds[key], seconds: seconds[key] }]),
  ) as Record<K, LoadResult>;
}

/** Runs the loops, pushing each operation's milliseconds to `samples`; the seconds it took. */
async function timeLoad(
  workers: number,
  perWorker: number,
  step: (worker: number, index: number) => Promise<unknown>,
  samples: number[],
): Promise<number> {
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let index = 0; index < perWorker; index++) {
        const t0 = performance.now();
        await step(worker, index);
        samples.push(performance.now() - t0);
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

/** Samples processes' resident memory (VmRSS) until stopped; returns the peak of each, in bytes. */
export function sampleMemory(pids: Record<string, number>, everyMs = 100): { stop: () => Record<string, number> } {
  const peaks: Record<string, number> = Object.fromEntries(Object.keys(pids).map((name) => [name, 0]));
  const sample = () => {
    for (const [name, pid] of Object.entries(pids)) {
      try {
        const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
        peaks[name] = Math.max(peaks[name], kb * 1024);
      } catch {
        // the process is gone
      }
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}

/** The ids of running processes whose name (`/proc/<pid>/comm`) is `name`: `postgres`, `nats-server`. */
export function pidsNamed(name: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

/** CPU time (user + system) a process has used so far, in ms; 0 once it is gone. */
function cpuMs(pid: number): number {
  try {
    // fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100 per second)
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/**
 * CPU time used by groups of processes between now and `stop`, in ms per group. A group's
 * processes are looked up at both ends (a Postgres backend may start meanwhile: all its time
 * counts); one that exits in between loses its time.
 */
export function sampleCpu(groups: Record<string, () => number[]>): { stop: () => Record<string, number> } {
  const start = new Map<number, number>();
  for (const pids of Object.values(groups)) for (const pid of pids()) start.set(pid, cpuMs(pid));
  return {
    stop: () =>
      Object.fromEntries(
        Object.entries(groups).map(([name, pids]) => [
          name,
          [...new Set(pids())].reduce((sum, pid) => sum + cpuMs(pid) - (start.get(pid) ?? 0), 0),
        ]),
      ),
  };
}

export const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
export const kb = (bytes: number) => (bytes / 1024).toFixed(1);
export const ratio = (a: number, b: number) => (b === 0 ? Infinity : a / b);
export const x = (value: number) => `${value.toFixed(2)}×`;
