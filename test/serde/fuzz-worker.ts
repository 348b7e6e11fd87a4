/**
 * The fuzz cases (run in a child process by fuzz.test.ts, which kills it when one case
 * takes too long). Prints "case <i>" before each case and one JSON line per finding.
 * Usage: node fuzz-worker.js <dir> <seed> <protobuf cases> <external-data cases>
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import { CompilerError } from '../../src/errors.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import type { Model } from '../../src/ir/core.js';
import { Tensor } from '../../src/ir/tensor.js';
import { verifyModel } from '../../src/ir/verify.js';
import { decodeModel, readModel } from '../../src/serde/read.js';
import { encodeModel, saveModel } from '../../src/serde/write.js';
import { Rng } from '../../src/util/rng.js';
import { modelType } from '../../src/serde/schema.js';
import { buildModel } from '../../models/index.js';

const [dir, seedText, nProto, nExt] = process.argv.slice(2);
const rng = new Rng(Number(seedText));
const say = (s: string) => writeSync(1, `${s}\n`);
/** A whole number in [lo, hi). */
const ri = (lo: number, hi: number) => lo + rng.int(hi - lo);

/** The corpus: models the tests build (reference nets, Constant weights, a subgraph). */
function corpus(): Model[] {
  const withConstant = (() => {
    const b = GraphBuilder.newModel();
    const x = b.input('x', [1, 16]);
    const c = b.op('Constant', [], [{ name: 'value', v: { type: 4, value: Tensor.fromFloat32('c', [16], new Rng(3).normalArray(16)) } }]);
    const s = b.int64s('shape', [2], [4, 4]);
    b.output(b.op('Reshape', [b.op('Mul', [x, c]), s]), 'y');
    return b.model;
  })();
  // An If with two branches, as an exporter writes it (the reader links the subgraphs).
  const vi = (name: string, elem: number, dims: number[]) => ({
    name,
    type: { tensor_type: { elem_type: elem, shape: { dim: dims.map((d) => ({ dim_value: d })) } } },
  });
  const branch = (name: string, op: string) => ({
    name,
    node: [{ op_type: op, input: ['x'], output: [`${name}_y`], name: `${name}_n` }],
    output: [vi(`${name}_y`, 1, [2])],
  });
  const withIf = decodeModel(
    modelType()
      .encode({
        ir_version: 8,
        opset_import: [{ domain: '', version: 17 }],
        graph: {
          name: 'g',
          input: [vi('x', 1, [2]), vi('cond', 9, [])],
          output: [vi('y', 1, [2])],
          node: [
            {
              op_type: 'If',
              input: ['cond'],
              output: ['y'],
              name: 'if',
              attribute: [
                { name: 'then_branch', type: 5, g: branch('then', 'Relu') },
                { name: 'else_branch', type: 5, g: branch('else', 'Neg') },
              ],
            },
          ],
        },
      })
      .finish(),
  );
  return [
    buildModel('lenet5', { seed: 1, width: 0.25 }),
    buildModel('resnet20', { seed: 1, width: 0.25 }),
    buildModel('mlp', { seed: 1, width: 0.05 }),
    withConstant,
    withIf,
  ];
}

const GARBAGE = ['abc', '1.5', '0x10', '', '-1', 'lots', '99999999999999999999', '1e3', ' 16', '18446744073709551616', '4294967296', '0'];
const BAD_LOCATIONS = ['', '..', '../x.data', '/etc/passwd', '.', 'fifo', 'sub', 'loop', 'missing.data', 'a'.repeat(300)];

/** One mutation of `b` (a copy). */
function mutate(b: Uint8Array): Uint8Array {
  const out = Uint8Array.from(b);
  const at = () => ri(0, Math.max(1, out.length));
  switch (ri(0, 8)) {
    case 0: {
      for (let k = ri(1, 9); k > 0; k--) {
        const i = at();
        out[i] = out[i]! ^ (1 << ri(0, 8));
      }
      return out;
    }
    case 1: {
      for (let k = ri(1, 5); k > 0; k--) out[at()] = ri(0, 256);
      return out;
    }
    case 2:
      return out.subarray(0, at());
    case 3: {
      const i = at();
      const ins = Uint8Array.from({ length: ri(1, 16) }, () => ri(0, 256));
      return concat(out.subarray(0, i), ins, out.subarray(i));
    }
    case 4: {
      const i = at();
      return concat(out.subarray(0, i), out.subarray(Math.min(out.length, i + ri(1, 64))));
    }
    case 5: {
      const i = at();
      const j = Math.min(out.length, i + ri(1, 256));
      return concat(out.subarray(0, j), out.subarray(i, j), out.subarray(j));
    }
    case 6: {
      const i = at();
      return concat(out.subarray(0, i), Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), out.subarray(i));
    }
    default: {
      const i = at();
      out.fill(0, i, Math.min(out.length, i + ri(1, 32)));
      return out;
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const r = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    r.set(p, o);
    o += p.length;
  }
  return r;
}

function report(kind: string, i: number, e: unknown): void {
  if (e instanceof CompilerError && e.code !== 'INTERNAL' && /^[A-Z_]+$/.test(e.code)) return;
  say(JSON.stringify({ finding: kind, case: i, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e), code: (e as CompilerError).code }));
}

const models = corpus();
const encoded = models.map((m) => encodeModel(m));
let ok = 0;
let failed = 0;
for (let i = 0; i < Number(nProto); i++) {
  say(`case ${i}`);
  let bytes = encoded[i % encoded.length]!;
  for (let k = ri(1, 4); k > 0; k--) bytes = mutate(bytes);
  try {
    const m = decodeModel(bytes);
    verifyModel(m);
    const again = decodeModel(encodeModel(m));
    verifyModel(again);
    ok++;
  } catch (e) {
    failed++;
    report('protobuf', i, e);
  }
}

// External data: the model's records (location/offset/length) and the data file itself.
const extRoot = join(dir!, 'ext');
mkdirSync(extRoot, { recursive: true });
for (let i = 0; i < Number(nExt); i++) {
  say(`case ${Number(nProto) + i}`);
  const caseDir = join(extRoot, String(i));
  mkdirSync(caseDir);
  const m = models[i % 3]!; // the reference nets have tensors worth externalising
  const saved = saveModel(m, join(caseDir, 'm.onnx'), { externalData: 'always', externalThreshold: 64 });
  let text: Uint8Array = readFileSync(saved.path);
  const what = ri(0, 4);
  if (what <= 1) {
    // Rewrite one external_data record (offset, length or location) of one tensor.
    const obj = modelType().toObject(modelType().decode(text), { longs: String, defaults: false }) as {
      graph: { initializer: { external_data?: { key: string; value: string }[] }[] };
    };
    const ext = obj.graph.initializer.filter((t) => t.external_data?.length);
    const t = ext[ri(0, ext.length)]!;
    const key = what === 0 ? (ri(0, 2) ? 'offset' : 'length') : 'location';
    const value = key === 'location' ? BAD_LOCATIONS[ri(0, BAD_LOCATIONS.length)]! : GARBAGE[ri(0, GARBAGE.length)]!;
    const entry = t.external_data!.find((e) => e.key === key);
    if (entry) entry.value = value;
    else t.external_data!.push({ key, value });
    text = modelType().encode(modelType().fromObject(obj)).finish();
  } else if (what === 2) {
    writeFileSync(saved.dataPath!, mutate(readFileSync(saved.dataPath!)));
  } else {
    text = mutate(text);
  }
  writeFileSync(join(caseDir, 'm.onnx'), text);
  if (ri(0, 3) === 0) mkdirSync(join(caseDir, 'sub'));
  if (ri(0, 3) === 0) writeFileSync(join(caseDir, 'fifo'), ''); // a regular file named so; real FIFOs are in the unit tests
  const out = join(caseDir, 'out', 'o.onnx');
  mkdirSync(join(caseDir, 'out'));
  try {
    const read = readModel(join(caseDir, 'm.onnx'));
    verifyModel(read);
    saveModel(read, out);
    readModel(out);
    ok++;
  } catch (e) {
    failed++;
    report('external', i, e);
    const left = readdirSync(join(caseDir, 'out'));
    if (left.length > 0) say(JSON.stringify({ finding: 'output written on failure', case: i, files: left }));
  }
  if (!existsSync(join(caseDir, 'm.onnx'))) say(JSON.stringify({ finding: 'input removed', case: i }));
}
say(JSON.stringify({ done: true, ok, failed }));
