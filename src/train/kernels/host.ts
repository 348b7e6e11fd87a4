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
