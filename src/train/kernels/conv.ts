/**
 * Convolution gradient kernels that tfjs-backend-wasm 4.22 lacks (NHWC only):
 *
 * - Conv2DBackpropFilter: im2col on the host, then one matmul per batch chunk on the
 *   backend: dW[kh,kw,ci,co] = Σ_rows cols[row, (kh,kw,ci)] · dy[row, co]. The matmul is
 *   wasm's (XNNPACK) GEMM, so the heavy part runs at forward-conv speed; the chunking
 *   bounds the im2col buffer (≈ 32 MB) whatever the batch.
 * - DepthwiseConv2dNativeBackpropFilter / BackpropInput: direct loops. A depthwise conv
 *   has k·k MACs per output element, so the loops cost about what the forward pass does.
 *
 * Strides, explicit/same/valid padding and dilations follow `computeConv2DInfo`, the
 * same helper the forward kernels use.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import { readF32, type SimpleKernel } from './host.js';

type Shape4 = [number, number, number, number];

/** Floats of im2col buffer per chunk (32 MB). */
const COLS_BUDGET = 8 * 1024 * 1024;

function channelsLast(attrs: Record<string, unknown>, kernel: string): void {
  const f = attrs.dataFormat as string | undefined;
  if (f !== undefined && f !== 'NHWC' && f !== 'channelsLast') throw new Error(`${kernel}: only NHWC is implemented, got ${f}`);
}

/** dW of a (dense) 2-D convolution. */
export const conv2DBackpropFilter: SimpleKernel = ({ inputs, backend, attrs }) => {
  channelsLast(attrs, 'Conv2DBackpropFilter');
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const filterShape = attrs.filterShape as Shape4;
  const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, filterShape, attrs.strides as number, 1, attrs.pad as 'valid', attrs.dimRoundingMode as 'floor' | undefined, false, 'channelsLast');
  const [N, H, W, Ci] = x.shape as Shape4;
  const [FH, FW, , Co] = filterShape;
  const { outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const K = FH * FW * Ci;
  const perImage = OH * OW * K;
  const chunk = Math.max(1, Math.min(N, Math.floor(COLS_BUDGET / Math.max(1, perImage))));
  const xv = readF32(backend, x);
  const dyv = readF32(backend, dy);
  return tf.tidy(() => {
    let acc: Tensor | null = null;
    for (let n0 = 0; n0 < N; n0 += chunk) {
      const nb = Math.min(chunk, N - n0);
      const rows = nb * OH * OW;
      const cols = new Float32Array(rows * K);
      let row = 0;
      for (let n = n0; n < n0 + nb; n++) {
        for (let oh = 0; oh < OH; oh++) {
          for (let ow = 0; ow < OW; ow++, row++) {
            const base = row * K;
            for (let fh = 0; fh < FH; fh++) {
              const ih = oh * sh - pt + fh * dh;
              if (ih < 0 || ih >= H) continue;
              for (let fw = 0; fw < FW; fw++) {
                const iw = ow * sw - pl + fw * dw;
                if (iw < 0 || iw >= W) continue;
                const src = ((n * H + ih) * W + iw) * Ci;
                cols.set(xv.subarray(src, src + Ci), base + (fh * FW + fw) * Ci);
              }
            }
          }
        }
      }
      const dyChunk = dyv.subarray(n0 * OH * OW * Co, (n0 + nb) * OH * OW * Co);
      const part = tf.matMul(tf.tensor2d(cols, [rows, K]), tf.tensor2d(dyChunk, [rows, Co]), true, false);
      acc = acc === null ? part : tf.add(acc, part);
    }
    return tf.reshape(acc!, filterShape);
  });
};

function depthwiseInfo(inShape: Shape4, filterShape: Shape4, attrs: Record<string, unknown>) {
  return tf.backend_util.computeConv2DInfo(inShape, filterShape, attrs.strides as number, (attrs.dilations ?? 1) as number, attrs.pad as 'valid', attrs.dimRoundingMode as 'floor' | undefined, true);
}

/** dW of a depthwise convolution; filter [FH, FW, C, M], dy [N, OH, OW, C·M]. */
export const depthwiseConv2dNativeBackpropFilter: SimpleKernel = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const filterShape = attrs.filterShape as Shape4;
  const info = depthwiseInfo(x.shape as Shape4, filterShape, attrs);
  const [N, H, W, C] = x.shape as Shape4;
  const [FH, FW, , M] = filterShape;
  const { outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const CM = C * M;
  const xv = readF32(backend, x);
  const dyv = readF32(backend, dy);
  const acc = new Float64Array(FH * FW * CM);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const o = ((n * OH + oh) * OW + ow) * CM;
        for (let fh = 0; fh < FH; fh++) {
          const ih = oh * sh - pt + fh * dh;
          if (ih < 0 || ih >= H) continue;
          for (let fw = 0; fw < FW; fw++) {
            const iw = ow * sw - pl + fw * dw;
            if (iw < 0 || iw >= W) continue;
            const xi = ((n * H + ih) * W + iw) * C;
            const wi = (fh * FW + fw) * CM;
            if (M === 1) {
              for (let c = 0; c < C; c++) acc[wi + c] += xv[xi + c]! * dyv[o + c]!;
            } else {
              for (let c = 0; c < C; c++) {
                const xc = xv[xi + c]!;
                const k = c * M;
                for (let m = 0; m < M; m++) acc[wi + k + m] += xc * dyv[o + k + m]!;
              }
            }
          }
        }
      }
    }
  }
  return tf.tensor4d(Float32Array.from(acc), filterShape);
};

/** dx of a depthwise convolution; filter [FH, FW, C, M]. */
export const depthwiseConv2dNativeBackpropInput: SimpleKernel = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const inShape = attrs.inputShape as Shape4;
  const filterShape = filter.shape as Shape4;
  const info = depthwiseInfo(inShape, filterShape, attrs);
  const [N, H, W, C] = inShape;
  const [FH, FW, , M] = filterShape;
  const { outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const CM = C * M;
  const dyv = readF32(backend, dy);
  const wv = readF32(backend, filter);
  const dx = new Float32Array(N * H * W * C);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const o = ((n * OH + oh) * OW + ow) * CM;
        for (let fh = 0; fh < FH; fh++) {
          const ih = oh * sh - pt + fh * dh;
          if (ih < 0 || ih >= H) continue;
          for (let fw = 0; fw < FW; fw++) {
            const iw = ow * sw - pl + fw * dw;
            if (iw < 0 || iw >= W) continue;
            const xi = ((n * H + ih) * W + iw) * C;
            const wi = (fh * FW + fw) * CM;
            if (M === 1) {
              for (let c = 0; c < C; c++) dx[xi + c] += dyv[o + c]! * wv[wi + c]!;
            } else {
              for (let c = 0; c < C; c++) {
                const k = c * M;
                let s = 0;
                for (let m = 0; m < M; m++) s += dyv[o + k + m]! * wv[wi + k + m]!;
                dx[xi + c] += s;
              }
            }
          }
        }
      }
    }
  }
  return tf.tensor4d(dx, inShape);
};

/** out[s, ...] = Σ_{i: ids[i] = s} x[i, ...]; the gradient of gather. Ids outside [0, numSegments) are dropped, as in TF. */
export const unsortedSegmentSum: SimpleKernel = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const numSegments = attrs.numSegments as number;
  const xv = readF32(backend, x);
  const ids = backend.readSync(segmentIds.dataId) as ArrayLike<number>;
  const innerShape = x.shape.slice(segmentIds.shape.length);
  const inner = innerShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(numSegments * inner);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i]!;
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j] += xv[src + j]!;
  }
  return tf.tensor(out, [numSegments, ...innerShape], 'float32');
};
