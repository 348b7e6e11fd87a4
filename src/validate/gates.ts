/**
 * Quality gates for deployment pipelines: a validated model passes or fails each gate,
 * and `sculpt validate` exits with EXIT.GATE_FAILED (3) when any fails.
 *
 * - `max-drop` (points): top-1 accuracy of the baseline minus the model's, in percentage
 *   points, must be <= the limit. Needs --baseline and --data.
 * - `min-speedup` (x): baseline median latency / model median latency at batch 1 must be
 *   >= the limit. Needs --baseline; latency is measured whenever this gate is set.
 * - `max-params` (count): the model's parameter count must be <= the limit.
 */
import { CompilerError } from '../errors.js';

export type GateName = 'max-drop' | 'min-speedup' | 'max-params';

export interface GateLimits {
  /** Largest allowed top-1 drop against the baseline, percentage points. */
  maxDrop?: number;
  /** Smallest allowed batch-1 speed-up against the baseline. */
  minSpeedup?: number;
  /** Largest allowed parameter count. */
  maxParams?: number;
}

export interface GateResult {
  gate: GateName;
  limit: number;
  /** The measured quantity the limit applies to. */
  actual: number;
  passed: boolean;
  /** One line for terminals: what was measured against what. */
  message: string;
}

/** What a gate needs measured; read by validate before it measures. */
export interface GateNeeds {
  baseline: boolean;
  accuracy: boolean;
  latency: boolean;
}

/** The measurements the given gates need. */
export function gateNeeds(g: GateLimits): GateNeeds {
  return {
    baseline: g.maxDrop !== undefined || g.minSpeedup !== undefined,
    accuracy: g.maxDrop !== undefined,
    latency: g.minSpeedup !== undefined,
  };
}

/** @throws INVALID_OPTION for a negative or non-finite limit. */
export function checkGateLimits(g: GateLimits): void {
  const check = (flag: string, v: number | undefined, min: number) => {
    if (v === undefined) return;
    if (!Number.isFinite(v) || v < min) throw new CompilerError('INVALID_OPTION', `--${flag} must be a number >= ${min} (got ${v})`);
  };
  check('max-drop', g.maxDrop, 0);
  check('min-speedup', g.minSpeedup, 0);
  check('max-params', g.maxParams, 0);
}

/** The numbers gates are judged on; undefined where not measured. */
export interface GateInputs {
  /** Top-1 of the model and baseline, fractions in [0, 1]. */
  top1?: number;
  baselineTop1?: number;
  /** Baseline median / model median at batch 1. */
  speedup?: number;
  params: number;
}

/**
 * Judges each set gate. A gate whose quantity was not measured is an error, not a pass.
 * @throws PRECONDITION_FAILED when a gate's measurement is missing.
 */
export function evaluateGates(limits: GateLimits, m: GateInputs): GateResult[] {
  checkGateLimits(limits);
  const out: GateResult[] = [];
  if (limits.maxDrop !== undefined) {
    if (m.top1 === undefined || m.baselineTop1 === undefined) {
      throw new CompilerError('PRECONDITION_FAILED', '--max-drop needs the accuracy of the model and of the baseline', { hint: 'give --data and --baseline' });
    }
    // Rounded to 1e-9 points so that equal accuracies from different sample orders compare equal.
    const drop = Math.round((m.baselineTop1 - m.top1) * 100 * 1e9) / 1e9;
    const passed = drop <= limits.maxDrop;
    out.push({
      gate: 'max-drop',
      limit: limits.maxDrop,
      actual: drop,
      passed,
      message: `top-1 ${drop >= 0 ? 'dropped' : 'rose'} ${Math.abs(drop).toFixed(2)} points (${pct(m.baselineTop1)} -> ${pct(m.top1)}); limit ${limits.maxDrop}`,
    });
  }
  if (limits.minSpeedup !== undefined) {
    if (m.speedup === undefined) {
      throw new CompilerError('PRECONDITION_FAILED', '--min-speedup needs latency of the model and of the baseline', { hint: 'give --baseline' });
    }
    const passed = m.speedup >= limits.minSpeedup;
    out.push({
      gate: 'min-speedup',
      limit: limits.minSpeedup,
      actual: m.speedup,
      passed,
      message: `batch-1 speed-up ${m.speedup.toFixed(3)}x; limit ${limits.minSpeedup}x`,
    });
  }
  if (limits.maxParams !== undefined) {
    const passed = m.params <= limits.maxParams;
    out.push({ gate: 'max-params', limit: limits.maxParams, actual: m.params, passed, message: `${m.params} parameters; limit ${limits.maxParams}` });
  }
  return out;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}
