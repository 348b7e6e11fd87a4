/**
 * Plumbing shared by the JS kernels: reading a kernel input's values on the host and
 * registering a kernel over whatever a backend package registered before.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelConfig, KernelFunc, Tensor, TensorInfo } from '@tensorflow/tfjs-core';

/** The values of a kernel input as float32 (a copy on wasm, the backing store on cpu: read only). */
export function readF32(backend: KernelBackend, t: TensorInfo): Float32Array {
  const v = backend.readSync(t.dataId);
  if (v instanceof Float32Array) return v;
  return Float32Array.from(v as ArrayLike<number>);
}

/** The wasm backend's heap access (absent on other backends). */
interface HeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

function heapOf(backend: KernelBackend): HeapBackend | undefined {
  const b = backend as unknown as Partial<HeapBackend>;
  return typeof b.makeOutput === 'function' && typeof b.typedArrayFromHeap === 'function' ? (b as HeapBackend) : undefined;
}

/**
 * A float32 kernel output of `shape` to fill on the host, and its inputs' values, without
 * the copies `readSync` and `tf.tensor` make on wasm: there the arrays are views of the wasm
 * heap. The output is allocated before the inputs are viewed, because an allocation can grow
 * the heap and detach earlier views; so `fill` must not allocate backend memory either.
 * Elsewhere the inputs come from `readF32` and the output is uploaded afterwards. `out`
 * starts zeroed, unless `zeroed` is false: then `fill` must write every element (wasm's
 * memory is not cleared; a full-size fill cost ~1% of a ResNet-20 step).
 */
export function hostKernel(
  backend: KernelBackend,
  shape: number[],
  inputs: readonly TensorInfo[],
  fill: (out: Float32Array, ins: Float32Array[]) => void,
  zeroed = true,
): TensorInfo {
  const heap = heapOf(backend);
  if (heap && inputs.every((t) => t.dtype === 'float32')) {
    const out = heap.makeOutput(shape, 'float32');
    const o = heap.typedArrayFromHeap(out);
    if (zeroed) o.fill(0);
    fill(
      o,
      inputs.map((t) => heap.typedArrayFromHeap(t)),
    );
    return out;
  }
  const o = new Float32Array(shape.reduce((a, b) => a * b, 1));
  fill(
    o,
    inputs.map((t) => readF32(backend, t)),
  );
  return tf.tensor(o, shape, 'float32');
}

/**
 * A kernel input as a Tensor for use with ops inside the kernel (call within tf.tidy). A
 * new Tensor over the same data takes its own backend reference, since disposing it drops one.
 */
export function asTensor(backend: KernelBackend, t: TensorInfo): Tensor {
  if (t instanceof tf.Tensor) return t;
  backend.incRef(t.dataId);
  return tf.engine().makeTensorFromTensorInfo(t, backend);
}

export type SimpleKernel = (args: { inputs: Record<string, TensorInfo>; backend: KernelBackend; attrs: Record<string, unknown> }) => TensorInfo | TensorInfo[];

/** The backends' own kernels we replaced, by `backend/kernel` (tests show why they were replaced). */
const replaced = new Map<string, KernelConfig>();

/** The kernel a backend package had registered before ours, if any. */
export function originalKernel(kernelName: string, backendName: string): KernelConfig | undefined {
  return replaced.get(`${backendName}/${kernelName}`);
}

/** Installs `kernelFunc` for `kernelName` on `backendName`, replacing an existing one quietly. */
export function installKernel(kernelName: string, backendName: string, kernelFunc: SimpleKernel): void {
  const existing = tf.getKernel(kernelName, backendName);
  if (existing !== undefined) {
    replaced.set(`${backendName}/${kernelName}`, existing);
    tf.unregisterKernel(kernelName, backendName);
  }
  const config: KernelConfig = { kernelName, backendName, kernelFunc: kernelFunc as unknown as KernelFunc };
  tf.registerKernel(config);
}

/** [h, w] from a tfjs `number | [number, number]` attribute. */
export function pair(v: unknown, dflt = 1): [number, number] {
  if (Array.isArray(v)) return [Number(v[0]), Number(v[1])];
  const n = v === undefined || v === null ? dflt : Number(v);
  return [n, n];
}

/** The wasm backend's bookkeeping of a tensor's memory (absent on other backends). */
interface WasmData {
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } | undefined; delete(dataId: object): void };
  wasm: { tfjs: { disposeData(id: number): void } };
  makeOutput(shape: number[], dtype: 'float32', memoryOffset?: number): TensorInfo;
}

/**
 * wasm only: runs `fn` with a float32 tensor (a TensorInfo, never a Tensor) that views
 * `shape` of `base`'s memory from float `offset` on, without a copy; the view is unregistered
 * afterwards (its memory stays `base`'s). For kernels that hand an inner window of a buffer
 * to a backend kernel. Returns undefined where the backend has no such bookkeeping.
 */
export function withHeapView<T>(backend: KernelBackend, base: TensorInfo, offset: number, shape: number[], fn: (view: TensorInfo) => T): T | undefined {
  const b = backend as unknown as Partial<WasmData>;
  const data = b.dataIdMap?.get(base.dataId);
  if (!data || typeof b.makeOutput !== 'function' || base.dtype !== 'float32') return undefined;
  const size = shape.reduce((p, q) => p * q, 1);
  if (offset < 0 || offset + size > base.shape.reduce((p, q) => p * q, 1))
    throw new Error(`withHeapView: [${offset}, ${offset + size}) is outside a tensor of ${base.shape}`);
  const view = b.makeOutput(shape, 'float32', data.memoryOffset + 4 * offset);
  try {
    return fn(view);
  } finally {
    const v = b.dataIdMap!.get(view.dataId)!;
    b.wasm!.tfjs.disposeData(v.id);
    b.dataIdMap!.delete(view.dataId);
  }
}

/** Whether `withHeapView` and `hostKernel`'s in-place path work on this backend (wasm). */
export function hasHeap(backend: KernelBackend): boolean {
  const b = backend as unknown as Partial<WasmData>;
  return heapOf(backend) !== undefined && typeof b.dataIdMap?.get === 'function' && typeof b.wasm?.tfjs?.disposeData === 'function';
}
