/**
 * A training run's checkpoint folder, so no training is lost:
 *
 * ```
 * <dir>/state.json         what the run is and where it stands (epoch, step, evaluations, best)
 * <dir>/epoch-<e>.onnx     the model after epoch e (weights and BN statistics)
 * <dir>/epoch-<e>.optim    the optimiser's slots after epoch e (raw float32, indexed in state.json)
 * <dir>/best.onnx          the model of the best evaluated epoch (accuracy, then loss)
 * ```
 *
 * Every file is written atomically (temp file + rename), and state.json last: a crash at
 * any moment leaves a state.json that names a complete model and optimiser pair. Files of
 * older epochs are removed once a newer state.json is in place.
 */
import { existsSync, readFileSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CompilerError } from '../errors.js';
import type { Model } from '../ir/core.js';
import { readModel } from '../serde/read.js';
import { atomicWrite, saveModel } from '../serde/write.js';

export const CHECKPOINT_FORMAT = 1;

/** What must match for a run to resume from a checkpoint. */
export interface RunIdentity {
  totalSteps: number;
  stepsPerEpoch: number;
  batchSize: number;
  seed: number;
  optimizer: string;
  /** Names of the trainable variables, in order. */
  trainable: string[];
}

export interface CheckpointEval {
  step: number;
  epoch: number;
  loss: number;
  accuracy: number;
  samples: number;
}

export interface CheckpointState {
  format: number;
  run: RunIdentity;
  /** Steps done; the run continues at this step. */
  step: number;
  epoch: number;
  model: string;
  optimizer: { file: string; steps: number; slots: { name: string; kind: string; offset: number; length: number }[] };
  evals: CheckpointEval[];
  best?: { step: number; epoch: number; accuracy: number; loss: number; file: string };
  /** Training time and images so far (throughput of a resumed run counts both parts). */
  trainMs: number;
  images: number;
}

/** Host copies of optimiser slots, keyed by initializer name. */
export interface HostSlots {
  steps: number;
  slots: { name: string; kind: string; data: Float32Array }[];
}

export class CheckpointDir {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  get statePath(): string {
    return join(this.dir, 'state.json');
  }
  get bestPath(): string {
    return join(this.dir, 'best.onnx');
  }
  modelPath(epoch: number): string {
    return join(this.dir, `epoch-${epoch}.onnx`);
  }

  /** The saved state, or undefined when the folder has none. @throws CHECKPOINT_INVALID */
  read(): CheckpointState | undefined {
    if (!existsSync(this.statePath)) return undefined;
    let s: CheckpointState;
    try {
      s = JSON.parse(readFileSync(this.statePath, 'utf8')) as CheckpointState;
    } catch (e) {
      throw new CompilerError('CHECKPOINT_INVALID', `${this.statePath} is not a checkpoint state (${(e as Error).message})`, {
        where: this.statePath,
        cause: e,
      });
    }
    if (s.format !== CHECKPOINT_FORMAT) {
      throw new CompilerError('CHECKPOINT_INVALID', `${this.statePath} has checkpoint format ${s.format}; this sculpt reads ${CHECKPOINT_FORMAT}`, {
        where: this.statePath,
      });
    }
    return s;
  }

  /**
   * Writes the model after `epoch` (step `step`) and the optimiser slots, then the state.
   * `state` holds everything but the file fields. Returns the model's path.
   */
  write(model: Model, opt: HostSlots, state: Omit<CheckpointState, 'format' | 'model' | 'optimizer'>, inputPath?: string): string {
    mkdirSync(this.dir, { recursive: true });
    const modelFile = `epoch-${state.epoch}.onnx`;
    const optFile = `epoch-${state.epoch}.optim`;
    saveModel(model, join(this.dir, modelFile), { inputPath });
    const slots: CheckpointState['optimizer']['slots'] = [];
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (const s of opt.slots) {
      slots.push({ name: s.name, kind: s.kind, offset, length: s.data.length });
      chunks.push(new Uint8Array(s.data.buffer, s.data.byteOffset, s.data.byteLength));
      offset += s.data.length;
    }
    atomicWrite(join(this.dir, optFile), chunks);
    this.writeState({ ...state, format: CHECKPOINT_FORMAT, model: modelFile, optimizer: { file: optFile, steps: opt.steps, slots } });
    // Older epochs are no longer named by the state.
    for (const f of readdirSync(this.dir)) {
      if (/^epoch-\d+\.(onnx|optim|onnx\.data)$/.test(f) && ![modelFile, optFile, `${modelFile}.data`].includes(f)) rmSync(join(this.dir, f), { force: true });
    }
    return join(this.dir, modelFile);
  }

  /** Rewrites state.json (after an evaluation changed `evals` or `best`). */
  writeState(s: CheckpointState): void {
    mkdirSync(this.dir, { recursive: true });
    atomicWrite(this.statePath, [new TextEncoder().encode(`${JSON.stringify(s, null, 1)}\n`)]);
  }

  /** The model of the state's epoch. @throws CHECKPOINT_INVALID */
  readModel(s: CheckpointState): Model {
    const p = join(this.dir, s.model);
    if (!existsSync(p)) throw new CompilerError('CHECKPOINT_INVALID', `the checkpoint names ${p}, which is missing`, { where: p });
    return readModel(p);
  }

  /** The optimiser slots of the state's epoch. @throws CHECKPOINT_INVALID */
  readSlots(s: CheckpointState): HostSlots {
    const p = join(this.dir, s.optimizer.file);
    if (!existsSync(p)) throw new CompilerError('CHECKPOINT_INVALID', `the checkpoint names ${p}, which is missing`, { where: p });
    const buf = readFileSync(p);
    const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const slots = s.optimizer.slots.map((x) => {
      if (x.offset + x.length > all.length) throw new CompilerError('CHECKPOINT_INVALID', `${p} is shorter than its index in state.json`, { where: p });
      return { name: x.name, kind: x.kind, data: all.slice(x.offset, x.offset + x.length) };
    });
    return { steps: s.optimizer.steps, slots };
  }

  /** Writes the best epoch's model. */
  writeBest(model: Model, inputPath?: string): string {
    mkdirSync(this.dir, { recursive: true });
    return saveModel(model, this.bestPath, { inputPath }).path;
  }
}

/**
 * Why a checkpoint's run cannot be resumed by this one, or undefined when it can.
 */
export function identityMismatch(saved: RunIdentity, now: RunIdentity): string | undefined {
  const keys: (keyof RunIdentity)[] = ['totalSteps', 'stepsPerEpoch', 'batchSize', 'seed', 'optimizer'];
  for (const k of keys) if (saved[k] !== now[k]) return `${k} was ${String(saved[k])}, now ${String(now[k])}`;
  if (saved.trainable.join('\n') !== now.trainable.join('\n')) return 'a different set of parameters trains';
  return undefined;
}
