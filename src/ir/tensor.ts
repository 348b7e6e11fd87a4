/**
 * A constant tensor: an initializer, a Constant's value or a tensor attribute.
 *
 * Data stays in the form the file had it (raw bytes, a typed field, or external) until
 * somebody changes it, so a read/write round trip is lossless. Raw bytes are views of the
 * input buffer (zero-copy); `setFloat32` and friends replace them with owned bytes.
 */
import { CompilerError } from '../errors.js';
import { DataType, bitsPerElement, dataTypeName, rawByteLength } from './data-type.js';

export type Int = number | bigint;

/** The TensorProto field a typed payload came from. */
export type TypedField = 'float_data' | 'int32_data' | 'string_data' | 'int64_data' | 'double_data' | 'uint64_data';

export type TensorData =
  | { readonly kind: 'raw'; readonly bytes: Uint8Array }
  | { readonly kind: 'typed'; readonly field: TypedField; readonly values: readonly (number | bigint | Uint8Array)[] }
  | { readonly kind: 'none' };

/** Where the data lived in the input when it was stored outside the model file. */
export interface ExternalOrigin {
  readonly location: string;
  readonly offset?: number;
  readonly length?: number;
  /** Entries other than location/offset/length (checksum, ...), in file order. */
  readonly extra: readonly { key: string; value: string }[];
}

export interface KeyValue {
  key: string;
  value: string;
}

export class Tensor {
  name: string | undefined;
  dataType: number;
  dims: Int[];
  data: TensorData;
  docString?: string;
  metadataProps?: KeyValue[];
  segment?: { begin?: Int; end?: Int };
  /** Set when the data was read from an external file; the writer decides where it goes next. */
  external?: ExternalOrigin;
  /** False when the producer left data_type out. */
  dataTypeWritten?: boolean;
  /** data_location as written by the producer, kept for a lossless round trip. */
  dataLocation?: number;

  constructor(name: string | undefined, dataType: number, dims: Int[], data: TensorData) {
    this.name = name;
    this.dataType = dataType;
    this.dims = dims;
    this.data = data;
  }

  /** Number of elements (1 for a scalar). */
  get size(): number {
    let n = 1;
    for (const d of this.dims) n *= Number(d);
    return n;
  }

  get shape(): number[] {
    return this.dims.map(Number);
  }

  /** Bytes of the payload in raw_data layout. */
  get byteLength(): number {
    if (this.data.kind === 'raw') return this.data.bytes.byteLength;
    if (this.dataType === DataType.STRING && this.data.kind === 'typed') {
      let n = 0;
      for (const s of this.data.values) n += (s as Uint8Array).byteLength;
      return n;
    }
    return rawByteLength(this.dataType, this.size);
  }

  /** Little-endian raw bytes of the payload (a view when stored raw). Not for strings. */
  rawBytes(): Uint8Array {
    if (this.data.kind === 'raw') return this.data.bytes;
    if (this.data.kind === 'none') return new Uint8Array(0);
    return typedToRaw(this.dataType, this.data.field, this.data.values, this.size);
  }

  /** Values as float32 (converting from any numeric kind). */
  toFloat32(): Float32Array {
    const t = this.dataType;
    if (t === DataType.FLOAT) return copyAligned(this.rawBytes(), Float32Array, this.size);
    return Float32Array.from(this.toNumbers());
  }

  /** Values as JS numbers (int64 beyond 2^53 rounds). */
  toNumbers(): number[] {
    const t = this.dataType;
    const n = this.size;
    if (this.data.kind === 'typed' && t !== DataType.FLOAT16 && t !== DataType.BFLOAT16) {
      return this.data.values.slice(0, n).map((v) => Number(v as number | bigint));
    }
    const raw = this.rawBytes();
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Array<number>(n);
    const need = rawByteLength(t, n);
    if (raw.byteLength < need) {
      throw new CompilerError(
        'TENSOR_DATA_SIZE_MISMATCH',
        `tensor "${this.name ?? ''}" of shape [${this.shape.join(',')}] needs ${need} bytes of ${dataTypeName(t)}; it has ${raw.byteLength}`,
        { where: this.name },
      );
    }
    for (let i = 0; i < n; i++) {
      switch (t) {
        case DataType.FLOAT:
          out[i] = dv.getFloat32(i * 4, true);
          break;
        case DataType.DOUBLE:
          out[i] = dv.getFloat64(i * 8, true);
          break;
        case DataType.INT64:
          out[i] = Number(dv.getBigInt64(i * 8, true));
          break;
        case DataType.UINT64:
          out[i] = Number(dv.getBigUint64(i * 8, true));
          break;
        case DataType.INT32:
          out[i] = dv.getInt32(i * 4, true);
          break;
        case DataType.UINT32:
          out[i] = dv.getUint32(i * 4, true);
          break;
        case DataType.INT16:
          out[i] = dv.getInt16(i * 2, true);
          break;
        case DataType.UINT16:
          out[i] = dv.getUint16(i * 2, true);
          break;
        case DataType.INT8:
          out[i] = dv.getInt8(i);
          break;
        case DataType.UINT8:
        case DataType.BOOL:
          out[i] = dv.getUint8(i);
          break;
        case DataType.FLOAT16:
          out[i] = halfToFloat(dv.getUint16(i * 2, true));
          break;
        case DataType.BFLOAT16:
          out[i] = bf16ToFloat(dv.getUint16(i * 2, true));
          break;
        default:
          throw new CompilerError('UNSUPPORTED_DATA_TYPE', `cannot read ${dataTypeName(t)} tensor "${this.name ?? ''}" as numbers`, { where: this.name });
      }
    }
    return out;
  }

  /** Values as bigint (int64 exact). */
  toBigInts(): bigint[] {
    if (this.dataType === DataType.INT64 && this.data.kind === 'raw') {
      const a = copyAligned(this.data.bytes, BigInt64Array, this.size);
      return Array.from(a);
    }
    if (this.data.kind === 'typed') return this.data.values.slice(0, this.size).map((v) => BigInt(v as number | bigint));
    return this.toNumbers().map((v) => BigInt(Math.trunc(v)));
  }

  /** Replaces the payload with float32 values (owned copy, raw layout). */
  setFloat32(values: Float32Array, dims?: Int[]): void {
    if (dims) this.dims = dims;
    this.dataType = DataType.FLOAT;
    this.data = { kind: 'raw', bytes: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)) };
    this.external = undefined;
    this.dataLocation = undefined;
  }

  /** Replaces the payload with raw bytes of the same data type. */
  setRaw(bytes: Uint8Array, dims?: Int[]): void {
    if (dims) this.dims = dims;
    this.data = { kind: 'raw', bytes };
    this.external = undefined;
    this.dataLocation = undefined;
  }

  static fromFloat32(name: string | undefined, dims: Int[], values: Float32Array | number[]): Tensor {
    const f = values instanceof Float32Array ? values : Float32Array.from(values);
    const t = new Tensor(name, DataType.FLOAT, dims, { kind: 'none' });
    t.setFloat32(f);
    if (t.size !== f.length) throw new CompilerError('TENSOR_DATA_SIZE_MISMATCH', `tensor "${name ?? ''}": ${f.length} values for shape [${dims.join(',')}]`);
    return t;
  }

  static fromInt64(name: string | undefined, dims: Int[], values: readonly (number | bigint)[]): Tensor {
    const a = BigInt64Array.from(values.map((v) => BigInt(v)));
    const t = new Tensor(name, DataType.INT64, dims, { kind: 'raw', bytes: new Uint8Array(a.buffer) });
    if (t.size !== a.length) throw new CompilerError('TENSOR_DATA_SIZE_MISMATCH', `tensor "${name ?? ''}": ${a.length} values for shape [${dims.join(',')}]`);
    return t;
  }

  /** A deep copy whose payload is owned. */
  clone(name = this.name): Tensor {
    const t = new Tensor(
      name,
      this.dataType,
      [...this.dims],
      this.data.kind === 'raw'
        ? { kind: 'raw', bytes: Uint8Array.prototype.slice.call(this.data.bytes) }
        : this.data.kind === 'typed'
          ? { kind: 'typed', field: this.data.field, values: [...this.data.values] }
          : { kind: 'none' },
    );
    t.docString = this.docString;
    t.metadataProps = this.metadataProps?.map((p) => ({ ...p }));
    t.segment = this.segment ? { ...this.segment } : undefined;
    return t;
  }
}

type TypedArrayCtor<T> = { new (buf: ArrayBuffer, off: number, len: number): T; new (len: number): T; BYTES_PER_ELEMENT: number };

/** A typed view of little-endian bytes, copying only when the view would be misaligned. */
export function copyAligned<T extends ArrayBufferView>(bytes: Uint8Array, Ctor: TypedArrayCtor<T>, count: number): T {
  const need = count * Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength < need) {
    throw new CompilerError('TENSOR_DATA_SIZE_MISMATCH', `tensor data has ${bytes.byteLength} bytes; ${need} are needed`);
  }
  if (bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) {
    return new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, count);
  }
  // Uint8Array's slice copies; Buffer's would only make another view (at offset 0 of a pool).
  const copy = Uint8Array.prototype.slice.call(bytes, 0, need);
  return new Ctor(copy.buffer, 0, count);
}

function typedToRaw(t: number, field: TypedField, values: readonly (number | bigint | Uint8Array)[], size: number): Uint8Array {
  const n = Math.min(values.length, size);
  const out = new Uint8Array(rawByteLength(t, size));
  const dv = new DataView(out.buffer);
  const bits = bitsPerElement(t);
  for (let i = 0; i < n; i++) {
    const v = values[i] as number | bigint;
    switch (t) {
      case DataType.FLOAT:
        dv.setFloat32(i * 4, Number(v), true);
        break;
      case DataType.DOUBLE:
        dv.setFloat64(i * 8, Number(v), true);
        break;
      case DataType.INT64:
        dv.setBigInt64(i * 8, BigInt(v), true);
        break;
      case DataType.UINT64:
        dv.setBigUint64(i * 8, BigInt.asUintN(64, BigInt(v)), true);
        break;
      case DataType.UINT32:
        dv.setUint32(i * 4, Number(v), true);
        break;
      case DataType.INT32:
        dv.setInt32(i * 4, Number(v), true);
        break;
      case DataType.COMPLEX64:
        dv.setFloat32(i * 4, Number(v), true);
        break;
      case DataType.COMPLEX128:
        dv.setFloat64(i * 8, Number(v), true);
        break;
      default:
        if (bits === 16) dv.setUint16(i * 2, Number(v) & 0xffff, true);
        else if (bits === 8) dv.setUint8(i, Number(v) & 0xff);
        else if (bits === 4) out[i >> 1]! |= (Number(v) & 0xf) << ((i & 1) * 4);
        else if (bits === 2) out[i >> 2]! |= (Number(v) & 0x3) << ((i & 3) * 2);
        else throw new CompilerError('UNSUPPORTED_DATA_TYPE', `cannot convert ${field} of ${dataTypeName(t)} to raw bytes`);
    }
  }
  return out;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function bf16ToFloat(h: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setUint32(0, h << 16);
  return b.getFloat32(0);
}
