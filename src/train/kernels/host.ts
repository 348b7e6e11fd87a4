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
 * Elsewhere the inputs come from `readF32` and the output is uploaded afterwards.
 */
export function hostKernel(backend: KernelBackend, shape: number[], inputs: readonly TensorInfo[], fill: (out: Float32Array, ins: Float32Array[]) => void): TensorInfo {
  const heap = heapOf(backend);
  if (heap && inputs.every((t) => t.dtype === 'float32')) {
    const out = heap.makeOutput(shape, 'float32');
    const o = heap.typedArrayFromHeap(out);
    o.fill(0);
    fill(o, inputs.map((t) => heap.typedArrayFromHeap(t)));
    return out;
  }
  const o = new Float32Array(shape.reduce((a, b) => a * b, 1));
  fill(o, inputs.map((t) => readF32(backend, t)));
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
