/**
 * Convolution gradient kernels that tfjs-backend-wasm 4.22 lacks (NHWC only):
 *
 * - Conv2DBackpropFilter (cpu): im2col on the host, then one matmul per batch chunk on the
 *   backend: dW[kh,kw,ci,co] = Σ_rows cols[row, (kh,kw,ci)] · dy[row, co]. The matmul is
 *   wasm's (XNNPACK) GEMM, so the heavy part runs at forward-conv speed; the chunking
 *   bounds the im2col buffer (≈ 32 MB) whatever the batch.
 * - on wasm (XNNPACK), dense gradients as XNNPACK's own ops: the filter gradient as one GEMM
 *   per tap over a padded grid (stride 1), a GEMM (1×1) or a convolution of xᵀ with dyᵀ (the
 *   rest); the input gradient as a convolution with the flipped filter, per phase of the
 *   stride when strided.
 * - DepthwiseConv2dNativeBackpropFilter / BackpropInput: direct loops. A depthwise conv
 *   has k·k MACs per output element, so the loops cost about what the forward pass does.
 *
 * Strides, explicit/same/valid padding and dilations follow `computeConv2DInfo`, the
 * same helper the forward kernels use.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import { asTensor, hasHeap, hostKernel, readF32, withHeapView, type SimpleKernel } from './host.js';

type Shape4 = [number, number, number, number];

/** Floats of im2col buffer per chunk (32 MB). */
const COLS_BUDGET = 8 * 1024 * 1024;

function channelsLast(attrs: Record<string, unknown>, kernel: string): void {
  const f = attrs.dataFormat as string | undefined;
  if (f !== undefined && f !== 'NHWC' && f !== 'channelsLast') throw new Error(`${kernel}: only NHWC is implemented, got ${f}`);
}

/**
 * One reusable im2col buffer: a fresh 20–30 MB Float32Array per layer and step cost more in
 * allocation and GC than the copy itself. Zeroed on every hand-out (padding reads zeros).
 * The cpu backend wraps a typed array without copying, so a tensor made from this buffer
 * must be consumed before the next hand-out (the kernel's matmul runs synchronously).
 */
let scratchBuf = new Float32Array(0);
function scratch(n: number): Float32Array {
  if (scratchBuf.length < n) scratchBuf = new Float32Array(n);
  const v = scratchBuf.subarray(0, n);
  v.fill(0);
  return v;
}

/** Sizes of a 2-D window op (NHWC): input, output, kernel, stride, dilation, leading pads. */
interface Geometry {
  H: number;
  W: number;
  C: number;
  OH: number;
  OW: number;
  FH: number;
  FW: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  pt: number;
  pl: number;
}

/**
 * Writes colsᵀ [FH·FW·C, rows] for images n0 … n0+nb−1 (rows = nb·OH·OW), zeros where the
 * window leaves the image. Reads are contiguous C-vectors; each write run stays within C
 * destination rows, so both sides stay in cache. A top-level function so V8 optimises it
 * once for all calls.
 */
function im2colT(xv: Float32Array, colsT: Float32Array, g: Geometry, n0: number, nb: number, rows: number): void {
  const { H, W, C, OH, OW, FH, FW, sh, sw, dh, dw, pt, pl } = g;
  let r0 = 0;
  for (let n = n0; n < n0 + nb; n++) {
    for (let oh = 0; oh < OH; oh++, r0 += OW) {
      for (let fh = 0; fh < FH; fh++) {
        const ih = oh * sh - pt + fh * dh;
        if (ih < 0 || ih >= H) continue;
        const rowBase = (n * H + ih) * W;
        for (let fw = 0; fw < FW; fw++) {
          const k0 = (fh * FW + fw) * C;
          for (let ow = 0; ow < OW; ow++) {
            const iw = ow * sw - pl + fw * dw;
            if (iw < 0 || iw >= W) continue;
            const src = (rowBase + iw) * C;
            let dst = k0 * rows + r0 + ow;
            for (let c = 0; c < C; c++, dst += rows) colsT[dst] = xv[src + c]!;
          }
        }
      }
    }
  }
}

/** out [C, N·OH·OW] = x [N, H, W, C] at rows oh·s − pt, columns ow·s − pl (zeros outside), transposed. */
function gatherPointwiseT(xv: Float32Array, out: Float32Array, g: Geometry, N: number): void {
  const { H, W, C, OH, OW, sh, sw, pt, pl } = g;
  const rows = N * OH * OW;
  let r = 0;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const ih = oh * sh - pt;
      if (ih < 0 || ih >= H) {
        r += OW;
        continue;
      }
      for (let ow = 0; ow < OW; ow++, r++) {
        const iw = ow * sw - pl;
        if (iw < 0 || iw >= W) continue;
        const src = ((n * H + ih) * W + iw) * C;
        for (let c = 0, d = r; c < C; c++, d += rows) out[d] = xv[src + c]!;
      }
    }
  }
}

/** dW of a (dense) 2-D convolution. */
export const conv2DBackpropFilter: SimpleKernel = ({ inputs, backend, attrs }) => {
  channelsLast(attrs, 'Conv2DBackpropFilter');
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const filterShape = attrs.filterShape as Shape4;
  const info = denseInfo(x.shape as Shape4, filterShape, attrs);
  const [N, H, W, Ci] = x.shape as Shape4;
  const [FH, FW, , Co] = filterShape;
  const { outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const K = FH * FW * Ci;
  const perImage = OH * OW * K;
  const chunk = Math.max(1, Math.min(N, Math.floor(COLS_BUDGET / Math.max(1, perImage))));
  const g: Geometry = { H, W, C: Ci, OH, OW, FH, FW, sh, sw, dh, dw, pt, pl };
  const xv = readF32(backend, x);
  const dyv = readF32(backend, dy);
  return tf.tidy(() => {
    let acc: Tensor | null = null;
    for (let n0 = 0; n0 < N; n0 += chunk) {
      const nb = Math.min(chunk, N - n0);
      const rows = nb * OH * OW;
      // colsᵀ [K, rows] so that dW = colsᵀ · dy is a GEMM whose left side has K rows:
      // XNNPACK is ~10x slower on a left side with few rows (dyᵀ · cols) or a transpose flag.
      const colsT = scratch(K * rows);
      im2colT(xv, colsT, g, n0, nb, rows);
      const dyChunk = dyv.subarray(n0 * OH * OW * Co, (n0 + nb) * OH * OW * Co);
      const part = tf.matMul(tf.tensor2d(colsT, [K, rows]), tf.tensor2d(dyChunk, [rows, Co]));
      acc = acc === null ? part : tf.add(acc, part);
    }
    return tf.reshape(acc!, filterShape);
  });
};

/**
 * dW of a (dense) 2-D convolution as one forward convolution, for backends whose forward
 * conv is fast (wasm/XNNPACK): batch and channels swap roles,
 *   dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·s + kh − p, ow·s + kw − p, ci] · dy[n, oh, ow, co]
 * is a conv of xᵀ [Ci, H, W, N] with the filter dyᵀ [OH, OW, N, Co], stride 1, dilation s,
 * the forward pass's padding; its first FH × FW outputs, transposed, are dW. No im2col on
 * the host: ~2x faster than `conv2DBackpropFilter` on ResNet-20's layers.
 */
export const conv2DBackpropFilterViaConv: SimpleKernel = ({ inputs, backend, attrs }) => {
  channelsLast(attrs, 'Conv2DBackpropFilter');
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const filterShape = attrs.filterShape as Shape4;
  const info = denseInfo(x.shape as Shape4, filterShape, attrs);
  const [FH, FW, Ci, Co] = filterShape;
  const { top, bottom, left, right } = info.padInfo;
  if (FH === 1 && FW === 1) {
    // A pointwise conv: dW = xsᵀ·dy over all N·OH·OW rows, one GEMM whose left side has Ci
    // rows; xs is x at the pixels the conv reads (every s-th, zeros where the padding is).
    // As a conv its 'filter' would be dy's whole map (2–5x slower on wasm).
    const { strideHeight: sh, strideWidth: sw, outHeight: OH, outWidth: OW } = info;
    const [N, H, W] = x.shape as Shape4;
    const rows = N * OH * OW;
    return tf.tidy(() => {
      let xt: Tensor;
      if (sh === 1 && sw === 1 && top + bottom + left + right === 0) {
        xt = tf.transpose(tf.reshape(asTensor(backend, x), [rows, Ci]));
      } else {
        // Gathered and transposed in one pass on the host: wasm's Slice and StridedSlice
        // copy their whole input first and then move short runs (10–20x slower).
        const g: Geometry = { H, W, C: Ci, OH, OW, FH: 1, FW: 1, sh, sw, dh: 1, dw: 1, pt: top, pl: left };
        xt = tf.engine().makeTensorFromTensorInfo(
          hostKernel(backend, [Ci, rows], [x], (out, [xv]) => gatherPointwiseT(xv!, out, g, N)),
          backend,
        );
      }
      return tf.reshape(tf.matMul(xt, tf.reshape(asTensor(backend, dy), [rows, Co])), filterShape);
    });
  }
  if (info.strideHeight === 1 && info.strideWidth === 1 && tapGemmPays(x, info, FH, FW) && hasHeap(backend))
    return tapGemmFilterGrad(backend, x, dy, info, filterShape);
  return tf.tidy(() => {
    const xt = tf.transpose(asTensor(backend, x), [3, 1, 2, 0]);
    const ft = tf.transpose(asTensor(backend, dy), [1, 2, 0, 3]);
    const y = tf.conv2d(
      xt as tf.Tensor4D,
      ft as tf.Tensor4D,
      1,
      [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      'NHWC',
      [info.strideHeight, info.strideWidth],
    );
    const cropped = y.shape[1] === FH && y.shape[2] === FW ? y : tf.slice(y, [0, 0, 0, 0], [Ci, FH, FW, Co]);
    return tf.transpose(cropped, [1, 2, 0, 3]);
  });
};

/**
 * The grid of `tapGemmFilterGrad`: each image in Hb = H + max(pt, pb) rows of Wb = W +
 * max(pl, pr) columns, x at (pt, pl). One zero row (column) is both an image's bottom (right)
 * padding and the next one's top (left): a tap that reads past a block lands in the next
 * block's leading zeros. Null where dy does not fit the grid (a padding wider than the kernel).
 */
function tapGrid(H: number, W: number, info: tf.backend_util.Conv2DInfo): { Hb: number; Wb: number } | null {
  const { top, bottom, left, right } = info.padInfo;
  const Hb = H + Math.max(top, bottom);
  const Wb = W + Math.max(left, right);
  return info.outHeight <= Hb && info.outWidth <= Wb ? { Hb, Wb } : null;
}

/**
 * Whether the tap GEMMs of `tapGemmFilterGrad` beat the convolution: they run over the grid,
 * Hb·Wb pixels per image instead of OH·OW. Measured on wasm (ResNet-20's layers): ~20%
 * faster at 1.13× the pixels, 25% slower at 1.56×.
 */
function tapGemmPays(x: TensorInfo, info: tf.backend_util.Conv2DInfo, FH: number, FW: number): boolean {
  const g = tapGrid(x.shape[1]!, x.shape[2]!, info);
  return g !== null && FH * FW > 1 && (g.Hb * g.Wb) / (info.outHeight * info.outWidth) <= TAP_GRID_MAX;
}
const TAP_GRID_MAX = 1.3;

/** xT [C, Rp + tail]: x placed at (pt, pl) in each image's Hb × Wb block, channels first; zeros elsewhere (every element written). */
function padTransposeX(xv: Float32Array, out: Float32Array, N: number, H: number, W: number, C: number, Hb: number, Wb: number, pt: number, pl: number): void {
  const Rp = N * Hb * Wb;
  // The padding rows and columns, then the tail past the last channel: only they are zeroed.
  for (let c = 0; c < C; c++) {
    for (let n = 0; n < N; n++) {
      for (let h = 0, d = c * Rp + n * Hb * Wb; h < Hb; h++, d += Wb) {
        if (h < pt || h >= pt + H) {
          for (let w = 0; w < Wb; w++) out[d + w] = 0;
          continue;
        }
        for (let w = 0; w < pl; w++) out[d + w] = 0;
        for (let w = pl + W; w < Wb; w++) out[d + w] = 0;
      }
    }
  }
  out.fill(0, C * Rp);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        const src = ((n * H + h) * W + w) * C;
        for (let c = 0, d = (n * Hb + h + pt) * Wb + w + pl; c < C; c++, d += Rp) out[d] = xv[src + c]!;
      }
    }
  }
}

/**
 * dW of a stride-1 (dense) convolution as one GEMM per tap, all sharing one packed right side.
 * On the grid of `tapGrid` (x in each image's block, dy at the top left of it, zeros
 * elsewhere), tap (kh, kw) reads x at flat offset off = kh·Wb + kw from dy's pixel, so
 * dW[kh, kw] = xT[:, off : off + Rp] · dypad over all Rp = N·Hb·Wb grid pixels. The left side
 * is a view of one channels-first buffer at that offset (its rows run into the next channel's
 * start, where dypad's last rows, the last block's padding, are zero); the right side, dypad,
 * is one tensor, so wasm packs it for XNNPACK once and keeps the operator for the other taps.
 * The convolution instead packs dy as a filter after two transposes.
 */
function tapGemmFilterGrad(
  backend: Parameters<SimpleKernel>[0]['backend'],
  x: TensorInfo,
  dy: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  filterShape: Shape4,
): TensorInfo {
  const [N, H, W, Ci] = x.shape as Shape4;
  const [FH, FW, , Co] = filterShape;
  const { outHeight: OH, outWidth: OW } = info;
  const { Hb, Wb } = tapGrid(H, W, info)!;
  const Rp = N * Hb * Wb;
  const tail = (FH - 1) * Wb + FW - 1;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const matMul = tf.getKernel('BatchMatMul', tf.getBackend());
  if (!matMul) throw new Error(`Conv2DBackpropFilter: no BatchMatMul kernel on ${tf.getBackend()}`);
  return tf.tidy(() => {
    const xT = tf.engine().makeTensorFromTensorInfo(
      hostKernel(backend, [Ci * Rp + tail], [x], (out, [xv]) => padTransposeX(xv!, out, N, H, W, Ci, Hb, Wb, pt, pl), false),
      backend,
    );
    // dy's rows into the grid: whole OW·Co runs, zeros after them and in the rows below (a
    // host copy; wasm's PadV2 was slower).
    const b = tf.engine().makeTensorFromTensorInfo(
      hostKernel(
        backend,
        [Rp, Co],
        [dy],
        (out, [dv]) => {
          for (let n = 0; n < N; n++) {
            for (let h = 0; h < Hb; h++) {
              const dst = (n * Hb + h) * Wb * Co;
              if (h >= OH) {
                out.fill(0, dst, dst + Wb * Co);
                continue;
              }
              const src = (n * OH + h) * OW * Co;
              out.set(dv!.subarray(src, src + OW * Co), dst);
              if (Wb > OW) out.fill(0, dst + OW * Co, dst + Wb * Co);
            }
          }
        },
        false,
      ),
      backend,
    );
    const parts: TensorInfo[] = [];
    for (let kh = 0; kh < FH; kh++) {
      for (let kw = 0; kw < FW; kw++) {
        const part = withHeapView(
          backend,
          xT,
          kh * Wb + kw,
          [Ci, Rp],
          (a) => matMul.kernelFunc({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo,
        );
        parts.push(part!);
        tf.engine().makeTensorFromTensorInfo(part!, backend); // owned (and disposed) by the tidy
      }
    }
    // The taps' [Ci, Co] blocks in order are dW [FH, FW, Ci, Co] (a host copy; wasm's Pack of
    // small tensors cost ~1 ms).
    return tf.engine().makeTensorFromTensorInfo(
      hostKernel(
        backend,
        [...filterShape],
        parts,
        (out, ins) => {
          ins.forEach((v, t) => out.set(v, t * Ci * Co));
        },
        false,
      ),
      backend,
    );
  });
}

/**
 * A filter [FH, FW, A, B] rotated by 180° in its spatial axes, and with `swap` its last two
 * axes exchanged ([FH, FW, B, A]). On the host: filters are small, and wasm's Reverse
 * kernel took ~0.7 ms for a 3×3×64×64 filter.
 */
function flipFilter(fv: Float32Array, [FH, FW, A, B]: Shape4, swap: boolean, out: Float32Array = new Float32Array(fv.length)): Float32Array {
  for (let kh = 0; kh < FH; kh++) {
    for (let kw = 0; kw < FW; kw++) {
      const src = ((FH - 1 - kh) * FW + (FW - 1 - kw)) * A * B;
      const dst = (kh * FW + kw) * A * B;
      if (!swap) {
        out.set(fv.subarray(src, src + A * B), dst);
        continue;
      }
      for (let a = 0; a < A; a++) for (let b = 0; b < B; b++) out[dst + b * A + a] = fv[src + a * B + b]!;
    }
  }
  return out;
}

/**
 * dx of a convolution as a forward one, the shared steps: `dy` [N, OH, OW, C] spread by the
 * stride (zeros between rows and columns, by a pad on the backend), the padding of the
 * forward conv over it ((k−1)·d − p on the leading side; negative sides are cropped by
 * `cropToInput` afterwards). Call inside a tidy.
 */
function spreadForInputGrad(
  backend: Parameters<SimpleKernel>[0]['backend'],
  dy: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  inShape: Shape4,
  C: number,
  FH: number,
  FW: number,
  dh = 1,
  dw = 1,
): { src: tf.Tensor4D; pads: [[number, number], [number, number], [number, number], [number, number]]; top: number; left: number } {
  const [N, H, W] = inShape;
  const { outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw } = info;
  // The spread keeps sh − 1 (sw − 1) zero rows (columns) after the last one: harmless, as
  // the bottom (right) padding below is measured from the spread's full length.
  const LH = OH * sh;
  const LW = OW * sw;
  const top = (FH - 1) * dh - info.padInfo.top;
  const left = (FW - 1) * dw - info.padInfo.left;
  const bottom = H + info.padInfo.top - LH;
  const right = W + info.padInfo.left - LW;
  let src = asTensor(backend, dy);
  if (sh !== 1 || sw !== 1) {
    src = tf.reshape(
      tf.pad(tf.reshape(src, [N, OH, 1, OW, 1, C]), [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ]),
      [N, LH, LW, C],
    );
  }
  return {
    src: src as tf.Tensor4D,
    pads: [
      [0, 0],
      [Math.max(0, top), Math.max(0, bottom)],
      [Math.max(0, left), Math.max(0, right)],
      [0, 0],
    ],
    top,
    left,
  };
}

/** A padding larger than the kernel makes a side negative: crop to the input instead of padding. */
function cropToInput(y: tf.Tensor4D, inShape: Shape4, top: number, left: number): tf.Tensor {
  const [N, H, W, C] = inShape;
  if (top >= 0 && left >= 0 && y.shape[1] === H && y.shape[2] === W) return y;
  return tf.slice(y, [0, Math.max(0, -top), Math.max(0, -left), 0], [N, H, W, C]);
}

/**
 * dx of a (dense) 2-D convolution as a forward convolution, which wasm runs with XNNPACK
 * (its own Conv2DBackpropInput is a plain loop, ~6x slower): dy is spread by the stride
 * (zeros between rows and columns, by a pad of [N, OH, 1, OW, 1, Co] on the backend, not
 * on the host), the filter is flipped and its in/out channels swapped, and the padding
 * becomes (k−1)·d − p on the leading side.
 */
export const conv2DBackpropInput: SimpleKernel = ({ inputs, backend, attrs }) => {
  channelsLast(attrs, 'Conv2DBackpropInput');
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const inShape = attrs.inputShape as Shape4;
  const filterShape = filter.shape as Shape4;
  const info = denseInfo(inShape, filterShape, attrs);
  const [FH, FW, , Co] = filterShape;
  const { strideHeight: sh, strideWidth: sw } = info;
  if (sh > 1 || sw > 1) return polyphaseInputGrad(backend, dy, filter, info, inShape);
  return tf.tidy(() => {
    const { src, pads, top, left } = spreadForInputGrad(backend, dy, info, inShape, Co, FH, FW);
    // Flipped from and into wasm's memory (no read-back and upload there).
    const flipped = tf.engine().makeTensorFromTensorInfo(
      hostKernel(backend, [FH, FW, Co, inShape[3]], [filter], (out, [fv]) => flipFilter(fv!, filterShape, true, out), false),
      backend,
    ) as tf.Tensor4D;
    const y = tf.conv2d(src, flipped, 1, pads);
    return cropToInput(y, inShape, top, left);
  });
};

/** One axis of a polyphase input gradient (see `polyphaseInputGrad`). */
interface PhaseAxis {
  /** Stride, and the largest dy offset d of a tap (input row u·s + r takes dy[u − d]). */
  s: number;
  dHi: number;
  /** Taps per phase in the combined filter, dHi − dLo + 1. */
  T: number;
  /** Phases computed: all s, or the leading R when the others have no taps (kernel < stride). */
  R: number;
  /** Phase blocks covering the input, ceil(size / s). */
  U: number;
  /** dy rows cut from the start (end) where the padding below would be negative, and the pads. */
  cutLo: number;
  cutHi: number;
  padLo: number;
  padHi: number;
}

/**
 * Input row i = u·s + r (phase r < s) takes dy[u − d]·w[d·s + r + p] for every d whose tap
 * d·s + r + p lies in [0, k): d from ceil((1 − s − p)/s) to floor((k − 1 − p)/s) over all phases.
 */
function phaseAxis(k: number, s: number, p: number, size: number, outSize: number): PhaseAxis {
  const dLo = Math.ceil((1 - s - p) / s);
  const dHi = Math.floor((k - 1 - p) / s);
  const T = dHi - dLo + 1;
  const tapped = Array.from({ length: s }, (_, r) => {
    for (let d = dLo; d <= dHi; d++) if (d * s + r + p >= 0 && d * s + r + p < k) return true;
    return false;
  });
  const lead = tapped.indexOf(false);
  const R = lead > 0 && tapped.slice(lead).every((t) => !t) ? lead : s;
  const U = Math.ceil(size / s);
  const lo = dHi;
  const hi = U + T - 1 - outSize - lo;
  return { s, dHi, T, R, U, cutLo: Math.max(0, -lo), cutHi: Math.max(0, -hi), padLo: Math.max(0, lo), padHi: Math.max(0, hi) };
}

/**
 * dx of a strided (dense) 2-D convolution without the zeros of the stride spread. Input row
 * i = u·s + r (phase r < s) takes dy[u − d]·w[d·s + r + p]: each phase is a stride-1
 * convolution of dy with a sub-filter of w, and all phases are one convolution with
 * s_h·s_w·Ci output channels (filter [T_h, T_w, Co, (r_h, r_w, ci)], built on the host),
 * interleaved into rows and columns by one transpose. Rows start at phase 0 of block 0, so
 * only a size that the stride does not divide needs a crop (at the end). It does about
 * ceil(k/s)² / k² of the spread convolution's work (4/9 for 3×3 stride 2); trailing phases
 * without taps (k < s) are not computed, only padded in as zeros.
 */
function polyphaseInputGrad(
  backend: Parameters<SimpleKernel>[0]['backend'],
  dy: TensorInfo,
  filter: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  inShape: Shape4,
): TensorInfo {
  const [N, H, W, Ci] = inShape;
  const [FH, FW, , Co] = filter.shape as Shape4;
  const { strideHeight: sh, strideWidth: sw, outHeight: OH, outWidth: OW } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const ah = phaseAxis(FH, sh, pt, H, OH);
  const aw = phaseAxis(FW, sw, pl, W, OW);
  const wv = readF32(backend, filter);
  const P = ah.R * aw.R * Ci;
  const wc = new Float32Array(ah.T * aw.T * Co * P);
  for (let mh = 0; mh < ah.T; mh++) {
    for (let rh = 0; rh < ah.R; rh++) {
      const kh = (ah.dHi - mh) * sh + rh + pt;
      if (kh < 0 || kh >= FH) continue;
      for (let mw = 0; mw < aw.T; mw++) {
        for (let rw = 0; rw < aw.R; rw++) {
          const kw = (aw.dHi - mw) * sw + rw + pl;
          if (kw < 0 || kw >= FW) continue;
          const src = (kh * FW + kw) * Ci * Co;
          const dst = (mh * aw.T + mw) * Co * P + (rh * aw.R + rw) * Ci;
          for (let ci = 0; ci < Ci; ci++) for (let co = 0; co < Co; co++) wc[dst + co * P + ci] = wv[src + ci * Co + co]!;
        }
      }
    }
  }
  return tf.tidy(() => {
    let src = asTensor(backend, dy) as tf.Tensor4D;
    if (ah.cutLo + ah.cutHi + aw.cutLo + aw.cutHi > 0) {
      src = tf.slice(src, [0, ah.cutLo, aw.cutLo, 0], [N, OH - ah.cutLo - ah.cutHi, OW - aw.cutLo - aw.cutHi, Co]);
    }
    // [N, U_h, U_w, (rh, rw, ci)] for the computed phases.
    let y: tf.Tensor = tf.conv2d(src, tf.tensor4d(wc, [ah.T, aw.T, Co, P]), 1, [
      [0, 0],
      [ah.padLo, ah.padHi],
      [aw.padLo, aw.padHi],
      [0, 0],
    ]);
    // out[n, uh·sh + rh, uw·sw + rw, ci] = y[n, uh, uw, (rh, rw, ci)]: rh moves before uw,
    // then the phases without taps (rh ≥ R_h, rw ≥ R_w) are padded in as zeros.
    y = tf.transpose(tf.reshape(y, [N * ah.U, aw.U, ah.R, aw.R * Ci]), [0, 2, 1, 3]);
    if (ah.R < sh || aw.R < sw)
      y = tf.pad(y, [
        [0, 0],
        [0, sh - ah.R],
        [0, 0],
        [0, (sw - aw.R) * Ci],
      ]);
    const spread = tf.reshape(y, [N, ah.U * sh, aw.U * sw, Ci]);
    if (ah.U * sh === H && aw.U * sw === W) return spread;
    return tf.slice(spread, [0, 0, 0, 0], [N, H, W, Ci]);
  });
}

/** The geometry of a dense NHWC convolution from its backprop kernel attributes (tfjs' Conv2DBackprop* kernels carry no dilation: 1). */
function denseInfo(inShape: Shape4, filterShape: Shape4, attrs: Record<string, unknown>) {
  return tf.backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    attrs.strides as number,
    1,
    attrs.pad as 'valid',
    attrs.dimRoundingMode as 'floor' | undefined,
    false,
    'channelsLast',
  );
}

function depthwiseInfo(inShape: Shape4, filterShape: Shape4, attrs: Record<string, unknown>) {
  return tf.backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    attrs.strides as number,
    (attrs.dilations ?? 1) as number,
    attrs.pad as 'valid',
    attrs.dimRoundingMode as 'floor' | undefined,
    true,
  );
}

/**
 * dW of a depthwise convolution; filter [FH, FW, C, M], dy [N, OH, OW, C·M]. A direct loop
 * over the inputs' own memory (no copies on wasm), with the valid output columns of each
 * tap computed once per row so the inner loop over channels has no bounds checks.
 */
export const depthwiseConv2dNativeBackpropFilter: SimpleKernel = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const filterShape = attrs.filterShape as Shape4;
  const info = depthwiseInfo(x.shape as Shape4, filterShape, attrs);
  const [N, H, W, C] = x.shape as Shape4;
  const [FH, FW, , M] = filterShape;
  const { outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const g: Geometry = { H, W, C, OH, OW, FH, FW, sh, sw, dh, dw, pt: info.padInfo.top, pl: info.padInfo.left };
  return hostKernel(backend, [...filterShape], [x, dy], (out, [xv, dyv]) => {
    const acc = new Float64Array(FH * FW * C * M);
    depthwiseFilterLoop(xv!, dyv!, acc, g, N, M);
    for (let i = 0; i < acc.length; i++) out[i] = acc[i]!;
  });
};

/** First output column whose tap `f` lands inside [0, W) and the end of that range. */
function validCols(OW: number, W: number, s: number, p: number, f: number, d: number): [number, number] {
  const off = f * d - p;
  const lo = Math.max(0, Math.ceil(-off / s));
  const hi = Math.min(OW, Math.floor((W - 1 - off) / s) + 1);
  return [lo, Math.max(lo, hi)];
}

/** acc[wi + c] += Σ_j x[xi + j·xStep + c] · dy[o + j·C + c] for j < count (multiplier 1). */
function tapRow(xv: Float32Array, dyv: Float32Array, acc: Float64Array, wi: number, xi: number, o: number, count: number, xStep: number, C: number): void {
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let j = 0, xp = xi + c, op = o + c; j < count; j++, xp += xStep, op += C) s += xv[xp]! * dyv[op]!;
    acc[wi + c]! += s;
  }
}

function depthwiseFilterLoop(xv: Float32Array, dyv: Float32Array, acc: Float64Array, g: Geometry, N: number, M: number): void {
  const { H, W, C, OH, OW, FH, FW, sh, sw, dh, dw, pt, pl } = g;
  const CM = C * M;
  const cols = Array.from({ length: FW }, (_, fw) => validCols(OW, W, sw, pl, fw, dw));
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const oRow = (n * OH + oh) * OW;
      for (let fh = 0; fh < FH; fh++) {
        const ih = oh * sh - pt + fh * dh;
        if (ih < 0 || ih >= H) continue;
        const xRow = (n * H + ih) * W;
        for (let fw = 0; fw < FW; fw++) {
          const [lo, hi] = cols[fw]!;
          const wi = (fh * FW + fw) * CM;
          const off = fw * dw - pl;
          if (M === 1) {
            tapRow(xv, dyv, acc, wi, (xRow + lo * sw + off) * C, (oRow + lo) * C, hi - lo, sw * C, C);
            continue;
          }
          for (let ow = lo; ow < hi; ow++) {
            const xi = (xRow + ow * sw + off) * C;
            const o = (oRow + ow) * CM;
            {
              for (let c = 0; c < C; c++) {
                const xc = xv[xi + c]!;
                const k = c * M;
                for (let m = 0; m < M; m++) acc[wi + k + m]! += xc * dyv[o + k + m]!;
              }
            }
          }
        }
      }
    }
  }
}

/**
 * dx of a depthwise convolution with channel multiplier 1 as a forward depthwise conv, which
 * wasm runs with XNNPACK (4–10x faster than the loop below): dy is spread by the stride
 * (zeros between rows and columns, made by a pad of [N, OH, 1, OW, 1, C]), the filter is
 * flipped, and the padding becomes (k−1)·d − p on the leading side. Other multipliers take
 * the loop.
 */
export const depthwiseConv2dNativeBackpropInputViaConv: SimpleKernel = (args) => {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const filterShape = filter.shape as Shape4;
  if (filterShape[3] !== 1) return depthwiseConv2dNativeBackpropInput(args);
  const inShape = attrs.inputShape as Shape4;
  const info = depthwiseInfo(inShape, filterShape, attrs);
  const [FH, FW] = filterShape;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  return tf.tidy(() => {
    const { src, pads, top, left } = spreadForInputGrad(backend, dy, info, inShape, inShape[3], FH, FW, dh, dw);
    const y = tf.depthwiseConv2d(src, tf.tensor4d(flipFilter(readF32(backend, filter), filterShape, false), filterShape), 1, pads, 'NHWC', [dh, dw]);
    return cropToInput(y, inShape, top, left);
  });
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
              for (let c = 0; c < C; c++) dx[xi + c]! += dyv[o + c]! * wv[wi + c]!;
            } else {
              for (let c = 0; c < C; c++) {
                const k = c * M;
                let s = 0;
                for (let m = 0; m < M; m++) s += dyv[o + k + m]! * wv[wi + k + m]!;
                dx[xi + c]! += s;
              }
            }
          }
        }
      }
    }
  }
  return tf.tensor4d(dx, inShape);
};

/**
 * Identity that shares the input's data (as the cpu backend does) instead of copying it.
 * tfjs clones every tensor it saves for the backward pass; wasm's copying Identity made
 * those clones ~8% of a ResNet-20 training step. Safe because no kernel writes in place.
 */
export const identityShared: SimpleKernel = ({ inputs, backend }) => {
  const { x } = inputs as { x: TensorInfo };
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
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
    for (let j = 0; j < inner; j++) out[dst + j]! += xv[src + j]!;
  }
  return tf.tensor(out, [numSegments, ...innerShape], 'float32');
};
