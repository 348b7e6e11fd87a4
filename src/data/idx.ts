/**
 * IDX files (the MNIST format): magic `0 0 <type> <ndim>`, ndim big-endian uint32 sizes,
 * then the elements big-endian in C order. Types: 0x08 uint8, 0x09 int8, 0x0B int16,
 * 0x0C int32, 0x0D float32, 0x0E float64.
 */
import { CompilerError } from '../errors.js';
import type { ByteSource } from './bytes.js';
import { openBytes } from './bytes.js';

export interface IdxFile {
  readonly path: string;
  /** All dims, the first being the item count. */
  readonly dims: readonly number[];
  readonly type: number;
  readonly elemBytes: number;
  /** Byte offset of the first element. */
  readonly dataOffset: number;
  readonly bytes: ByteSource;
}

const ELEM_BYTES: Record<number, number> = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 };

/** Parses the header and checks the size. @throws FILE_NOT_FOUND, DATA_CORRUPT */
export function openIdx(path: string, maxInMemory?: number): IdxFile {
  const bytes = openBytes(path, maxInMemory);
  const bad = (why: string): never => {
    bytes.close();
    throw new CompilerError('DATA_CORRUPT', `${path} is not a valid IDX file: ${why}`, {
      where: path,
      hint: 'IDX files start with 0x00 0x00 <type> <ndim>; check the file is complete',
    });
  };
  if (bytes.length < 4) bad(`only ${bytes.length} bytes`);
  const head = bytes.read(0, 4).slice();
  if (head[0] !== 0 || head[1] !== 0) bad(`bad magic ${[...head].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`);
  const type = head[2]!;
  const ndim = head[3]!;
  const elemBytes = ELEM_BYTES[type];
  if (elemBytes === undefined) bad(`unknown element type 0x${type.toString(16)}`);
  if (ndim < 1 || ndim > 4) bad(`${ndim} dimensions`);
  if (bytes.length < 4 + 4 * ndim) bad('header is cut off');
  const dv = new DataView(bytes.read(4, 4 * ndim).slice().buffer);
  const dims = Array.from({ length: ndim }, (_, i) => dv.getUint32(4 * i, false));
  const dataOffset = 4 + 4 * ndim;
  const want = dims.reduce((a, b) => a * b, 1) * elemBytes!;
  if (bytes.length - dataOffset !== want) {
    bad(`header says [${dims.join(',')}] (${want} bytes of data) but the file holds ${bytes.length - dataOffset}`);
  }
  return { path, dims, type, elemBytes: elemBytes!, dataOffset, bytes };
}

/** Reads item `i` (all elements after the first dim) as numbers into `out`. */
export function readIdxItem(f: IdxFile, i: number, out: Float32Array, scaleU8: boolean): void {
  const per = out.length;
  const b = f.bytes.read(f.dataOffset + i * per * f.elemBytes, per * f.elemBytes);
  switch (f.type) {
    case 0x08:
      if (scaleU8) for (let k = 0; k < per; k++) out[k] = b[k]! / 255;
      else for (let k = 0; k < per; k++) out[k] = b[k]!;
      return;
    case 0x09:
      for (let k = 0; k < per; k++) out[k] = (b[k]! << 24) >> 24;
      return;
    default: {
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let k = 0; k < per; k++) out[k] = readBE(dv, f.type, k * f.elemBytes);
    }
  }
}

function readBE(dv: DataView, type: number, at: number): number {
  switch (type) {
    case 0x0b:
      return dv.getInt16(at, false);
    case 0x0c:
      return dv.getInt32(at, false);
    case 0x0d:
      return dv.getFloat32(at, false);
    default:
      return dv.getFloat64(at, false);
  }
}

/** Reads a 1-D IDX label file whole. @throws DATA_CORRUPT when not 1-D or not integral */
export function readIdxLabels(path: string): Int32Array {
  const f = openIdx(path);
  try {
    if (f.dims.length !== 1) {
      throw new CompilerError('DATA_CORRUPT', `${path} is not a label file: it has shape [${f.dims.join(',')}], labels are 1-D`, {
        where: path,
        hint: 'the images and labels files may be swapped: the spec is idx:<images>,<labels>',
      });
    }
    const n = f.dims[0]!;
    const out = new Int32Array(n);
    const tmp = new Float32Array(1);
    if (f.type === 0x08) {
      const b = f.bytes.read(f.dataOffset, n);
      for (let i = 0; i < n; i++) out[i] = b[i]!;
    } else {
      for (let i = 0; i < n; i++) {
        readIdxItem(f, i, tmp, false);
        out[i] = tmp[0]!;
        if (out[i] !== tmp[0]) throw new CompilerError('DATA_CORRUPT', `${path}: label ${i} is ${tmp[0]}, not an integer`, { where: path });
      }
    }
    return out;
  } finally {
    f.bytes.close();
  }
}
