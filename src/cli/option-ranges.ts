/**
 * Ranges of every numeric option, checked once for every command after yargs parsed the
 * arguments and before the command reads any file: a nonsense value is a usage error
 * (exit 2) at once, not a failure (or a hang, or 4 GB of memory) minutes later.
 *
 * Rules are looked up by option name: first `BY_COMMAND[<command>]`, then `COMMON`, so a
 * new command gets the common rules for free (threads, batch, epochs, lr, ...) and adds its
 * own names here. Every number must also be finite (`--gamma NaN`), and options that name a
 * file may not be empty (`-o ""`). yargs reads `--ratio ""` as 0: empty values are found in
 * the raw arguments.
 */
import { MAX_UNIT_KERNEL } from '../tissue/spec.js';

export interface Range {
  min?: number;
  max?: number;
  /** The bounds themselves are not allowed. */
  minOpen?: boolean;
  maxOpen?: boolean;
  int?: boolean;
  /** What the option means, for the message: "a fraction to remove". */
  what?: string;
}

export class OptionRangeError extends Error {}

const int = (min: number, max = Number.MAX_SAFE_INTEGER, what?: string): Range => ({ min, max, int: true, what });
const real = (min: number, max: number, open: { min?: boolean; max?: boolean } = {}, what?: string): Range => ({
  min,
  max,
  minOpen: open.min,
  maxOpen: open.max,
  what,
});

/** Rules for option names that mean the same in every command. */
export const COMMON: Readonly<Record<string, Range>> = {
  threads: int(1, 256, 'onnxruntime threads'),
  batch: int(1, 1 << 20, 'a batch size'),
  seed: int(-(2 ** 53) + 1, 2 ** 53 - 1, 'a seed'),
  epochs: int(1, 1_000_000, 'epochs'),
  steps: int(1, 2 ** 40, 'optimiser steps'),
  lr: real(0, 1e6, { min: true }, 'a learning rate'),
  momentum: real(0, 1, { max: true }),
  'weight-decay': real(0, 1e6),
  'warmup-steps': int(0, 2 ** 40),
  gamma: real(0, 1e6, { min: true }, 'a decay factor'),
  temperature: real(0, 1e6, { min: true }, 'a distillation temperature'),
  rho: real(0, 1, {}, 'a weight between 0 and 1'),
  'mimic-weight': real(0, 1e12),
  'l1-lambda': real(0, 1e12, {}, 'a penalty weight'),
  crop: int(0, 4096, 'pixels of shift'),
  'eval-every': int(1, 1_000_000, 'epochs between evaluations'),
  limit: int(1, 2 ** 40, 'a number of samples'),
  'eval-limit': int(1, 2 ** 40, 'a number of samples'),
  ratio: real(0, 1, { max: true }, 'the fraction of channels to remove'),
  'flops-target': real(0, 1, { min: true }, 'the fraction of FLOPs to keep'),
  'latency-target': real(0, 1, { min: true }, 'the fraction of latency to keep'),
  'min-channels': int(1, 1 << 20),
  'max-ratio': real(0, 1, { max: true }, 'the largest fraction of one group removed'),
  'min-group-channels': int(1, 1 << 20),
  hidden: int(1, 4096, 'hidden channels'),
  k1: int(1, MAX_UNIT_KERNEL, 'a kernel size'),
  k2: int(1, MAX_UNIT_KERNEL, 'a kernel size'),
  warmup: int(0, 1_000_000, 'warm-up runs'),
  'min-runs': int(1, 10_000_000, 'timed runs'),
  'max-runs': int(1, 10_000_000, 'timed runs'),
  window: int(1, 1_000_000, 'runs'),
  tolerance: real(0, 1, { min: true }),
  'max-time': real(0, 86_400, { min: true }, 'seconds'),
  'max-drop': real(0, 100, {}, 'percentage points'),
  'min-speedup': real(0, 1e6, { min: true }, 'a speed-up factor'),
  'max-params': int(0, 2 ** 53 - 1, 'a parameter count'),
  width: real(0, 4, { min: true }, 'a width multiplier'),
  size: int(1, 4096, 'pixels'),
  channels: int(1, 4096, 'input channels'),
  classes: int(1, 1_000_000, 'classes'),
  opset: int(1, 1000),
  lambda: real(0, 1e12, {}, 'a penalty weight'),
  'score-lr': real(0, 1e6, { min: true }, 'a learning rate'),
  'finetune-lr': real(0, 1e6, { min: true }, 'a learning rate'),
  'score-epochs': int(0, 1_000_000, 'epochs'),
  'recover-epochs': int(0, 1_000_000, 'epochs'),
  'finetune-epochs': int(0, 1_000_000, 'epochs'),
  'decay-every': int(1, 1_000_000, 'epochs'),
  'round-to': int(1, 1 << 16, 'a channel multiple'),
  calibration: int(1, 2 ** 40, 'a number of images'),
  'params-target': real(0, 1, { min: true }, 'the fraction of params to keep'),
  'penalty-weight': real(0, 1e12),
  population: int(1, 1_000_000),
  parents: int(1, 1_000_000),
  offspring: int(1, 1_000_000),
  survivors: int(1, 1_000_000),
  mutation: real(0, 1, {}, 'a fraction of bits'),
  workers: int(1, 256, 'worker threads'),
};

/** Per-command rules, by the command words (`models build`). */
export const BY_COMMAND: Readonly<Record<string, Readonly<Record<string, Range>>>> = {
  inspect: { batch: int(1, 1 << 20, 'the batch size counted for symbolic dims') },
};

/** Options that name files: an empty value is a usage error. */
export const PATH_OPTIONS: readonly string[] = [
  'output',
  'report',
  'checkpoint',
  'mask',
  'scores',
  'teacher',
  'baseline',
  'validation',
  'data',
  'checkpoint-dir',
];

function describe(r: Range): string {
  const lo = r.min === undefined ? '' : `${r.minOpen ? '>' : '≥'} ${r.min}`;
  const hi = r.max === undefined ? '' : `${r.maxOpen ? '<' : '≤'} ${r.max}`;
  return `${r.int ? 'a whole number' : 'a number'}${lo || hi ? ` ${[lo, hi].filter(Boolean).join(' and ')}` : ''}`;
}

/** The problem with `value` under `r`, or undefined. */
export function rangeProblem(value: number, r: Range): string | undefined {
  if (!Number.isFinite(value)) return 'it is not a finite number';
  if (r.int && !Number.isInteger(value)) return 'it must be a whole number';
  if (r.min !== undefined && (value < r.min || (r.minOpen && value === r.min))) return `it must be ${describe(r)}`;
  if (r.max !== undefined && (value > r.max || (r.maxOpen && value === r.max))) return `it must be ${describe(r)}`;
  return undefined;
}

/** Option names given with an empty value in the raw arguments (`--ratio ""`, `--ratio=`). */
function emptyValued(raw: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < raw.length; i++) {
    const a = raw[i]!;
    if (a === '--') break;
    const eq = /^--?([A-Za-z][\w-]*)=$/.exec(a);
    if (eq) {
      out.add(eq[1]!);
      continue;
    }
    const flag = /^--?([A-Za-z][\w-]*)$/.exec(a);
    if (flag && raw[i + 1] === '') out.add(flag[1]!);
  }
  return out;
}

/**
 * Checks the parsed arguments of one command. @throws OptionRangeError (a usage error)
 * naming the option, the value and the allowed range.
 */
export function checkOptionRanges(argv: Record<string, unknown>, raw: readonly string[]): void {
  const words = ((argv._ as unknown[] | undefined) ?? []).map(String);
  const cmd = BY_COMMAND[words.slice(0, 2).join(' ')] ?? BY_COMMAND[words[0] ?? ''] ?? {};
  const empties = emptyValued(raw);
  const aliases: Record<string, string> = { o: 'output', T: 'temperature' };
  for (const name of empties) {
    const key = aliases[name] ?? name;
    if (PATH_OPTIONS.includes(key) || key in COMMON || key in cmd || typeof argv[key] === 'number') {
      throw new OptionRangeError(`--${key} was given an empty value`);
    }
  }
  for (const [key, value] of Object.entries(argv)) {
    if (key === '_' || key === '$0' || key.length === 1 || /[A-Z]/.test(key)) continue; // aliases, camelCase copies
    if (typeof value === 'string' && value.trim() === '' && PATH_OPTIONS.includes(key)) throw new OptionRangeError(`--${key} was given an empty value`);
    if (typeof value !== 'number') continue;
    const rule = cmd[key] ?? COMMON[key];
    const problem = rule ? rangeProblem(value, rule) : Number.isFinite(value) ? undefined : 'it is not a finite number';
    if (problem) throw new OptionRangeError(`--${key} ${value}: ${problem}${rule?.what ? ` (${rule.what})` : ''}`);
  }
}
