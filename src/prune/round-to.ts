/**
 * `--round-to auto`: the channel multiple onnxruntime's blocked (NCHWc) conv layout uses on
 * this CPU — 16 floats per block with AVX-512, 8 with AVX2. Measured here (bench/prune.ts):
 * MobileNetV2 at 50% FLOPs reached speed-up/FLOPs-ratio 0.74 with multiples of 8 on an
 * AVX-512 machine and 0.91 with 16. Not the default: the default must give the same model
 * on every machine.
 */
import { readFileSync } from 'node:fs';
import { CompilerError } from '../errors.js';

/** 16 when the CPU has AVX-512F, else 8. `cpuinfo` is for tests. */
export function autoRoundTo(cpuinfo?: string): number {
  let text = cpuinfo;
  if (text === undefined) {
    try { text = readFileSync('/proc/cpuinfo', 'utf8'); } catch { return 8; }
  }
  return /\bavx512f\b/.test(text) ? 16 : 8;
}

/** Parses a --round-to value: a positive integer or `auto`. @throws INVALID_OPTION */
export function parseRoundTo(v: string | number): number {
  if (v === 'auto') return autoRoundTo();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CompilerError('INVALID_OPTION', `--round-to must be a positive integer or "auto"; got ${JSON.stringify(v)}`, { hint: 'use 8 (default), 16 for AVX-512 CPUs, 1 for exact counts, or auto' });
  return n;
}
