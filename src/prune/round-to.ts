/**
 * `--round-to auto` (the default): the channel multiple the target's fast kernels want.
 *  - CPU (onnxruntime's blocked NCHWc conv layout): 16 floats per block with AVX-512F, 8
 *    with AVX2, 8 otherwise (8 also suits the GEMM kernels of other CPUs).
 *  - CUDA: 8 (cuDNN/cuBLAS tensor cores want channel counts that are multiples of 8).
 * The decision is recorded in the prune report as the explicit number (`options.roundTo`)
 * with the reason (`options.roundToAuto`), so a run is reproduced on any machine by
 * passing that number; for a given number the output is deterministic.
 */
import { readFileSync } from 'node:fs';
import { CompilerError } from '../errors.js';

export type RoundToOption = number | 'auto';

export interface AutoRoundTo {
  readonly value: number;
  /** Why, e.g. `cpu: avx512f → 16`. */
  readonly reason: string;
}

function cpuFlags(cpuinfo?: string): string | undefined {
  if (cpuinfo !== undefined) return cpuinfo;
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Decides `auto` for an execution provider (default 'cpu') from the CPU flags
 * (`/proc/cpuinfo`; `cpuinfo` is for tests). Never throws.
 */
export function decideRoundTo(provider = 'cpu', cpuinfo?: string): AutoRoundTo {
  if (provider === 'cuda') return { value: 8, reason: 'cuda: tensor cores want multiples of 8 → 8' };
  const text = cpuFlags(cpuinfo);
  if (text === undefined) return { value: 8, reason: 'cpu: flags unknown (no /proc/cpuinfo) → 8' };
  if (/\bavx512f\b/.test(text)) return { value: 16, reason: 'cpu: avx512f (NCHWc blocks of 16) → 16' };
  if (/\bavx2\b/.test(text)) return { value: 8, reason: 'cpu: avx2 (NCHWc blocks of 8) → 8' };
  return { value: 8, reason: 'cpu: no avx2/avx512f → 8' };
}

/** 16 when the CPU has AVX-512F, else 8. `cpuinfo` is for tests. */
export function autoRoundTo(cpuinfo?: string): number {
  return decideRoundTo('cpu', cpuinfo).value;
}

/** Parses a --round-to value: a positive integer or `auto` (kept as 'auto': the plan decides). @throws INVALID_OPTION */
export function parseRoundTo(v: string | number | undefined): RoundToOption {
  if (v === undefined || v === 'auto') return 'auto';
  const n = typeof v === 'number' ? v : v.trim() === '' ? NaN : Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new CompilerError('INVALID_OPTION', `--round-to must be a positive integer or "auto"; got ${JSON.stringify(v)}`, {
      hint: 'use auto (default: 16 on AVX-512 CPUs, else 8), 8, 16, or 1 for exact counts',
    });
  return n;
}

/** Resolves a round-to option to a number with its reason. @throws INVALID_OPTION */
export function resolveRoundTo(v: RoundToOption | undefined, provider = 'cpu'): AutoRoundTo {
  const p = parseRoundTo(v);
  return p === 'auto' ? decideRoundTo(provider) : { value: p, reason: 'given' };
}
