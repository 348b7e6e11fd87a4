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
