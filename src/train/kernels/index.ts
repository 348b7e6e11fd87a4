/**
 * Installs sculpt's kernels and gradients into tfjs: the gradient table (gradients.ts) for
 * every backend, and JS kernels where a backend lacks one or has a wrong one:
 *
 * | kernel                               | wasm                    | cpu                          |
 * |--------------------------------------|-------------------------|------------------------------|
 * | Conv2DBackpropFilter                 | missing → ours (stride 1: a GEMM per tap; 1×1: a GEMM; else a Conv2D) | slow → ours (im2col + GEMM) |
 * | Conv2DBackpropInput                  | slow → ours (a Conv2D; strided: one per-phase Conv2D) | own         |
 * | DepthwiseConv2dNativeBackpropFilter  | missing → ours (a loop) | own                          |
 * | DepthwiseConv2dNativeBackpropInput   | missing → ours (a depthwise conv) | own                |
 * | UnsortedSegmentSum (gather gradient) | missing → ours          | own                          |
 * | MaxPoolGrad                          | wrong → ours            | own (correct)                |
 * | AvgPoolGrad (padded windows)         | wrong → ours            | wrong → ours                 |
 * | Identity (tfjs clones saved tensors) | copies → ours (shares)  | own (shares)                 |
 *
 * Native backends (tfjs-node, tfjs-node-gpu) have correct kernels of their own.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  conv2DBackpropFilter,
  conv2DBackpropFilterViaConv,
  conv2DBackpropInput,
  depthwiseConv2dNativeBackpropFilter,
  depthwiseConv2dNativeBackpropInputViaConv,
  identityShared,
  unsortedSegmentSum,
} from './conv.js';
import { registerGradients } from './gradients.js';
import { installKernel, type SimpleKernel } from './host.js';
import { avgPoolGrad, maxPoolGrad } from './pool.js';

export { originalKernel } from './host.js';
export { registerGradients, unbroadcast, GRADIENT_KERNELS } from './gradients.js';

/** Which of our kernels go on which backend. */
export const SCULPT_KERNELS: Readonly<Record<'wasm' | 'cpu', Readonly<Record<string, SimpleKernel>>>> = {
  wasm: {
    Conv2DBackpropFilter: conv2DBackpropFilterViaConv,
    Conv2DBackpropInput: conv2DBackpropInput,
    DepthwiseConv2dNativeBackpropFilter: depthwiseConv2dNativeBackpropFilter,
    DepthwiseConv2dNativeBackpropInput: depthwiseConv2dNativeBackpropInputViaConv,
    UnsortedSegmentSum: unsortedSegmentSum,
    MaxPoolGrad: maxPoolGrad,
    AvgPoolGrad: avgPoolGrad,
    Identity: identityShared,
  },
  cpu: {
    // cpu's own is a direct 7-deep loop: 77 s of a 81 s ResNet-20 step at batch 4.
    Conv2DBackpropFilter: conv2DBackpropFilter,
    AvgPoolGrad: avgPoolGrad,
  },
};

let installed = false;

/** Registers our gradients and kernels (idempotent; cheap after the first call). */
export function registerSculptKernels(): void {
  if (installed) return;
  installed = true;
  registerGradients();
  for (const [backend, kernels] of Object.entries(SCULPT_KERNELS)) {
    for (const [name, fn] of Object.entries(kernels)) installKernel(name, backend, fn);
  }
}
