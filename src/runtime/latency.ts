/**
 * Latency measurement with a stopping rule, so a number is reported only once it has
 * settled, and a run on a noisy machine neither stops too early nor runs forever.
 *
 * Procedure (every constant is an option):
 * 1. `warmup` untimed runs (first runs pay for allocation, the arena and lazy kernels).
 * 2. Timed runs t_1, t_2, ...; after run i the running median m_i = median(t_1..t_i).
 * 3. Stop as `stable` after run i when i >= minRuns, at least `window` earlier medians exist,
 *    and every median of the last `window` runs is within `tolerance` (relative) of m_i:
 *    max_{i-window <= j < i} |m_j - m_i| <= tolerance * m_i.
 * 4. Otherwise stop at `maxRuns` (`max-runs`), or when the time spent since the first
 *    warm-up run reaches `maxTimeMs` (`time-cap`; checked after every timed run, so at least
 *    one timed run is made however slow the model is).
 *
 * Statistics over all timed runs: median (mean of the two middle values for even n),
 * p90 by nearest rank (sorted[ceil(0.9 n) - 1]), min, max, mean.
 */
import { CompilerError } from '../errors.js';

export interface LatencyOptions {
  /** Untimed runs before measuring. Default 5. */
  warmup?: number;
  /** Fewest timed runs before the stability check may stop. Default 10. */
  minRuns?: number;
  /** Most timed runs. Default 1000. */
  maxRuns?: number;
  /** k: how many consecutive running medians must agree. Default 10. */
  window?: number;
  /** ε: relative spread allowed among those medians. Default 0.01. */
  tolerance?: number;
  /** Time cap for warm-up plus timed runs, in ms. Default 20 000. */
  maxTimeMs?: number;
  /** Milliseconds clock; injectable so the procedure can be tested with known times. */
  clock?: () => number;
}

export type StopReason = 'stable' | 'max-runs' | 'time-cap';

export interface LatencyStats {
  /** Median of the timed runs, ms. */
  medianMs: number;
  /** 90th percentile (nearest rank), ms. */
  p90Ms: number;
  minMs: number;
  maxMs: number;
  meanMs: number;
  /** Timed runs made. */
  runs: number;
  /** Untimed warm-up runs made. */
  warmup: number;
  /** True when the stopping rule, not a cap, ended the measurement. */
  stable: boolean;
  stopReason: StopReason;
  /** Wall time of the whole measurement including warm-up, ms. */
  totalMs: number;
}

/** The defaults, exported so reports and `--help` can state them. */
export const LATENCY_DEFAULTS: Required<Omit<LatencyOptions, 'clock'>> = {
  warmup: 5,
  minRuns: 10,
  maxRuns: 1000,
  window: 10,
  tolerance: 0.01,
  maxTimeMs: 20_000,
};

/** Median of a non-empty list (mean of the two middle values for even length). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new CompilerError('INVALID_OPTION', 'median of an empty list');
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** Nearest-rank percentile, p in (0, 100]: sorted[ceil(p/100 · n) - 1]. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) throw new CompilerError('INVALID_OPTION', 'percentile of an empty list');
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(rank, s.length) - 1]!;
}

/** Summary statistics of timed runs (ms). */
export function latencyStats(times: readonly number[]): Pick<LatencyStats, 'medianMs' | 'p90Ms' | 'minMs' | 'maxMs' | 'meanMs' | 'runs'> {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const t of times) {
    min = Math.min(min, t);
    max = Math.max(max, t);
    sum += t;
  }
  return { medianMs: median(times), p90Ms: percentile(times, 90), minMs: min, maxMs: max, meanMs: sum / times.length, runs: times.length };
}

/**
 * Whether the running medians have settled: the last `window` medians before the newest
 * all lie within `tolerance` · newest of it. `medians[i]` is the median after run i+1.
 */
export function isStable(medians: readonly number[], window: number, tolerance: number): boolean {
  const n = medians.length;
  if (n < window + 1) return false;
  const cur = medians[n - 1]!;
  const allowed = tolerance * Math.abs(cur);
  for (let j = n - 1 - window; j < n - 1; j++) if (Math.abs(medians[j]! - cur) > allowed) return false;
  return true;
}

function checkOptions(o: Required<Omit<LatencyOptions, 'clock'>>): void {
  const bad = (name: string, why: string) => new CompilerError('INVALID_OPTION', `latency option ${name} ${why}`);
  for (const k of ['warmup', 'minRuns', 'maxRuns', 'window'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0) throw bad(k, `must be a non-negative integer (got ${o[k]})`);
  }
  if (o.maxRuns < 1) throw bad('maxRuns', 'must be at least 1');
  if (o.minRuns > o.maxRuns) throw bad('minRuns', `(${o.minRuns}) exceeds maxRuns (${o.maxRuns})`);
  if (!(o.tolerance >= 0)) throw bad('tolerance', `must be >= 0 (got ${o.tolerance})`);
  if (!(o.maxTimeMs > 0)) throw bad('maxTimeMs', `must be > 0 (got ${o.maxTimeMs})`);
}

/**
 * Times `run` by the procedure in this module's header.
 * @throws INVALID_OPTION for inconsistent options; whatever `run` throws.
 */
export async function measureLatency(run: () => unknown, opts: LatencyOptions = {}): Promise<LatencyStats> {
  const o = { ...LATENCY_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as Required<LatencyOptions>;
  checkOptions(o);
  const clock = o.clock ?? (() => performance.now());
  const start = clock();
  for (let i = 0; i < o.warmup; i++) await run();
  const times: number[] = [];
  const medians: number[] = [];
  let stopReason: StopReason = 'max-runs';
  while (times.length < o.maxRuns) {
    const t0 = clock();
    await run();
    const t1 = clock();
    times.push(t1 - t0);
    medians.push(median(times));
    if (times.length >= o.minRuns && isStable(medians, o.window, o.tolerance)) {
      stopReason = 'stable';
      break;
    }
    if (t1 - start >= o.maxTimeMs) {
      stopReason = 'time-cap';
      break;
    }
  }
  return { ...latencyStats(times), warmup: o.warmup, stable: stopReason === 'stable', stopReason, totalMs: clock() - start };
}
