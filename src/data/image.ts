/**
 * Pixels: PNG/JPEG decoding, resampling and augmentation on CHW float planes.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import jpeg from 'jpeg-js';
import { CompilerError } from '../errors.js';
import type { Rng } from '../util/rng.js';

const require = createRequire(import.meta.url);
// pngjs is CommonJS without bundled types; only its sync reader is used.
const { PNG } = require('pngjs') as { PNG: { sync: { read(b: Buffer): { width: number; height: number; data: Uint8Array } } } };

export interface DecodedImage {
  readonly width: number;
  readonly height: number;
  /** RGBA, row-major. */
  readonly rgba: Uint8Array;
}

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

/** Largest decoded image (RGBA bytes) a data set may hold: 64 Mpx, 256 MiB. */
export const MAX_DECODED_BYTES = 256 * 1024 * 1024;

/**
 * Width and height from the header, without decoding: PNG's IHDR, or a JPEG's first
 * start-of-frame marker. Undefined when the header is not where it should be.
 */
export function imageHeaderSize(buf: Uint8Array, kind: 'png' | 'jpeg'): { width: number; height: number } | undefined {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (kind === 'png') {
    // 8-byte signature, then the IHDR chunk: length(4) "IHDR"(4) width(4) height(4).
    if (buf.length < 24 || buf[12] !== 0x49 || buf[13] !== 0x48 || buf[14] !== 0x44 || buf[15] !== 0x52) return undefined;
    return { width: dv.getUint32(16), height: dv.getUint32(20) };
  }
  let pos = 2;
  while (pos + 4 <= buf.length) {
    if (buf[pos] !== 0xff) return undefined;
    const marker = buf[pos + 1]!;
    if (marker === 0xff) {
      pos++;
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      pos += 2;
      continue;
    }
    const len = dv.getUint16(pos + 2);
    // SOF0..SOF15 except DHT (c4), JPG (c8), DAC (cc): precision(1) height(2) width(2).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (pos + 9 > buf.length) return undefined;
      return { width: dv.getUint16(pos + 7), height: dv.getUint16(pos + 5) };
    }
    if (marker === 0xda || len < 2) return undefined;
    pos += 2 + len;
  }
  return undefined;
}

/** Decodes a PNG or JPEG file (by content, not name). @throws FILE_NOT_FOUND, DATA_CORRUPT, DATA_UNSUPPORTED */
export function decodeImage(path: string): DecodedImage {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new CompilerError('FILE_NOT_FOUND', `cannot read image ${path}: ${(e as Error).message}`, { where: path, cause: e });
  }
  const isPng = buf.length >= 8 && buf[0] === 0x89 && buf[1] === 0x50 && buf[2] === 0x4e && buf[3] === 0x47;
  const isJpeg = buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff;
  // A few hundred KB of PNG can inflate to gigabytes: the header's size decides first.
  if (isPng || isJpeg) {
    const size = imageHeaderSize(buf, isPng ? 'png' : 'jpeg');
    if (size && size.width * size.height * 4 > MAX_DECODED_BYTES) {
      throw new CompilerError(
        'DATA_TOO_LARGE',
        `${path} is ${size.width}×${size.height} pixels: ${((size.width * size.height * 4) / 2 ** 20).toFixed(0)} MiB decoded, over the ${MAX_DECODED_BYTES / 2 ** 20} MiB limit per image`,
        { where: path, hint: "shrink the image (training uses the model's input size anyway) or move it out of the data folder" },
      );
    }
  }
  try {
    if (isPng) {
      const p = PNG.sync.read(buf);
      return { width: p.width, height: p.height, rgba: new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength) };
    }
    if (isJpeg) {
      const j = jpeg.decode(buf, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: MAX_DECODED_BYTES / 4 / 1e6,
        maxMemoryUsageInMB: (2 * MAX_DECODED_BYTES) / 2 ** 20,
      });
      return { width: j.width, height: j.height, rgba: j.data };
    }
  } catch (e) {
    throw new CompilerError('DATA_CORRUPT', `cannot decode ${path}: ${(e as Error).message}`, {
      where: path,
      cause: e,
      hint: 'the image is damaged or truncated; remove or replace it',
    });
  }
  throw new CompilerError('DATA_UNSUPPORTED', `${path} is neither PNG nor JPEG`, {
    where: path,
    hint: 'convert it to PNG, or move it out of the class folder',
  });
}

/** True when every pixel has R = G = B. */
export function isGray(img: DecodedImage): boolean {
  const d = img.rgba;
  for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1] || d[i] !== d[i + 2]) return false;
  return true;
}

/** RGBA bytes → CHW floats in [0,1] with 1 (luma, BT.601) or 3 channels; alpha is dropped. */
export function rgbaToPlanes(img: DecodedImage, channels: number, out: Float32Array): void {
  const n = img.width * img.height;
  const d = img.rgba;
  if (channels === 1) {
    for (let i = 0; i < n; i++) out[i] = (0.299 * d[4 * i]! + 0.587 * d[4 * i + 1]! + 0.114 * d[4 * i + 2]!) / 255;
  } else {
    for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) out[c * n + i] = d[4 * i + c]! / 255;
  }
}

/** Per-output-index source taps and weights along one axis. */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  index: Int32Array;
  weight: Float32Array;
}

/**
 * Weights for resampling `inSize` → `outSize` samples: bilinear with half-pixel centres
 * when enlarging, area averaging when shrinking (bilinear alone would alias).
 */
function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const idx: number[] = [];
  const w: number[] = [];
  for (let o = 0; o < outSize; o++) {
    start[o] = idx.length;
    if (scale <= 1) {
      const x = Math.min(Math.max((o + 0.5) * scale - 0.5, 0), inSize - 1);
      const x0 = Math.floor(x);
      const x1 = Math.min(x0 + 1, inSize - 1);
      const f = x - x0;
      idx.push(x0, x1);
      w.push(1 - f, f);
    } else {
      const a = o * scale;
      const b = (o + 1) * scale;
      for (let i = Math.floor(a); i < Math.min(Math.ceil(b), inSize); i++) {
        const overlap = Math.min(b, i + 1) - Math.max(a, i);
        if (overlap > 0) {
          idx.push(i);
          w.push(overlap / scale);
        }
      }
    }
    count[o] = idx.length - start[o]!;
  }
  return { start, count, index: Int32Array.from(idx), weight: Float32Array.from(w) };
}

const tapCache = new Map<string, Taps>();
function cachedTaps(inSize: number, outSize: number): Taps {
  const key = `${inSize}>${outSize}`;
  let t = tapCache.get(key);
  if (!t) {
    t = taps(inSize, outSize);
    tapCache.set(key, t);
  }
  return t;
}

/** Resizes C planes of H×W to H2×W2 (separable). */
export function resizePlanes(src: Float32Array, c: number, h: number, w: number, h2: number, w2: number, out: Float32Array): void {
  if (h === h2 && w === w2) {
    out.set(src.subarray(0, c * h * w));
    return;
  }
  const tx = cachedTaps(w, w2);
  const ty = cachedTaps(h, h2);
  const tmp = new Float32Array(h * w2);
  for (let ch = 0; ch < c; ch++) {
    const base = ch * h * w;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w2; x++) {
        let s = 0;
        const st = tx.start[x]!;
        for (let k = 0; k < tx.count[x]!; k++) s += tx.weight[st + k]! * src[base + y * w + tx.index[st + k]!]!;
        tmp[y * w2 + x] = s;
      }
    }
    const ob = ch * h2 * w2;
    for (let y = 0; y < h2; y++) {
      const st = ty.start[y]!;
      for (let x = 0; x < w2; x++) {
        let s = 0;
        for (let k = 0; k < ty.count[y]!; k++) s += ty.weight[st + k]! * tmp[ty.index[st + k]! * w2 + x]!;
        out[ob + y * w2 + x] = s;
      }
    }
  }
}

/**
 * In-place random translation (pad-and-crop, zero fill) and horizontal flip of C planes.
 * Draws exactly three numbers from `rng` per call, so the stream stays aligned across samples.
 */
export function augmentPlanes(buf: Float32Array, c: number, h: number, w: number, crop: number, flip: boolean, rng: Rng, scratch: Float32Array): void {
  const dy = rng.int(2 * crop + 1) - crop;
  const dx = rng.int(2 * crop + 1) - crop;
  const mirror = flip && rng.next() < 0.5;
  if (dx === 0 && dy === 0 && !mirror) return;
  const n = c * h * w;
  scratch.set(buf.subarray(0, n));
  for (let ch = 0; ch < c; ch++) {
    const b = ch * h * w;
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      for (let x = 0; x < w; x++) {
        const xx = mirror ? w - 1 - x : x;
        const sx = xx + dx;
        buf[b + y * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? scratch[b + sy * w + sx]! : 0;
      }
    }
  }
}
