/**
 * Optimiser updates as one TensorFlow op per parameter on the native backend (tfjs-node,
 * tfjs-node-gpu), the ops Keras runs: `ResourceApplyMomentum` (SGD, Nesterov included),
 * `ResourceApplyGradientDescent` (SGD without momentum) and `ResourceApplyAdam`.
 *
 * Written with tfjs ops, an SGD-with-momentum update is four eager ops per parameter (two
 * multiplies, an add and a subtract, each a pass over the parameter) plus two scalar
 * uploads; these ops update in one pass, in place. They need TensorFlow resource variables,
 * which tfjs does not have, so each parameter and each optimiser slot gets one here
 * (VarHandleOp, through tfjs-node's op binding), and the tfjs variable is pointed at the
 * resource's new value after every update (ReadVariableOp shares the buffer, no copy).
 *
 * When nothing but the tfjs variable holds its value, the update runs in place: the
 * variable's TensorFlow handle is released first, so TensorFlow finds the buffer unshared.
 * Otherwise (another tfjs tensor shares the variable's data) TensorFlow copies the buffer
 * before updating it, and the variable gets a new data id, as tfjs' own `assign` does.
 * A variable assigned from outside between updates (a checkpoint restored) is noticed and
 * copied into its resource before the next update.
 *
 * Only used when `nativeOptimizerAvailable()`; optim.ts keeps the tfjs-op updates elsewhere.
 */
import * as tf from '@tensorflow/tfjs-core';
import { onNative } from './native.js';

interface Attr {
  name: string;
  type: number;
  value: unknown;
}
interface TensorMeta {
  id: number;
  shape: number[];
  dtype: number;
}
interface Binding {
  TF_FLOAT: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_STRING: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_SHAPE: number;
  executeOp(name: string, attrs: Attr[], inputs: number[], outputs: number): TensorMeta[];
  createTensor(shape: number[], dtype: number, values: Float32Array): number;
  deleteTensor(id: number): void;
  tensorDataSync(id: number): Float32Array;
}
/** The parts of tfjs-node's NodeJSKernelBackend used here. */
interface NodeBackend {
  binding: Binding;
  tensorMap: { get(dataId: object): { id: number; refCount: number } | undefined };
  getInputTensorIds(ts: tf.Tensor[]): number[];
  createOutputTensor(meta: TensorMeta): tf.Tensor;
}

/** True when the active backend is TensorFlow's, with the op binding this module drives. */
export function nativeOptimizerAvailable(): boolean {
  if (!onNative()) return false;
  const b = tf.backend() as unknown as Partial<NodeBackend>;
  return typeof b.binding?.executeOp === 'function' && typeof b.getInputTensorIds === 'function' && typeof b.tensorMap?.get === 'function';
}

/** Resource names are process-wide in TensorFlow: every slot gets its own. */
let resourceCount = 0;

interface Entry {
  /** Resource handles (TF tensor ids): the parameter, then its slots. */
  readonly param: number;
  readonly slots: number[];
  /** The tfjs variable's data id and TF tensor id right after the last update (to notice outside assignments). */
  dataId: object;
  tfId: number;
}

/**
 * TensorFlow resource copies of parameters and their optimiser slots, and the fused update
 * ops on them. One per optimiser; `dispose` frees every resource.
 */
export class NativeUpdater {
  readonly #b: NodeBackend;
  readonly #entries = new Map<tf.Variable, Entry>();
  readonly #constants = new Map<number, number>();
  #disposed = false;

  /** @param slotCount slots per parameter (1 for momentum, 2 for Adam's moments). */
  constructor(readonly slotCount: number) {
    this.#b = tf.backend() as unknown as NodeBackend;
  }

  get #f(): Binding {
    return this.#b.binding;
  }

  #type(name: string): Attr {
    return { name, type: this.#f.TF_ATTR_TYPE, value: this.#f.TF_FLOAT };
  }

  #handle(shape: number[]): number {
    const f = this.#f;
    return f.executeOp(
      'VarHandleOp',
      [
        { name: 'container', type: f.TF_ATTR_STRING, value: '' },
        { name: 'shared_name', type: f.TF_ATTR_STRING, value: `sculpt_optimizer_slot_${process.pid}_${resourceCount++}` },
        this.#type('dtype'),
        { name: 'shape', type: f.TF_ATTR_SHAPE, value: shape },
      ],
      [],
      1,
    )[0]!.id;
  }

  #assign(resource: number, valueId: number): void {
    this.#f.executeOp('AssignVariableOp', [this.#type('dtype')], [resource, valueId], 0);
  }

  #read(resource: number): TensorMeta {
    return this.#f.executeOp('ReadVariableOp', [this.#type('dtype')], [resource], 1)[0]!;
  }

  /** A float32 scalar TF tensor id; kept until dispose when `keep` (constants), else the caller deletes it. */
  scalar(value: number, keep = false): number {
    const hit = keep ? this.#constants.get(value) : undefined;
    if (hit !== undefined) return hit;
    const id = this.#f.createTensor([], this.#f.TF_FLOAT, Float32Array.of(value));
    if (keep) this.#constants.set(value, id);
    return id;
  }

  deleteScalar(id: number): void {
    this.#f.deleteTensor(id);
  }

  /** The TF tensor id of a tfjs tensor (uploading values tfjs still holds on the host). */
  idOf(t: tf.Tensor): number {
    return this.#b.getInputTensorIds([t])[0]!;
  }

  #entry(p: tf.Variable, initial: (k: number) => Float32Array | undefined): Entry {
    let e = this.#entries.get(p);
    const current = this.idOf(p);
    if (!e) {
      const param = this.#handle(p.shape);
      const slots: number[] = [];
      for (let k = 0; k < this.slotCount; k++) {
        const s = this.#handle(p.shape);
        const data = initial(k) ?? new Float32Array(p.size);
        const v = this.#f.createTensor(p.shape, this.#f.TF_FLOAT, data);
        this.#assign(s, v);
        this.#f.deleteTensor(v);
        slots.push(s);
      }
      e = { param, slots, dataId: p.dataId, tfId: -1 };
      this.#entries.set(p, e);
    }
    if (e.dataId !== p.dataId || e.tfId !== current) {
      // First use, or the variable was assigned from outside: the resource takes its value (a copy).
      this.#assign(e.param, current);
      e.dataId = p.dataId;
      e.tfId = current;
    }
    return e;
  }

  /**
   * Runs `op` (a ResourceApply* op; `flags` its boolean attributes besides use_locking) with
   * inputs [p's resource, its slots..., ...rest] and makes `p` hold the result. `initial(k)` gives slot k's starting values the first time
   * `p` is seen (zeros when undefined).
   */
  apply(p: tf.Variable, op: string, flags: Record<string, boolean>, rest: number[], initial: (k: number) => Float32Array | undefined = () => undefined): void {
    const e = this.#entry(p, initial);
    const f = this.#f;
    const record = this.#b.tensorMap.get(p.dataId)!;
    const alone = record.refCount === 1 && record.id === e.tfId;
    if (alone) {
      // Only the variable holds this value: let go of TF's handle so the update needs no copy.
      f.deleteTensor(record.id);
      record.id = -1;
    }
    try {
      const bools = Object.entries({ use_locking: false, ...flags }).map(([name, value]) => ({ name, type: f.TF_ATTR_BOOL, value }));
      f.executeOp(op, [this.#type('T'), ...bools], [e.param, ...e.slots, ...rest], 0);
    } finally {
      const meta = this.#read(e.param);
      if (alone) record.id = meta.id;
      else this.#adopt(p, meta);
      e.dataId = p.dataId;
      e.tfId = this.#b.tensorMap.get(p.dataId)!.id;
    }
  }

  /** p takes the TF tensor `meta` as its value (a new data id; the tensor made for it is released, p keeps its reference). */
  #adopt(p: tf.Variable, meta: TensorMeta): void {
    const t = this.#b.createOutputTensor(meta);
    p.assign(t);
    t.dispose();
  }

  /** Makes p's resource take `value` (a decoupled weight decay applied before the update); p follows. */
  assignParam(p: tf.Variable, value: tf.Tensor): void {
    const e = this.#entry(p, () => undefined);
    this.#assign(e.param, this.idOf(value));
    this.#adopt(p, this.#read(e.param));
    e.dataId = p.dataId;
    e.tfId = this.#b.tensorMap.get(p.dataId)!.id;
  }

  /** The parameters that have slots, in first-update order. */
  params(): tf.Variable[] {
    return [...this.#entries.keys()];
  }

  /** Slot k of p on the host (a copy). */
  readSlot(p: tf.Variable, k: number): Float32Array | undefined {
    const e = this.#entries.get(p);
    if (!e) return undefined;
    const meta = this.#read(e.slots[k]!);
    const data = Float32Array.from(this.#f.tensorDataSync(meta.id));
    this.#f.deleteTensor(meta.id);
    return data;
  }

  /** Drops p's resources (its slots restart from `initial` at the next update). */
  forget(p: tf.Variable): void {
    const e = this.#entries.get(p);
    if (!e) return;
    this.#destroy([e.param, ...e.slots]);
    this.#entries.delete(p);
  }

  #destroy(handles: number[]): void {
    for (const h of handles) {
      this.#f.executeOp('DestroyResourceOp', [{ name: 'ignore_lookup_error', type: this.#f.TF_ATTR_BOOL, value: true }], [h], 0);
      this.#f.deleteTensor(h);
    }
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const e of this.#entries.values()) this.#destroy([e.param, ...e.slots]);
    this.#entries.clear();
    for (const id of this.#constants.values()) this.#f.deleteTensor(id);
    this.#constants.clear();
  }
}
