/**
 * Learning-rate schedules as pure functions of the step (0-based), so a resumed or
 * repeated run gets the same rates.
 *
 * warm-up: linear from lr/warmup to lr over the first `warmup` steps (step i gets
 *   lr·(i+1)/warmup), then the schedule proper runs over the remaining steps:
 * - constant: lr
 * - step: lr·gamma^⌊s/every⌋, or lr·gamma^(milestones passed) when `milestones` is given
 * - cosine: minLr + ½(lr − minLr)(1 + cos(π·s/S)), S = total − warmup
 */
import { CompilerError } from '../errors.js';

export type ScheduleName = 'constant' | 'step' | 'cosine';
export const SCHEDULES: readonly ScheduleName[] = ['constant', 'step', 'cosine'];

export interface ScheduleOptions {
  kind: ScheduleName;
  lr: number;
  /** Total number of steps of the run (needed by cosine). */
  totalSteps: number;
  warmupSteps?: number;
  /** step: decay factor (default 0.1). */
  gamma?: number;
  /** step: decay every this many steps (after warm-up). */
  every?: number;
  /** step: decay at these steps (after warm-up) instead of every `every`. */
  milestones?: readonly number[];
  /** cosine: the final rate (default 0). */
  minLr?: number;
}

export type Schedule = (step: number) => number;

/** Builds a schedule. @throws INVALID_OPTION */
export function createSchedule(o: ScheduleOptions): Schedule {
  const warm = o.warmupSteps ?? 0;
  if (!(o.lr > 0)) throw new CompilerError('INVALID_OPTION', `learning rate must be > 0, not ${o.lr}`);
  if (!(Number.isInteger(warm) && warm >= 0)) throw new CompilerError('INVALID_OPTION', `warm-up steps must be a non-negative integer, not ${warm}`);
  const gamma = o.gamma ?? 0.1;
  const rest = Math.max(1, o.totalSteps - warm);
  let after: Schedule;
  switch (o.kind) {
    case 'constant':
      after = () => o.lr;
      break;
    case 'step': {
      if (o.milestones) {
        const ms = [...o.milestones].sort((a, b) => a - b);
        after = (s) => o.lr * gamma ** ms.filter((m) => s >= m).length;
      } else {
        const every = o.every ?? Math.max(1, Math.floor(rest / 3));
        if (!(every >= 1)) throw new CompilerError('INVALID_OPTION', `step schedule needs every ≥ 1, not ${every}`);
        after = (s) => o.lr * gamma ** Math.floor(s / every);
      }
      break;
    }
    case 'cosine': {
      const lo = o.minLr ?? 0;
      after = (s) => lo + 0.5 * (o.lr - lo) * (1 + Math.cos((Math.PI * Math.min(s, rest)) / rest));
      break;
    }
    default:
      throw new CompilerError('INVALID_OPTION', `unknown schedule "${o.kind as string}"`, { hint: `use one of ${SCHEDULES.join(', ')}` });
  }
  return (step) => (step < warm ? (o.lr * (step + 1)) / warm : after(step - warm));
}
