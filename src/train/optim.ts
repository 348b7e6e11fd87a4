/**
 * Optimisers over tfjs variables, written out rather than taken from tf.train so that the
 * update rules are exactly PyTorch's (and testable against hand-computed steps):
 *
 * SGD (momentum µ, dampening 0, weight decay λ):
 *   g ← ∇ + λ·p;  v ← µ·v + g;  p ← p − lr·(nesterov ? g + µ·v : v)
 * Adam (β1, β2, ε; weight decay λ added to the gradient, as torch.optim.Adam):
 *   g ← ∇ + λ·p;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *   p ← p − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε)
 * AdamW: as Adam without λ in g, then p ← p − lr·λ·p (decoupled, applied first).
 *
 * On the native backend the updates are TensorFlow's fused ops, one per parameter
 * (native-optim.ts): the same rules, Adam's ε passed as ε·√(1−β2ᵗ) so that TensorFlow's
 * form, lr·√(1−β2ᵗ)/(1−β1ᵗ)·m/(√v + ε̂), is the one above.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CompilerError } from '../errors.js';
import { OPTIMIZERS } from './names.js';
import type { OptimizerName } from './names.js';
import { NativeUpdater, nativeOptimizerAvailable } from './native-optim.js';

export { OPTIMIZERS };
export type { OptimizerName };

export interface OptimizerOptions {
  momentum?: number;
  nesterov?: boolean;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
  /**
   * Which variables weight decay applies to. Default: tensors of rank ≥ 2 (conv and dense
   * weights), not biases, BatchNorm scales/shifts or β vectors, the usual practice.
   */
  decay?: (v: tf.Variable) => boolean;
}

export interface Optimizer {
  readonly name: OptimizerName;
  /** Number of steps applied so far. */
  readonly steps: number;
  /** One update of every variable that has a gradient, at learning rate `lr`. */
  apply(vars: readonly tf.Variable[], grads: ReadonlyMap<tf.Variable, tf.Tensor>, lr: number): void;
  /** The step count and every slot (momentum, Adam moments) on the host, for a checkpoint. */
  exportState(): OptimizerState;
  /** Restores a state from exportState; `variable` of each slot must be one this optimiser updates. */
  importState(s: OptimizerState): void;
  dispose(): void;
}

/** An optimiser's state on the host: slot `kind` ('v' for SGD momentum, 'm'/'v' for Adam) per variable. */
export interface OptimizerState {
  steps: number;
  slots: { kind: string; variable: tf.Variable; data: Float32Array }[];
}

function exportSlots(kind: string, map: Map<tf.Variable, tf.Variable>): OptimizerState['slots'] {
  return [...map].map(([variable, s]) => ({ kind, variable, data: Float32Array.from(s.dataSync() as Float32Array) }));
}

function importSlot(map: Map<tf.Variable, tf.Variable>, variable: tf.Variable, data: Float32Array): void {
  if (data.length !== variable.size)
    throw new CompilerError('CHECKPOINT_INVALID', `optimizer state for ${variable.name} has ${data.length} values; the variable has ${variable.size}`);
  map.get(variable)?.dispose();
  map.set(variable, tf.variable(tf.tensor(data, variable.shape, 'float32'), false));
}

const defaultDecay = (v: tf.Variable) => v.rank >= 2;

function slot(map: Map<tf.Variable, tf.Variable>, v: tf.Variable): tf.Variable {
  let s = map.get(v);
  if (!s) {
    s = tf.variable(tf.zerosLike(v), false);
    map.set(v, s);
  }
  return s;
}

/** The native updater for an optimiser's first step where the backend has one (null elsewhere). */
function nativeFor(slotCount: number): NativeUpdater | null {
  return nativeOptimizerAvailable() ? new NativeUpdater(slotCount) : null;
}

/**
 * Slot k's values for p imported (importState) before the native updater first saw p; they
 * seed its native slot and leave the tfjs map.
 */
function takeImported(maps: Map<tf.Variable, tf.Variable>[], p: tf.Variable, k: number): Float32Array | undefined {
  const s = maps[k]!.get(p);
  if (!s) return undefined;
  const data = Float32Array.from(s.dataSync() as Float32Array);
  s.dispose();
  maps[k]!.delete(p);
  return data;
}

/**
 * Moves p's native slots (if any) back into the tfjs maps, so that a state imported for p
 * replaces only the slots it names; the native updater seeds them again at p's next step.
 */
function reclaim(u: NativeUpdater | null | undefined, maps: Map<tf.Variable, tf.Variable>[], p: tf.Variable): void {
  if (!u || !u.params().includes(p)) return;
  maps.forEach((m, k) => importSlot(m, p, u.readSlot(p, k)!));
  u.forget(p);
}

function exportNative(u: NativeUpdater, kinds: readonly string[]): OptimizerState['slots'] {
  return kinds.flatMap((kind, k) => u.params().map((variable) => ({ kind, variable, data: u.readSlot(variable, k)! })));
}

class Sgd implements Optimizer {
  readonly name = 'sgd' as const;
  steps = 0;
  readonly #v = new Map<tf.Variable, tf.Variable>();
  /** TensorFlow's fused update on the native backend (decided at the first step); null: tfjs ops. */
  #native: NativeUpdater | null | undefined;
  constructor(readonly o: Required<Pick<OptimizerOptions, 'momentum' | 'nesterov' | 'weightDecay'>> & { decay: (v: tf.Variable) => boolean }) {}
  apply(vars: readonly tf.Variable[], grads: ReadonlyMap<tf.Variable, tf.Tensor>, lr: number): void {
    const { momentum: mu, nesterov, weightDecay: wd } = this.o;
    if (this.#native === undefined) this.#native = nativeFor(mu !== 0 ? 1 : 0);
    const u = this.#native;
    if (u) {
      tf.tidy(() => {
        const lrId = u.scalar(lr);
        try {
          for (const p of vars) {
            const g0 = grads.get(p);
            if (!g0) continue;
            const g = wd !== 0 && this.o.decay(p) ? tf.add(g0, tf.mul(p, wd)) : g0;
            if (mu === 0) u.apply(p, 'ResourceApplyGradientDescent', {}, [lrId, u.idOf(g)]);
            else u.apply(p, 'ResourceApplyMomentum', { use_nesterov: nesterov }, [lrId, u.idOf(g), u.scalar(mu, true)], (k) => takeImported([this.#v], p, k));
          }
        } finally {
          u.deleteScalar(lrId);
        }
      });
      this.steps++;
      return;
    }
    tf.tidy(() => {
      for (const p of vars) {
        const g0 = grads.get(p);
        if (!g0) continue;
        const g = wd !== 0 && this.o.decay(p) ? tf.add(g0, tf.mul(p, wd)) : g0;
        let step: tf.Tensor = g;
        if (mu !== 0) {
          const v = slot(this.#v, p);
          // torch: the first step sets v = g (no µ·0 term); the same as zeros-init here.
          const nv = tf.add(tf.mul(v, mu), g);
          v.assign(nv);
          step = nesterov ? tf.add(g, tf.mul(nv, mu)) : nv;
        }
        p.assign(tf.sub(p, tf.mul(step, lr)));
      }
    });
    this.steps++;
  }
  exportState(): OptimizerState {
    const slots = exportSlots('v', this.#v);
    if (this.#native) slots.push(...exportNative(this.#native, this.o.momentum !== 0 ? ['v'] : []));
    return { steps: this.steps, slots };
  }
  importState(s: OptimizerState): void {
    this.steps = s.steps;
    for (const { kind, variable, data } of s.slots) {
      if (kind !== 'v') continue;
      reclaim(this.#native, [this.#v], variable);
      importSlot(this.#v, variable, data);
    }
  }
  dispose(): void {
    for (const v of this.#v.values()) v.dispose();
    this.#v.clear();
    this.#native?.dispose();
    this.#native = undefined;
  }
}

class Adam implements Optimizer {
  steps = 0;
  readonly #m = new Map<tf.Variable, tf.Variable>();
  readonly #v = new Map<tf.Variable, tf.Variable>();
  #native: NativeUpdater | null | undefined;
  constructor(
    readonly name: 'adam' | 'adamw',
    readonly o: Required<Pick<OptimizerOptions, 'beta1' | 'beta2' | 'epsilon' | 'weightDecay'>> & { decay: (v: tf.Variable) => boolean },
  ) {}
  apply(vars: readonly tf.Variable[], grads: ReadonlyMap<tf.Variable, tf.Tensor>, lr: number): void {
    const { beta1: b1, beta2: b2, epsilon: eps, weightDecay: wd } = this.o;
    const t = this.steps + 1;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    if (this.#native === undefined) this.#native = nativeFor(2);
    const u = this.#native;
    if (u) {
      tf.tidy(() => {
        // ResourceApplyAdam: lr·√(1−β2ᵗ)/(1−β1ᵗ)·m/(√v + ε̂); ε̂ = ε·√(1−β2ᵗ) makes it the rule above.
        const [b1t, b2t, lrId, epsId] = [b1 ** t, b2 ** t, lr, eps * Math.sqrt(c2)].map((x) => u.scalar(x)) as [number, number, number, number];
        try {
          const rest = [b1t, b2t, lrId, u.scalar(b1, true), u.scalar(b2, true), epsId];
          for (const p of vars) {
            const g0 = grads.get(p);
            if (!g0) continue;
            const decays = wd !== 0 && this.o.decay(p);
            const g = decays && this.name === 'adam' ? tf.add(g0, tf.mul(p, wd)) : g0;
            if (decays && this.name === 'adamw') u.assignParam(p, tf.mul(p, 1 - lr * wd));
            u.apply(p, 'ResourceApplyAdam', { use_nesterov: false }, [...rest, u.idOf(g)], (k) => takeImported([this.#m, this.#v], p, k));
          }
        } finally {
          for (const id of [b1t, b2t, lrId, epsId]) u.deleteScalar(id);
        }
      });
      this.steps++;
      return;
    }
    tf.tidy(() => {
      for (const p of vars) {
        const g0 = grads.get(p);
        if (!g0) continue;
        const decays = wd !== 0 && this.o.decay(p);
        const g = decays && this.name === 'adam' ? tf.add(g0, tf.mul(p, wd)) : g0;
        const m = slot(this.#m, p);
        const v = slot(this.#v, p);
        const nm = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const nv = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        m.assign(nm);
        v.assign(nv);
        const base = decays && this.name === 'adamw' ? tf.mul(p, 1 - lr * wd) : p;
        const upd = tf.div(tf.div(nm, c1), tf.add(tf.sqrt(tf.div(nv, c2)), eps));
        p.assign(tf.sub(base, tf.mul(upd, lr)));
      }
    });
    this.steps++;
  }
  exportState(): OptimizerState {
    const slots = [...exportSlots('m', this.#m), ...exportSlots('v', this.#v)];
    if (this.#native) slots.push(...exportNative(this.#native, ['m', 'v']));
    return { steps: this.steps, slots };
  }
  importState(s: OptimizerState): void {
    this.steps = s.steps;
    for (const { kind, variable, data } of s.slots) {
      reclaim(this.#native, [this.#m, this.#v], variable);
      importSlot(kind === 'm' ? this.#m : this.#v, variable, data);
    }
  }
  dispose(): void {
    for (const v of [...this.#m.values(), ...this.#v.values()]) v.dispose();
    this.#m.clear();
    this.#v.clear();
    this.#native?.dispose();
    this.#native = undefined;
  }
}

/** Creates an optimiser. @throws INVALID_OPTION */
export function createOptimizer(name: string, opts: OptimizerOptions = {}): Optimizer {
  const wd = opts.weightDecay ?? 0;
  if (!(wd >= 0)) throw new CompilerError('INVALID_OPTION', `weight decay must be ≥ 0, not ${wd}`);
  const decay = opts.decay ?? defaultDecay;
  switch (name) {
    case 'sgd': {
      const momentum = opts.momentum ?? 0.9;
      if (!(momentum >= 0 && momentum < 1)) throw new CompilerError('INVALID_OPTION', `momentum must be in [0, 1), not ${momentum}`);
      return new Sgd({ momentum, nesterov: opts.nesterov ?? false, weightDecay: wd, decay });
    }
    case 'adam':
    case 'adamw':
      return new Adam(name, { beta1: opts.beta1 ?? 0.9, beta2: opts.beta2 ?? 0.999, epsilon: opts.epsilon ?? 1e-8, weightDecay: wd, decay });
    default:
      throw new CompilerError('INVALID_OPTION', `unknown optimizer "${name}"`, { hint: `use one of ${OPTIMIZERS.join(', ')}` });
  }
}
