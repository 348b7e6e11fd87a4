/**
 * Fitness of a candidate network: how close its feature maps are to the original's, after
 * both are summarised per (sample, channel) into one vector and compared by cosine
 * similarity (METHODS.md §3.4).
 *
 * Summaries of a feature map `x` of shape [N, C, H, W], one number per (n, c):
 * - `wca` (wavelet channel aggregation): a one-level orthonormal 2-D Haar transform of the
 *   H×W plane gives four (H/2)×(W/2) bands; `F* = max(HH) + mean(LL)`. For the 2×2 block
 *   `[a b; c d]`: LL = (a+b+c+d)/2, LH = (a+b−c−d)/2, HL = (a−b+c−d)/2, HH = (a−b−c+d)/2.
 *   An odd last row or column has no partner and is left out (as a stride-2 2×2 conv does).
 * - `gap`: mean over H×W;  `gmp`: max over H×W;  `gap+gmp`: their sum.
 *
 * Worked example: the plane [[1,2],[3,4]] has LL = 5, HH = 0, so F* = 0 + 5 = 5;
 * GAP = 2.5, GMP = 4, GAP+GMP = 6.5.
 *
 * Channels a candidate has pruned are zero in its (masked) feature map, so teacher and
 * candidate vectors have the same length: the channel space of the original.
 */
import { CompilerError } from '../errors.js';

export const FITNESS_KINDS = ['wca', 'gap', 'gmp', 'gap+gmp'] as const;
export type FitnessKind = (typeof FITNESS_KINDS)[number];

/** The four bands of a one-level 2-D Haar transform of one H×W plane. */
export interface HaarBands {
  ll: Float32Array;
  lh: Float32Array;
  hl: Float32Array;
  hh: Float32Array;
  h: number;
  w: number;
}

/**
 * One-level orthonormal 2-D Haar transform of the plane `x[off .. off + h·w)` (row-major).
 * Bands are ⌊h/2⌋ × ⌊w/2⌋. O(h·w).
 * @throws INVALID_OPTION when the plane is smaller than 2×2
 */
export function haar2d(x: ArrayLike<number>, h: number, w: number, off = 0): HaarBands {
  const h2 = h >> 1;
  const w2 = w >> 1;
  if (h2 === 0 || w2 === 0)
    throw new CompilerError('INVALID_OPTION', `a Haar transform needs a plane of at least 2×2; got ${h}×${w}`, {
      hint: 'use --fitness gap or gmp for 1×1 feature maps, or choose an earlier --feature',
    });
  const n = h2 * w2;
  const ll = new Float32Array(n),
    lh = new Float32Array(n),
    hl = new Float32Array(n),
    hh = new Float32Array(n);
  for (let i = 0; i < h2; i++) {
    for (let j = 0; j < w2; j++) {
      const p = off + 2 * i * w + 2 * j;
      const a = x[p]!,
        b = x[p + 1]!,
        c = x[p + w]!,
        d = x[p + w + 1]!;
      const k = i * w2 + j;
      ll[k] = (a + b + c + d) / 2;
      lh[k] = (a + b - c - d) / 2;
      hl[k] = (a - b + c - d) / 2;
      hh[k] = (a - b - c + d) / 2;
    }
  }
  return { ll, lh, hl, hh, h: h2, w: w2 };
}

/** `max(HH) + mean(LL)` of one plane without materialising the bands. */
function wcaOfPlane(x: ArrayLike<number>, h: number, w: number, off: number): number {
  const h2 = h >> 1;
  const w2 = w >> 1;
  let maxHH = -Infinity;
  let sumLL = 0;
  for (let i = 0; i < h2; i++) {
    let p = off + 2 * i * w;
    for (let j = 0; j < w2; j++, p += 2) {
      const a = x[p]!,
        b = x[p + 1]!,
        c = x[p + w]!,
        d = x[p + w + 1]!;
      sumLL += a + b + c + d;
      const hh = a - b - c + d;
      if (hh > maxHH) maxHH = hh;
    }
  }
  return maxHH / 2 + sumLL / 2 / (h2 * w2);
}

/**
 * Summarises a feature map [N, C, H, W] (or [N, C], where H = W = 1) into N·C numbers,
 * sample-major. O(N·C·H·W).
 * @throws INVALID_OPTION for `wca` on maps smaller than 2×2, or a rank other than 2 or 4
 */
export function summarize(kind: FitnessKind, x: ArrayLike<number>, dims: readonly number[]): Float64Array {
  if (dims.length !== 4 && dims.length !== 2)
    throw new CompilerError('INVALID_OPTION', `the fitness feature must be [N,C,H,W] or [N,C]; got [${dims.join(',')}]`, {
      hint: 'choose a conv feature map with --feature',
    });
  const [n, c] = [dims[0]!, dims[1]!];
  const h = dims[2] ?? 1,
    w = dims[3] ?? 1;
  const hw = h * w;
  if (kind === 'wca' && (h < 2 || w < 2))
    throw new CompilerError('INVALID_OPTION', `WCA needs feature maps of at least 2×2; the feature is [${dims.join(',')}]`, {
      hint: 'use --fitness gap or gmp, or choose an earlier --feature',
    });
  const out = new Float64Array(n * c);
  for (let p = 0; p < n * c; p++) {
    const off = p * hw;
    if (kind === 'wca') {
      out[p] = wcaOfPlane(x, h, w, off);
      continue;
    }
    let sum = 0,
      max = -Infinity;
    for (let i = 0; i < hw; i++) {
      const v = x[off + i]!;
      sum += v;
      if (v > max) max = v;
    }
    out[p] = kind === 'gap' ? sum / hw : kind === 'gmp' ? max : sum / hw + max;
  }
  return out;
}

/** Cosine similarity; 0 when either vector is all zeros. O(n). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new CompilerError('INTERNAL', `cosine of vectors of lengths ${a.length} and ${b.length}`);
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!,
      y = b[i]!;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/** Fitness of a candidate's feature map against the teacher's summary. */
export function fitnessOf(kind: FitnessKind, teacher: Float64Array, x: ArrayLike<number>, dims: readonly number[]): number {
  return cosine(teacher, summarize(kind, x, dims));
}
