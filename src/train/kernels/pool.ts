/**
 * Pooling gradient kernels (NHWC), replacing the backends' own:
 * - wasm's MaxPoolGrad sends the gradient to the wrong element when every value of a
 *   window is negative (it compares against 0, not against the window's first value);
 * - cpu's and wasm's AvgPoolGrad divide by the full window size even where the forward
 *   pass (TF semantics) averaged only the in-bounds elements of a padded window.
 * Both follow the forward kernels exactly: max picks the first maximal in-bounds element;
 * average divides by the number of in-bounds elements.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { readF32, type SimpleKernel } from './host.js';

type Shape4 = [number, number, number, number];

function poolInfo(x: TensorInfo, attrs: Record<string, unknown>) {
  return tf.backend_util.computePool2DInfo(
    x.shape as Shape4,
    attrs.filterSize as [number, number] | number,
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as 'valid',
    attrs.dimRoundingMode as 'floor' | undefined,
  );
}

/** dx of max pooling: each output's gradient goes to the first maximal in-bounds input of its window. */
export const maxPoolGrad: SimpleKernel = ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const info = poolInfo(input, attrs);
  const [N, H, W, C] = input.shape as Shape4;
  const { outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw, filterHeight: FH, filterWidth: FW } = info;
  const dh = info.dilationHeight;
  const dw = info.dilationWidth;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const xv = readF32(backend, input);
  const dyv = readF32(backend, dy);
  const dx = new Float32Array(N * H * W * C);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const hs = oh * sh - pt;
      for (let ow = 0; ow < OW; ow++) {
        const ws = ow * sw - pl;
        const o = ((n * OH + oh) * OW + ow) * C;
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let at = -1;
          for (let fh = 0; fh < FH; fh++) {
            const ih = hs + fh * dh;
            if (ih < 0 || ih >= H) continue;
            for (let fw = 0; fw < FW; fw++) {
              const iw = ws + fw * dw;
              if (iw < 0 || iw >= W) continue;
              const idx = ((n * H + ih) * W + iw) * C + c;
              const v = xv[idx]!;
              if (at < 0 || v > best) {
                best = v;
                at = idx;
              }
            }
          }
          if (at >= 0) dx[at]! += dyv[o + c]!;
        }
      }
    }
  }
  return tf.tensor4d(dx, [N, H, W, C]);
};

/** dx of average pooling whose forward divided each window by its in-bounds element count. */
export const avgPoolGrad: SimpleKernel = ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const info = poolInfo(input, attrs);
  const [N, H, W, C] = input.shape as Shape4;
  const { outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw, filterHeight: FH, filterWidth: FW } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const dyv = readF32(backend, dy);
  const dx = new Float32Array(N * H * W * C);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const h0 = Math.max(0, oh * sh - pt);
      const h1 = Math.min(H, oh * sh - pt + FH);
      for (let ow = 0; ow < OW; ow++) {
        const w0 = Math.max(0, ow * sw - pl);
        const w1 = Math.min(W, ow * sw - pl + FW);
        const count = (h1 - h0) * (w1 - w0);
        if (count <= 0) continue;
        const inv = 1 / count;
        const o = ((n * OH + oh) * OW + ow) * C;
        for (let ih = h0; ih < h1; ih++) {
          for (let iw = w0; iw < w1; iw++) {
            const base = ((n * H + ih) * W + iw) * C;
            for (let c = 0; c < C; c++) dx[base + c]! += dyv[o + c]! * inv;
          }
        }
      }
    }
  }
  return tf.tensor4d(dx, [N, H, W, C]);
};
