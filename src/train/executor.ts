/**
 * Runs an IR graph in TensorFlow.js, so whatever a pass emits can be trained without a
 * second model format.
 *
 * `TfExecutor.create(model)` compiles every node once (attributes parsed, unsupported ops
 * refused up front, naming the node) and turns float initializers into tf.Variables.
 * `run(feeds)` evaluates the nodes the requested values need, inside one `tf.tidy`, and
 * returns NCHW tensors; `tf.variableGrads(() => loss(exec.run(...)))` differentiates it
 * (`leanVariableGrads`, which the training loop uses, gives the same with less memory).
 * BatchNormalization either uses its running statistics ('frozen') or, in training runs,
 * batch statistics with momentum updates of the running statistics ('train'), which
 * `writeBack` stores into the model with the trained weights.
 *
 * ```ts
 * const { tf } = await selectBackend('auto', console.error);
 * const exec = TfExecutor.create(model, { trainable: 'all', batchNorm: 'train' });
 * const { value, grads } = tf.variableGrads(() => lossOf(exec.run({ input: x }, { training: true }).logits));
 * exec.writeBack(model);
 * exec.dispose();
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import { CompilerError } from '../errors.js';
import type { Model, Node } from '../ir/core.js';
import { DataType } from '../ir/data-type.js';
import { topologicalOrder } from '../ir/toposort.js';
import { Tensor as IrTensor } from '../ir/tensor.js';
import { constantData, setConstantData } from '../ir/weights.js';
import type { StaticDim } from '../ir/types.js';
import { Rng } from '../util/rng.js';
import { registerSculptKernels } from './kernels/index.js';
import { unsupportedError, type CompileCtx, type OpRun, type RunCtx } from './ops/context.js';
import { OPS, supportedOps } from './ops/index.js';
import { constantValue } from './ops/tensor.js';
import { nchw, tfv, type RtVal } from './ops/values.js';
import { SETTING_SLOTS } from '../ir/op-slots.js';

export interface ExecutorOptions {
  /** Which initializers become trainable tf.Variables: all float initializers, none, names, or a predicate.
   *  Every float32 initializer that a node reads as data or weight becomes a variable, and
   *  BN running statistics become non-trainable ones; initializers that only hold settings
   *  (Clip bounds, Resize scales, Pad values, ...) stay constants. 'all' trains every
   *  variable except BN statistics; names and a predicate choose among them. */
  trainable?: 'all' | 'none' | readonly string[] | ((name: string) => boolean);
  /** BatchNormalization in training: 'train' uses batch statistics and updates running stats
   *  (momentum from the node); 'frozen' uses running stats. Default 'frozen'. */
  batchNorm?: 'train' | 'frozen';
  /** Seed of the executor's random stream (dropout masks); default 0. */
  seed?: number;
}

interface Step {
  readonly node: Node;
  readonly run: OpRun;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

interface GraphInput {
  readonly name: string;
  readonly shape: StaticDim[] | undefined;
}

/** The steps a set of outputs needs, in order, and where each value is read for the last time. */
interface Plan {
  readonly steps: readonly number[];
  /** Per plan position: the values whose last reader is that step (freed right after it). */
  readonly dying: readonly (readonly string[])[];
}

/** Executors alive at once get distinct tf variable names (tfjs keeps a global registry). */
let executorCount = 0;

export class TfExecutor {
  readonly #steps: readonly Step[];
  readonly #producer: ReadonlyMap<string, number>;
  readonly #vars: Map<string, Variable>;
  readonly #trainable: ReadonlySet<string>;
  readonly #consts: ReadonlyMap<string, RtVal>;
  readonly #inputs: readonly GraphInput[];
  readonly #outputs: readonly string[];
  readonly #retained: Tensor[];
  readonly #batchNorm: 'train' | 'frozen';
  #rng: Rng;
  readonly #plans = new Map<string, Plan>();
  /** Variables a run has assigned (BN running statistics); writeBack stores these too. */
  readonly #touched = new Set<string>();
  #disposed = false;

  private constructor(init: {
    steps: Step[];
    producer: Map<string, number>;
    vars: Map<string, Variable>;
    trainable: Set<string>;
    consts: Map<string, RtVal>;
    inputs: GraphInput[];
    outputs: string[];
    retained: Tensor[];
    batchNorm: 'train' | 'frozen';
    seed: number;
  }) {
    this.#steps = init.steps;
    this.#producer = init.producer;
    this.#vars = init.vars;
    this.#trainable = init.trainable;
    this.#consts = init.consts;
    this.#inputs = init.inputs;
    this.#outputs = init.outputs;
    this.#retained = init.retained;
    this.#batchNorm = init.batchNorm;
    this.#rng = new Rng(init.seed);
  }

  /**
   * Compiles `model`'s main graph. O(nodes + initializer bytes).
   * @throws UNSUPPORTED_OP naming the first node the trainer cannot run (op type, domain,
   *   subgraph, or an attribute value it does not implement); INVALID_OPTION for a
   *   `trainable` name that is not a float initializer; GRAPH_CYCLE.
   */
  static create(model: Model, opts: ExecutorOptions = {}): TfExecutor {
    registerSculptKernels();
    const graph = model.graph;
    const opset = model.opset('') ?? 0;
    if (opset < 7) {
      throw new CompilerError('OPSET_OUT_OF_RANGE', `the trainer runs default-domain opsets 7 to 21; this model imports ${opset || 'none'}`, {
        hint: 'convert the model to a newer opset first',
      });
    }
    const retained: Tensor[] = [];
    const retain = (t: Tensor): Tensor => {
      retained.push(tf.keep(t));
      return t;
    };
    const steps: Step[] = [];
    const producer = new Map<string, number>();
    try {
      for (const node of topologicalOrder(graph)) {
        if (node.domain !== '' && node.domain !== 'ai.onnx') throw unsupportedError(node, `domain "${node.domain}" is not supported`);
        if (node.subgraphs().length > 0) throw unsupportedError(node, 'ops with subgraphs (If/Loop/Scan) are not supported');
        const compile = OPS[node.opType];
        if (!compile) throw unsupportedError(node, `the trainer has no implementation of ${node.opType} (it runs: ${supportedOps().join(', ')})`);
        const ctx: CompileCtx = {
          node,
          opset,
          inputNames: node.inputs.map((v) => v?.name ?? ''),
          unsupported: (why) => {
            throw unsupportedError(node, why);
          },
          retain,
        };
        const run = compile(ctx);
        const index = steps.length;
        steps.push({ node, run, inputs: ctx.inputNames, outputs: node.outputs.map((v) => v?.name ?? '') });
        for (const o of node.outputs) if (o) producer.set(o.name, index);
      }
    } catch (e) {
      for (const t of retained) t.dispose();
      throw e;
    }

    // BatchNormalization statistics are state, never trained. A float initializer read only
    // as a setting (Clip bounds, Resize scales, Pad values, ...) is not a parameter either.
    const stats = new Set<string>();
    const parameters = new Set<string>();
    for (const s of steps) {
      const fixed = SETTING_SLOTS[s.node.opType] ?? []; // src/ir/op-slots.ts: shared with cost
      s.inputs.forEach((name, i) => {
        if (!name) return;
        if (s.node.opType === 'BatchNormalization' && (i === 3 || i === 4)) stats.add(name);
        else if (!fixed.includes(i)) parameters.add(name);
      });
    }
    // Float initializers that only hold settings stay constants: reading a variable's value
    // on the host every run would force a device sync per Clip on a GPU backend.
    const floatInits = new Set(
      graph.initializers.filter((v) => v.initializer!.dataType === DataType.FLOAT && (parameters.has(v.name) || stats.has(v.name))).map((v) => v.name),
    );
    // Weights in Constant nodes (converters from other frameworks write them so) are
    // parameters like initializers: their step goes, a variable named after the output takes
    // its place, and writeBack stores into the Constant node in the form it came in.
    const liftedConstants = new Map<string, IrTensor>();
    for (const s of steps) {
      const out = s.node.outputs[0];
      if (s.node.opType !== 'Constant' || !out || !(parameters.has(out.name) || stats.has(out.name))) continue;
      const t = constantData(out);
      if (t && t.dataType === DataType.FLOAT) {
        liftedConstants.set(out.name, t);
        floatInits.add(out.name);
      }
    }
    if (liftedConstants.size) {
      const kept = steps.filter((s) => !liftedConstants.has(s.outputs[0] ?? ''));
      steps.splice(0, steps.length, ...kept);
      producer.clear();
      steps.forEach((s, i) => {
        for (const o of s.outputs) if (o) producer.set(o, i);
      });
    }
    const isTrainable = trainablePredicate(opts.trainable ?? 'all', floatInits, parameters, stats);
    const id = executorCount++;
    const vars = new Map<string, Variable>();
    const trainable = new Set<string>();
    const consts = new Map<string, RtVal>();
    for (const v of graph.initializers) {
      const t = v.initializer!;
      if (floatInits.has(v.name)) {
        const train = isTrainable(v.name) && !stats.has(v.name);
        const initial = tf.tensor(t.toFloat32(), t.shape, 'float32');
        vars.set(v.name, tf.variable(initial, train, `sculpt${id}/${v.name}`));
        initial.dispose();
        if (train) trainable.add(v.name);
      } else {
        const c = constantValue(t, retain);
        if (c) consts.set(v.name, c);
      }
    }
    for (const [name, t] of liftedConstants) {
      const train = isTrainable(name) && !stats.has(name);
      const initial = tf.tensor(t.toFloat32(), t.shape, 'float32');
      vars.set(name, tf.variable(initial, train, `sculpt${id}/${name}`));
      initial.dispose();
      if (train) trainable.add(name);
    }
    const inputs = graph.inputs.filter((v) => !v.initializer).map((v) => ({ name: v.name, shape: v.shape }));
    return new TfExecutor({
      steps,
      producer,
      vars,
      trainable,
      consts,
      inputs,
      outputs: graph.outputs.map((v) => v.name),
      retained,
      batchNorm: opts.batchNorm ?? 'frozen',
      seed: opts.seed ?? 0,
    });
  }

  /** Initializer name → variable (float32 weights and data; BN statistics are non-trainable ones). */
  get variables(): ReadonlyMap<string, Variable> {
    return this.#vars;
  }

  /**
   * BatchNormalization nodes by whether a training run updates their running statistics
   * (`updated`: both statistics are variables) or must keep them (`fixed`: they are not
   * float32 initializers, so they run on those statistics in training too: training on
   * batch statistics that inference never sees is how a model collapses to one class).
   */
  batchNormNodes(): { updated: string[]; fixed: string[] } {
    const updated: string[] = [];
    const fixed: string[] = [];
    for (const s of this.#steps) {
      if (s.node.opType !== 'BatchNormalization') continue;
      const ok = [3, 4].every((i) => s.inputs[i] && this.#vars.has(s.inputs[i]!));
      (ok ? updated : fixed).push(s.node.where);
    }
    return { updated, fixed };
  }

  /** Names of the graph inputs run() expects in `feeds`. */
  get inputNames(): string[] {
    return this.#inputs.map((i) => i.name);
  }

  /** Names of the graph outputs run() returns by default. */
  get outputNames(): string[] {
    return [...this.#outputs];
  }

  /** The variables an optimizer should update, in initializer order. */
  trainableVariables(): Variable[] {
    return [...this.#vars].filter(([name]) => this.#trainable.has(name)).map(([, v]) => v);
  }

  /**
   * Runs the main graph. feeds: NCHW tf tensors by graph-input name. Returns the requested
   * values (graph outputs by default; any intermediate value name allowed) as NCHW tensors
   * the caller owns. With `training`, dropout is active and (batchNorm 'train') BN uses
   * batch statistics and updates its running statistics.
   *
   * An intermediate value is freed as soon as its last reader has run, so a forward pass
   * holds only the live values (inference peaks at a few layers' activations, not the sum
   * of all of them). Under a gradient tape this is safe: tfjs keeps its own references to
   * the tensors a gradient needs.
   * @throws MISSING_VALUE for an unknown output name; FEED_MISSING; FEED_SHAPE_MISMATCH;
   *   RUNTIME_FAILED naming the node when an op fails on the given shapes.
   */
  run(
    feeds: Record<string, Tensor>,
    opts: {
      training?: boolean;
      outputs?: readonly string[];
      bnMomentum?: number;
      measurePeak?: boolean;
      timings?: Map<string, { ms: number; count: number }>;
    } = {},
  ): Record<string, Tensor> {
    if (this.#disposed) throw new CompilerError('PRECONDITION_FAILED', 'this executor has been disposed');
    const wanted = opts.outputs ?? this.#outputs;
    const plan = this.#plan(wanted);
    this.#checkFeeds(feeds, plan, wanted);
    const training = opts.training ?? false;
    const pending: [string, Tensor][] = [];
    const ctx: RunCtx = {
      training,
      // A momentum override (statistics recalibration) runs BN on batch statistics even
      // outside training, so dropout stays off while the statistics are measured.
      bnTrain: (training && this.#batchNorm === 'train') || opts.bnMomentum !== undefined,
      bnMomentum: opts.bnMomentum,
      nextSeed: () => this.#rng.int(2 ** 31 - 1),
      variable: (name) => this.#vars.get(name),
      assign: (name, value) => {
        pending.push([name, value]);
      },
    };
    const external = new Set<Tensor>([...Object.values(feeds), ...this.#vars.values(), ...this.#retained]);
    const keepNames = new Set(wanted);
    const base = opts.measurePeak ? tf.memory().numBytes : 0;
    let peak = base;
    const result = tf.tidy(() => {
      const env = new Map<string, RtVal>();
      const get = (name: string): RtVal | undefined => {
        if (name === '') return undefined;
        const v = env.get(name);
        if (v) return v;
        const feed = feeds[name];
        if (feed) return tfv(feed);
        const variable = this.#vars.get(name);
        if (variable) return tfv(variable);
        return this.#consts.get(name);
      };
      // Frees a value whose last reader has run, unless another live value, a pending
      // assignment or something the caller owns shares one of its tensors.
      const release = (name: string) => {
        const v = env.get(name);
        if (!v || v.kind !== 'tf' || keepNames.has(name)) return;
        env.delete(name);
        const doomed = v.tensors().filter((t) => !external.has(t));
        if (doomed.length === 0) return;
        const shared = new Set<Tensor>();
        for (const other of env.values()) if (other.kind === 'tf') for (const t of other.tensors()) shared.add(t);
        for (const [, t] of pending) shared.add(t);
        for (const t of doomed) if (!shared.has(t) && !t.isDisposed) t.dispose();
      };
      plan.steps.forEach((i, pos) => {
        const step = this.#steps[i]!;
        let outs: (RtVal | undefined)[];
        const t0 = opts.timings ? performance.now() : 0;
        try {
          outs = step.run(step.inputs.map(get), ctx);
        } catch (e) {
          if (e instanceof CompilerError) throw e;
          throw new CompilerError('RUNTIME_FAILED', `${step.node.opType} at ${step.node.where} failed: ${(e as Error).message}`, {
            where: step.node.where,
            cause: e,
            hint: `input shapes: ${step.inputs
              .map((n) => {
                const v = get(n);
                return v ? `[${v.shape.join(',')}]` : '-';
              })
              .join(' ')}`,
          });
        }
        if (opts.timings) {
          // Kernels run synchronously on cpu, wasm and tfjs-node: wall time is the op's cost.
          const e = opts.timings.get(step.node.opType) ?? { ms: 0, count: 0 };
          e.ms += performance.now() - t0;
          e.count++;
          opts.timings.set(step.node.opType, e);
        }
        step.outputs.forEach((name, k) => {
          const v = outs[k];
          if (name && v) env.set(name, v);
        });
        if (opts.measurePeak) peak = Math.max(peak, tf.memory().numBytes);
        for (const name of plan.dying[pos]!) release(name);
      });
      for (const [name, value] of pending) {
        this.#vars.get(name)!.assign(value);
        this.#touched.add(name);
      }
      const result: Record<string, Tensor> = {};
      for (const name of wanted) {
        const v = get(name);
        if (!v) throw new CompilerError('MISSING_VALUE', `value "${name}" was not computed`, { where: name });
        const t = nchw(v);
        result[name] = external.has(t) ? tf.clone(t) : t;
      }
      return result;
    });
    if (opts.measurePeak) this.lastPeakBytes = peak - base;
    return result;
  }

  /** Peak tensor bytes above the starting level of the last run with `measurePeak`. */
  lastPeakBytes = 0;

  /** Restarts the random stream of dropout masks (the loop reseeds per epoch, so a resumed run draws the same masks). */
  reseed(seed: number): void {
    this.#rng = new Rng(seed);
  }

  /**
   * Writes variable values (and BN running stats) back into the model's initializers and
   * Constant nodes (each in the form it came in): every trainable variable and every
   * variable a run assigned; the rest are unchanged.
   * @throws MISSING_VALUE when `model` lacks one of those initializers.
   */
  writeBack(model: Model): void {
    if (this.#disposed) throw new CompilerError('PRECONDITION_FAILED', 'this executor has been disposed');
    const byName = new Map(model.graph.initializers.map((v) => [v.name, v]));
    for (const n of model.graph.nodes)
      if (n.opType === 'Constant' && n.outputs[0] && !byName.has(n.outputs[0].name)) byName.set(n.outputs[0].name, n.outputs[0]);
    for (const [name, variable] of this.#vars) {
      if (!this.#trainable.has(name) && !this.#touched.has(name)) continue;
      const v = byName.get(name);
      const t = v ? constantData(v) : undefined;
      if (!v || !t) throw new CompilerError('MISSING_VALUE', `the model has no initializer or Constant node "${name}" to write back`, { where: name });
      if (t.size !== variable.size) {
        throw new CompilerError('MASK_SHAPE_MISMATCH', `weight "${name}" has ${t.size} values; the trained variable has ${variable.size}`, { where: name });
      }
      // In place, in the form the weight came in (initializer, or Constant node attribute).
      setConstantData(v, IrTensor.fromFloat32(name, t.shape, Float32Array.from(variable.dataSync() as Float32Array)));
    }
  }

  /** Frees the variables and constants. The executor cannot run afterwards. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const v of this.#vars.values()) v.dispose();
    for (const t of this.#retained) t.dispose();
  }

  /** Steps needed for `wanted`, in order, with each value's last reader (cached per output list). O(steps). */
  #plan(wanted: readonly string[]): Plan {
    const key = wanted.join('\u0000');
    const hit = this.#plans.get(key);
    if (hit) return hit;
    const known = (n: string) => this.#producer.has(n) || this.#vars.has(n) || this.#consts.has(n) || this.#inputs.some((i) => i.name === n);
    for (const n of wanted) {
      if (!known(n))
        throw new CompilerError('MISSING_VALUE', `no value named "${n}" in the main graph`, {
          where: n,
          hint: 'ask for a graph output, an intermediate value, an input or an initializer by its exact name',
        });
    }
    const need = new Set<number>();
    const stack = [...wanted];
    while (stack.length) {
      const n = stack.pop()!;
      const i = this.#producer.get(n);
      if (i === undefined || need.has(i)) continue;
      need.add(i);
      for (const inp of this.#steps[i]!.inputs) if (inp) stack.push(inp);
    }
    const steps = [...need].sort((a, b) => a - b);
    // Only values some step produces are freed; an output nobody reads dies with the run.
    const last = new Map<string, number>();
    steps.forEach((i, pos) => {
      for (const n of this.#steps[i]!.inputs) if (n && this.#producer.has(n)) last.set(n, pos);
      for (const n of this.#steps[i]!.outputs) if (n && !last.has(n)) last.set(n, pos);
    });
    const dying: string[][] = steps.map(() => []);
    for (const [n, pos] of last) dying[pos]!.push(n);
    const plan = { steps, dying };
    this.#plans.set(key, plan);
    return plan;
  }

  #checkFeeds(feeds: Record<string, Tensor>, plan: Plan, wanted: readonly string[]): void {
    const read = new Set<string>(wanted);
    for (const i of plan.steps) for (const n of this.#steps[i]!.inputs) read.add(n);
    for (const input of this.#inputs) {
      if (!read.has(input.name)) continue;
      const t = feeds[input.name];
      if (!t) {
        throw new CompilerError('FEED_MISSING', `no tensor given for graph input "${input.name}"`, {
          where: input.name,
          hint: `feed every input: ${this.inputNames.join(', ')}`,
        });
      }
      const s = input.shape;
      if (!s) continue;
      const bad = t.rank !== s.length || s.some((d, k) => typeof d === 'number' && d !== t.shape[k]);
      if (bad) {
        throw new CompilerError('FEED_SHAPE_MISMATCH', `input "${input.name}" expects [${s.map((d) => d ?? '?').join(',')}]; got [${t.shape.join(',')}]`, {
          where: input.name,
        });
      }
    }
  }
}

function trainablePredicate(
  spec: NonNullable<ExecutorOptions['trainable']>,
  floatInits: ReadonlySet<string>,
  parameters: ReadonlySet<string>,
  stats: ReadonlySet<string>,
): (name: string) => boolean {
  if (spec === 'all') return (name) => parameters.has(name);
  if (spec === 'none') return () => false;
  if (typeof spec === 'function') return spec;
  const names = new Set(spec);
  for (const n of names) {
    if (!floatInits.has(n)) {
      throw new CompilerError('INVALID_OPTION', `"${n}" is not a float32 initializer that a node reads as data or weight, so it cannot be trained`, {
        where: n,
        hint: 'list the initializers with `sculpt inspect --layers`; settings such as Clip bounds or Resize scales are not trainable',
      });
    }
    if (stats.has(n)) {
      throw new CompilerError('INVALID_OPTION', `"${n}" holds BatchNormalization running statistics; they are updated by batchNorm: 'train', not trained`, {
        where: n,
      });
    }
  }
  return (name) => names.has(name);
}
