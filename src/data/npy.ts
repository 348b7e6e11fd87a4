/**
 * NumPy `.npy` files (format versions 1–3): magic `\x93NUMPY`, version, a little-endian
 * header length, then a Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }` and C-order data.
 * Element types: float32, float64, uint8, int8, int32, int64, bool (little-endian or
 * byte-order-free).
 */
import { CompilerError } from '../errors.js';
import type { ByteSource } from './bytes.js';
import { openBytes } from './bytes.js';

export type NpyDtype = 'f4' | 'f8' | 'u1' | 'i1' | 'i4' | 'i8' | 'b1';

export interface NpyFile {
  readonly path: string;
  readonly shape: readonly number[];
  readonly dtype: NpyDtype;
  readonly elemBytes: number;
  readonly dataOffset: number;
  readonly bytes: ByteSource;
}

const SIZES: Record<NpyDtype, number> = { f4: 4, f8: 8, u1: 1, i1: 1, i4: 4, i8: 8, b1: 1 };

/** Parses the header and checks the size. @throws FILE_NOT_FOUND, DATA_CORRUPT, DATA_UNSUPPORTED */
export function openNpy(path: string, maxInMemory?: number): NpyFile {
  const bytes = openBytes(path, maxInMemory);
  const fail = (code: 'DATA_CORRUPT' | 'DATA_UNSUPPORTED', why: string, hint?: string): never => {
    bytes.close();
    throw new CompilerError(code, `${path}: ${why}`, { where: path, hint: hint ?? 'write it with numpy.save(path, array)' });
  };
  if (bytes.length < 10) fail('DATA_CORRUPT', `not a .npy file (${bytes.length} bytes)`);
  const pre = bytes.read(0, 12 <= bytes.length ? 12 : 10).slice();
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (!magic.every((m, i) => pre[i] === m)) fail('DATA_CORRUPT', 'not a .npy file (bad magic)');
  const major = pre[6]!;
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = pre[8]! | (pre[9]! << 8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (pre.byteLength < 12) fail('DATA_CORRUPT', 'header is cut off');
    headerLen = (pre[8]! | (pre[9]! << 8) | (pre[10]! << 16)) + pre[11]! * 2 ** 24;
    start = 12;
  } else return fail('DATA_UNSUPPORTED', `.npy format version ${major} is not supported`);
  if (start + headerLen > bytes.length) fail('DATA_CORRUPT', 'header is cut off');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.read(start, headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    return fail('DATA_CORRUPT', `cannot parse the header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True')
    fail('DATA_UNSUPPORTED', 'Fortran-order arrays are not supported', 'save a C-order copy: numpy.save(path, numpy.ascontiguousarray(a))');
  const m = /^([<>|=])([fuib])(\d+)$/.exec(descr);
  const dtype = m ? (`${m[2]}${m[3]}` as NpyDtype) : undefined;
  if (!m || dtype === undefined || !(dtype in SIZES))
    return fail(
      'DATA_UNSUPPORTED',
      `element type '${descr}' is not supported (float32/float64/uint8/int8/int32/int64/bool are)`,
      'convert with a.astype(numpy.float32)',
    );
  if (m[1] === '>' && SIZES[dtype] > 1)
    fail('DATA_UNSUPPORTED', `big-endian element type '${descr}' is not supported`, 'convert with a.astype(a.dtype.newbyteorder("<"))');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const v = Number(s.replace(/L$/, ''));
      if (!Number.isInteger(v) || v < 0) fail('DATA_CORRUPT', `bad shape (${shapeText})`);
      return v;
    });
  const dataOffset = start + headerLen;
  const want = shape.reduce((a, b) => a * b, 1) * SIZES[dtype];
  if (bytes.length - dataOffset !== want) {
    fail(
      'DATA_CORRUPT',
      `header says shape (${shape.join(', ')}) of ${descr} (${want} bytes) but the file holds ${bytes.length - dataOffset} bytes of data`,
      'the file is truncated or was not written by numpy.save',
    );
  }
  return { path, shape, dtype, elemBytes: SIZES[dtype], dataOffset, bytes };
}

/** Reads `out.length` elements starting at element `first`, as numbers. */
export function readNpyElements(f: NpyFile, first: number, out: Float32Array | Float64Array, scale = 1): void {
  const n = out.length;
  const b = f.bytes.read(f.dataOffset + first * f.elemBytes, n * f.elemBytes);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (f.dtype) {
    case 'u1':
    case 'b1':
      for (let k = 0; k < n; k++) out[k] = b[k]! * scale;
      break;
    case 'i1':
      for (let k = 0; k < n; k++) out[k] = ((b[k]! << 24) >> 24) * scale;
      break;
    case 'i4':
      for (let k = 0; k < n; k++) out[k] = dv.getInt32(4 * k, true) * scale;
      break;
    case 'i8':
      for (let k = 0; k < n; k++) out[k] = Number(dv.getBigInt64(8 * k, true)) * scale;
      break;
    case 'f4':
      for (let k = 0; k < n; k++) out[k] = dv.getFloat32(4 * k, true) * scale;
      break;
    case 'f8':
      for (let k = 0; k < n; k++) out[k] = dv.getFloat64(8 * k, true) * scale;
      break;
  }
}

/** Reads a label array (1-D, or [N,1]) whole. @throws DATA_CORRUPT */
export function readNpyLabels(path: string): Int32Array {
  const f = openNpy(path);
  try {
    const s = f.shape;
    if (!(s.length === 1 || (s.length === 2 && s[1] === 1))) {
      throw new CompilerError('DATA_CORRUPT', `${path} is not a label array: shape (${s.join(', ')}); labels are 1-D`, {
        where: path,
        hint: 'the spec is npy:<x.npy>,<y.npy>; one-hot labels need y.argmax(1) first',
      });
    }
    const n = s[0]!;
    const tmp = new Float64Array(n);
    readNpyElements(f, 0, tmp);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = tmp[i]!;
      if (out[i] !== tmp[i]) throw new CompilerError('DATA_CORRUPT', `${path}: label ${i} is ${tmp[i]}, not an integer class index`, { where: path });
    }
    return out;
  } finally {
    f.bytes.close();
  }
}

/** Encodes a C-order array as .npy (version 1), for tests and exports. */
export function encodeNpy(shape: readonly number[], data: Float32Array | Float64Array | Uint8Array | BigInt64Array | Int32Array): Uint8Array {
  const descr =
    data instanceof Float32Array
      ? '<f4'
      : data instanceof Float64Array
        ? '<f8'
        : data instanceof Uint8Array
          ? '|u1'
          : data instanceof Int32Array
            ? '<i4'
            : '<i8';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
