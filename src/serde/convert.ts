/** Small conversions between protobufjs' decoded forms and IR forms. */
import Long from 'long';
import type { Int } from '../ir/tensor.js';

/** A decoded int64 (Long or number) as a number when exact, else a bigint. */
export function toInt(x: unknown): Int {
  if (typeof x === 'number') return x;
  if (typeof x === 'bigint') return x;
  if (Long.isLong(x)) {
    const l = x as Long;
    if (l.unsigned) {
      if (l.high >>> 0 <= 0x1fffff) return l.toNumber();
      return BigInt(l.toString());
    }
    if (l.high >= -0x200000 && l.high <= 0x1fffff) return l.toNumber();
    return BigInt(l.toString());
  }
  if (typeof x === 'string') {
    const b = BigInt(x);
    return b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(b) : b;
  }
  return Number(x);
}

/** An IR integer in the form protobufjs encodes exactly. */
export function toWireInt(x: Int, unsigned = false): number | Long {
  if (typeof x === 'number') {
    if (Number.isSafeInteger(x)) return x;
    return Long.fromString(BigInt(Math.trunc(x)).toString(), unsigned);
  }
  return Long.fromString((unsigned ? BigInt.asUintN(64, x) : x).toString(), unsigned);
}

export function has(obj: object, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, field);
}

/** A zero-copy Buffer over a Uint8Array (protobufjs copies Buffers with memcpy). */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
