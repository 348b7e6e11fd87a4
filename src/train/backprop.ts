/**
 * `tf.variableGrads` with the memory of a training step bounded by what the backward pass
 * still needs.
 *
 * tfjs' own backward pass (engine.gradients, tfjs-core 4.x) keeps until its very end every
 * tensor it saved for the backward pass, the gradient of every intermediate value, each
 * accumulated partial gradient and every temporary a gradient function makes outside the
 * per-input closures (customGrad ones, such as batch norm's). Its peak is therefore the
 * saved activations plus a gradient for each of them: MobileNetV2 at 64×64 peaked at
 * ~315 MiB per image on wasm, so batch 16 overran wasm's 4 GiB heap.
 *
 * This walks the same tape in the same order with the same gradient functions, and frees as
 * it goes: a node's saved tensors right after its gradient has run, the gradient of a value
 * as soon as the node that produced it has consumed it, every temporary of a node's gradient
 * at the end of that node, a partial gradient once it is summed, and, right after the
 * forward pass, whatever nodes that do not lead from the variables to the loss saved (the
 * batch statistics' side of batch norm, for instance). The gradients are the same
 * arithmetic in the same order as tf.variableGrads, so they come out bitwise equal
 * (test/train/backprop.test.ts).
 *
 * It reads tfjs' tape (`engine.state.activeTape`, `startTape`/`endTape`,
 * `startScope`/`endScope`): internal, but unchanged across tfjs-core 3.x and 4.x. Where
 * those are missing, or inside another gradient (higher order), it is tf.variableGrads.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import { gradientReadsShapesOnly } from './kernels/gradients.js';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, Tensor>;
  outputs: Tensor[];
  gradient?: (dys: (Tensor | null)[]) => Record<string, () => Tensor>;
  saved?: Tensor[];
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number; numBytes: number };
  startTape(): void;
  endTape(): void;
  startScope(name?: string): void;
  endScope(result?: unknown): void;
  tidy<T>(name: string, fn: () => T): T;
  addTapeNode(kernelName: string, inputs: unknown, outputs: unknown, gradientsFunc: unknown, saved: Tensor[], attrs: unknown): void;
}

function internals(): EngineInternals | undefined {
  const e = tf.engine() as unknown as Partial<EngineInternals>;
  const ok =
    typeof e.startTape === 'function' &&
    typeof e.endTape === 'function' &&
    typeof e.startScope === 'function' &&
    typeof e.endScope === 'function' &&
    typeof e.tidy === 'function' &&
    typeof e.addTapeNode === 'function' &&
    typeof e.state?.gradientDepth === 'number';
  return ok ? (e as EngineInternals) : undefined;
}

/** What `leanVariableGrads` measured, when asked. */
export interface BackpropStats {
  /** Bytes the forward pass saved for the backward pass (each buffer once, however many tensors share it). */
  savedBytes: number;
  /** Tensor bytes alive at the end of the forward pass (after freeing what no gradient reads), above the level at the call. */
  forwardBytes: number;
  /** Peak tensor bytes during the step (forward end and after each backward node), above the level at the call. */
  peakBytes: number;
}

/**
 * Gradients of the scalar `f()` with respect to the trainable variables in `varList` (all
 * trainable variables when omitted), as `tf.variableGrads` returns them: `grads` by variable
 * name, null for a listed variable that is not trainable; a trainable variable the loss does
 * not depend on has no entry. `stats`, when given, receives the step's tensor bytes.
 * @throws as tf.variableGrads: f returns a non-scalar, or no variable leads to it.
 */
export function leanVariableGrads(f: () => Scalar, varList?: Variable[], stats?: BackpropStats): { value: Scalar; grads: NamedTensorMap } {
  const eng = internals();
  if (!eng || eng.state.gradientDepth > 0) return tf.variableGrads(f, varList);
  const listed = varList ?? Object.values(tf.engine().registeredVariables);
  const xs = listed.filter((v) => v.trainable);
  if (xs.length === 0)
    throw new Error(`variableGrads() expects at least one of the input variables to be trainable, but none of the ${listed.length} variables is trainable.`);
  const base = eng.state.numBytes;
  let peak = base;
  let y: Tensor;
  // A node whose gradient reads its saved tensors only for their shapes gives them up as it
  // is recorded (a disposed tensor keeps its shape): the forward pass's peak is what the
  // backward pass will read.
  const record = eng.addTapeNode;
  const shapesOnly = new Map<string, boolean>();
  eng.addTapeNode = function (this: EngineInternals, kernelName, inputs, outputs, gradientsFunc, saved, attrs) {
    record.call(this, kernelName, inputs, outputs, gradientsFunc, saved, attrs);
    let only = shapesOnly.get(kernelName);
    if (only === undefined) shapesOnly.set(kernelName, (only = gradientReadsShapesOnly(kernelName)));
    if (only) for (const t of saved) t.dispose();
  };
  eng.startTape();
  try {
    y = eng.tidy('forward', f);
  } catch (e) {
    eng.addTapeNode = record;
    eng.endTape();
    // A backend that ran out of memory may be dead: the error that says so must come out.
    try {
      disposeSaved(eng.state.activeTape ?? []);
    } catch {
      /* its tensors are gone with it */
    }
    eng.state.activeTape = null;
    throw e;
  }
  eng.addTapeNode = record;
  eng.endTape();
  const tape = eng.state.activeTape ?? [];
  try {
    if (!(y instanceof tf.Tensor)) throw new Error('The result y returned by f() must be a tensor.');
    if (y.rank !== 0) throw new Error(`The f passed in variableGrads(f) must return a scalar, but it returned a rank-${y.rank} tensor`);
    const savedBytes = stats ? bytesSaved(tape) : 0;
    const filtered = filterTape(tape, xs, y);
    // What the rest saved is never read: free it before the backward pass begins.
    const kept = new Set(filtered.map((n) => n.id));
    disposeSaved(tape.filter((n) => !kept.has(n.id)));
    peak = Math.max(peak, eng.state.numBytes);
    const forwardBytes = eng.state.numBytes - base;
    const result = eng.tidy('backward', () => {
      const acc = new Map<number, Tensor>();
      acc.set(y.id, tf.onesLike(y));
      for (let i = filtered.length - 1; i >= 0; i--) {
        const node = filtered[i]!;
        const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
        if (!node.gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
        // One scope per node: whatever its gradient function makes besides the input
        // gradients (customGrad computes them all up front) dies here, not at the end.
        eng.startScope(`backprop ${node.kernelName}`);
        let dxs: [Tensor, Tensor][] = [];
        try {
          const fns = node.gradient(dys);
          const seen = new Set<Tensor>();
          dxs = Object.keys(node.inputs).map((name) => {
            if (!(name in fns)) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(fns)}.`);
            const x = node.inputs[name]!;
            // Each input's gradient in its own tidy, as tfjs runs it: one's temporaries are gone before the next.
            let dx = eng.tidy(`backprop ${node.kernelName} ${name}`, () => fns[name]!());
            // One tensor handed to two inputs would be freed twice: the second gets a copy.
            if (seen.has(dx)) dx = tf.clone(dx);
            seen.add(dx);
            if (dx.dtype !== 'float32')
              throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
            if (!tf.util.arraysEqual(dx.shape, x.shape))
              throw new Error(
                `Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`,
              );
            return [x, dx];
          });
        } finally {
          // Even on a throw: endScope keeps the scope stack whole.
          eng.endScope(dxs.map(([, dx]) => dx));
        }
        const fresh = new Set(dxs.map(([, dx]) => dx));
        for (const t of node.saved ?? []) t.dispose();
        // Each value has one producer, met after all its readers: its gradient is spent.
        for (const o of node.outputs) {
          const dy = acc.get(o.id);
          acc.delete(o.id);
          if (dy && !fresh.has(dy)) dy.dispose();
        }
        for (const [x, dx] of dxs) {
          const cur = acc.get(x.id);
          if (!cur) {
            acc.set(x.id, dx);
            continue;
          }
          acc.set(x.id, tf.add(cur, dx));
          cur.dispose();
          if (dx !== cur) dx.dispose();
        }
        peak = Math.max(peak, eng.state.numBytes);
      }
      const grads: NamedTensorMap = {};
      for (const v of xs) {
        const g = acc.get(v.id);
        if (g) grads[v.name] = g;
      }
      return { value: y as Scalar, grads };
    });
    if (Object.keys(result.grads).length === 0) {
      throw new Error(
        'Cannot find a connection between any variable and the result of the loss function y=f(x). Please make sure the operations that use variables are inside the function f passed to minimize().',
      );
    }
    for (const v of listed) if (!v.trainable && varList) (result.grads as Record<string, Tensor | null>)[v.name] = null;
    if (stats) {
      stats.savedBytes = savedBytes;
      stats.forwardBytes = forwardBytes;
      stats.peakBytes = peak - base;
    }
    return result;
  } finally {
    try {
      disposeSaved(tape);
    } catch {
      /* a dead backend: the error in flight says why */
    }
    eng.state.activeTape = null;
  }
}

function bytesSaved(nodes: readonly TapeNode[]): number {
  const seen = new Set<object>();
  let bytes = 0;
  for (const n of nodes) {
    for (const t of n.saved ?? []) {
      if (t.isDisposed || seen.has(t.dataId)) continue;
      seen.add(t.dataId);
      if (t.dtype !== 'string') bytes += t.size * tf.util.bytesPerElement(t.dtype);
    }
  }
  return bytes;
}

function disposeSaved(nodes: readonly TapeNode[]): void {
  for (const n of nodes) for (const t of n.saved ?? []) t.dispose();
}

/** The nodes on a path from `xs` to `y`, in tape order, each with only its inputs that depend on `xs` (tfjs' getFilteredNodesXToY). */
function filterTape(tape: readonly TapeNode[], xs: readonly Tensor[], y: Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      nodesToY.add(node.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[name] = t;
    out.push({ ...node, inputs });
  }
  return out;
}
