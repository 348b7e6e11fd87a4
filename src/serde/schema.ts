/** The ONNX protobuf schema (src/serde/onnx.proto), loaded once with protobufjs. */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import protobuf from 'protobufjs';
import Long from 'long';

// protobufjs represents int64 as Long only when it can find the `long` package; make
// that explicit so int64 values (Slice ends of INT64_MAX, say) never lose precision.
protobuf.util.Long = Long as unknown as typeof protobuf.util.Long;
protobuf.configure();

/**
 * protobufjs reads every tag and length with `uint32()`, which keeps the low 32 bits of a
 * longer varint and skips its next bytes unread: a length of 2^32 + 5 reads as 5 and the
 * rest of the file is misparsed (python onnx rejects it). The check here lets through what
 * `uint32()` may legitimately see (up to 32 bits, or a negative int32 sign-extended to ten
 * bytes) and throws on anything longer, so the reader turns it into PROTOBUF_INVALID.
 */
type ReaderLike = { buf: Uint8Array; pos: number; len: number };
const proto = protobuf.Reader.prototype as unknown as { uint32(this: ReaderLike): number; __sculptChecked?: boolean };
if (!proto.__sculptChecked) {
  const uint32 = proto.uint32;
  proto.uint32 = function checkedUint32(this: ReaderLike): number {
    const start = this.pos;
    const v = uint32.call(this);
    const n = this.pos - start;
    if (n < 5) return v;
    const b = this.buf;
    if (n === 5) {
      if (b[start + 4]! & 0x70) throw new Error(`varint at byte ${start} is 2^32 or more (a length or tag out of range)`);
      return v;
    }
    // Ten bytes: only a sign-extended negative int32 is valid here.
    const ok =
      (b[start + 4]! & 0xf0) === 0xf0 &&
      b[start + 5] === 0xff &&
      b[start + 6] === 0xff &&
      b[start + 7] === 0xff &&
      b[start + 8] === 0xff &&
      b[start + 9] === 0x01;
    if (!ok) throw new Error(`varint at byte ${start} does not fit 32 bits (or runs past 64)`);
    return v;
  };
  proto.__sculptChecked = true;
}

const here = dirname(fileURLToPath(import.meta.url));

/** Finds onnx.proto: next to this module in source, or in src/serde of an enclosing folder when compiled. */
function protoPath(): string {
  let dir = here;
  for (let i = 0; i < 8; i++) {
    for (const p of [resolve(dir, 'onnx.proto'), resolve(dir, 'src/serde/onnx.proto')]) {
      if (existsSync(p)) return p;
    }
    dir = dirname(dir);
  }
  throw new Error('onnx.proto not found next to the serde module');
}

let root: protobuf.Root | null = null;

export function schema(): protobuf.Root {
  if (!root) {
    const text = readFileSync(protoPath(), 'utf8');
    root = protobuf.parse(text, { keepCase: true }).root;
  }
  return root;
}

export function modelType(): protobuf.Type {
  return schema().lookupType('onnx.ModelProto');
}

export { Long };
