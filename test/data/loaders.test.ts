/**
 * Data loaders on small real data (digits, slices of MNIST and Fashion-MNIST) and on files
 * written here (IDX raw and gzipped, .npy of each element type, PNG/JPEG class folders):
 * values, labels, splits, limits, reshape/resize, normalisation, augmentation, seeded
 * shuffling, the on-disk streaming path, and the named errors for bad data.
 *
 * Needs Debian `python3-sklearn` (digits) and `dataset-fashion-mnist`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { CompilerError, encodeNpy, loadDataset, loadDatasetFor, GraphBuilder } from '../../src/index.js';
import type { Batch, Dataset } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { tempDir } from '../helpers.js';
import { needData } from '../data-available.js';

const require = createRequire(import.meta.url);
const { PNG } = require('pngjs') as { PNG: { new (o: { width: number; height: number }): { data: Buffer }; sync: { write(p: unknown): Buffer } } };

function all(ds: Dataset, batch = 1000, opts = {}): Batch {
  const xs: Float32Array[] = [];
  const ys: Int32Array[] = [];
  for (const b of ds.batches(batch, opts)) {
    xs.push(b.x);
    ys.push(b.y);
  }
  const x = new Float32Array(xs.reduce((a, b) => a + b.length, 0));
  const y = new Int32Array(ys.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const a of xs) {
    x.set(a, o);
    o += a.length;
  }
  o = 0;
  for (const a of ys) {
    y.set(a, o);
    o += a.length;
  }
  return { x, y, n: y.length };
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof CompilerError, `expected CompilerError, got ${String(e)}`);
    return e.code;
  }
  assert.fail('expected an error');
}

/** IDX bytes: magic, big-endian dims, then data (uint8). */
function idx(dims: number[], data: Uint8Array, type = 0x08): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, type, dims.length]);
  const dv = new DataView(out.buffer);
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

const DIGITS_CSV = '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz';

test('digits: 1797 samples of 8x8 split 80/20 by a fixed permutation, pixels = csv/16', { skip: needData('digits') }, () => {
  const tr = loadDataset('digits', { split: 'train' });
  const te = loadDataset('digits', { split: 'test' });
  const every = loadDataset('digits', { split: 'all' });
  assert.equal(every.size, 1797);
  assert.equal(te.size, Math.round(1797 * 0.2));
  assert.equal(tr.size + te.size, 1797);
  assert.deepEqual(tr.inputShape, [1, 8, 8]);
  assert.equal(tr.numClasses, 10);
  // train and test are disjoint and together cover every row
  const seen = new Set([...tr.indices, ...te.indices]);
  assert.equal(seen.size, 1797);
  // the split does not move with the user's seed
  assert.deepEqual([...loadDataset('digits', { split: 'test', seed: 99 }).indices], [...te.indices]);
  // values: row 0 of the csv is a 0 whose first pixels are 0,0,5,13,9,1
  const rows = gunzipSync(readFileSync(DIGITS_CSV)).toString().trim().split('\n');
  const a = all(every);
  assert.deepEqual([...a.x.subarray(0, 6)], [0, 0, 5 / 16, 13 / 16, 9 / 16, 1 / 16].map(Math.fround));
  const r1500 = rows[1500]!.split(',').map(Number);
  assert.equal(a.y[1500], r1500[64]);
  for (let k = 0; k < 64; k++) assert.equal(a.x[1500 * 64 + k], Math.fround(r1500[k]! / 16));
});

test('mnist slice: first test labels, value range, limit and seeded limit', () => {
  const ds = loadDataset('mnist', { split: 'test', limit: 8 });
  assert.equal(ds.size, 8);
  assert.deepEqual(ds.inputShape, [1, 28, 28]);
  const a = all(ds);
  // the first eight MNIST test labels
  assert.deepEqual([...a.y], [7, 2, 1, 0, 4, 1, 4, 9]);
  let max = 0;
  let min = 1;
  for (const v of a.x) {
    max = Math.max(max, v);
    min = Math.min(min, v);
  }
  assert.equal(max, 1);
  assert.equal(min, 0);
  const tr = loadDataset('mnist', { split: 'train', limit: 3 });
  assert.deepEqual([...all(tr).y], [5, 0, 4]);
  // a seeded limit picks a seed-dependent subset, kept in file order
  const s1 = loadDataset('mnist', { split: 'train', limit: 100, seed: 1 }).indices;
  const s2 = loadDataset('mnist', { split: 'train', limit: 100, seed: 1 }).indices;
  const s3 = loadDataset('mnist', { split: 'train', limit: 100, seed: 2 }).indices;
  assert.deepEqual([...s1], [...s2]);
  assert.notDeepEqual([...s1], [...s3]);
  assert.ok([...s1].every((v, i) => i === 0 || v > s1[i - 1]!));
  // [N,784] for the MLP is a reshape of the same pixels
  const flat = all(loadDataset('mnist', { split: 'test', limit: 8, shape: [784] }));
  assert.deepEqual([...flat.x], [...a.x]);
});

test('fashion-mnist (gzipped IDX from Debian): sizes, first labels, mean pixel', { skip: needData('fashion-mnist') }, () => {
  const te = loadDataset('fashion-mnist', { split: 'test' });
  assert.equal(te.size, 10000);
  assert.equal(te.numClasses, 10);
  const tr = loadDataset('fashion-mnist', { split: 'train', limit: 5 });
  assert.equal(loadDataset('fashion-mnist', { split: 'train' }).size, 60000);
  // Fashion-MNIST train starts: ankle boot (9), t-shirt (0), t-shirt (0), dress (3), t-shirt (0)
  assert.deepEqual([...all(tr).y], [9, 0, 0, 3, 0]);
  let s = 0;
  const a = all(te, 2500);
  for (const v of a.x) s += v;
  // the well-known test-set mean of Fashion-MNIST pixels is 0.2868
  assert.ok(Math.abs(s / a.x.length - 0.2868) < 5e-4, `mean ${s / a.x.length}`);
});

test('batches: seeded shuffle is a permutation, repeatable, dropLast; normalisation is (x-mean)/std', { skip: needData('digits') }, () => {
  const ds = loadDataset('digits', { split: 'test' });
  const ref = all(ds);
  const o1 = all(ds, 64, { shuffle: true, seed: 3 });
  const o2 = all(ds, 64, { shuffle: true, seed: 3 });
  const o3 = all(ds, 64, { shuffle: true, seed: 4 });
  assert.deepEqual([...o1.y], [...o2.y]);
  assert.notDeepEqual([...o1.y], [...o3.y]);
  assert.deepEqual([...o1.y].sort(), [...ref.y].sort());
  const sizes = [...ds.batches(100, { dropLast: true })].map((b) => b.n);
  assert.deepEqual(sizes, [100, 100, 100]);
  assert.deepEqual(
    [...ds.batches(100)].map((b) => b.n),
    [100, 100, 100, 59],
  );
  const nd = loadDataset('digits', { split: 'test', mean: [0.25], std: [0.5] });
  const n = all(nd);
  for (let i = 0; i < 200; i++) assert.ok(Math.abs(n.x[i]! - (ref.x[i]! - 0.25) / 0.5) < 1e-6);
  assert.equal(
    code(() => loadDataset('digits', { mean: [0.1, 0.2] })),
    'INVALID_OPTION',
  );
});

test('idx: raw and gzip give the same samples; HWC colour is transposed to CHW; the streaming path reads the same', () => {
  const dir = tempDir();
  const n = 5;
  const img = new Uint8Array(n * 3 * 5 * 2);
  for (let i = 0; i < img.length; i++) img[i] = (i * 37) % 256;
  const lab = Uint8Array.from([0, 1, 2, 1, 0]);
  writeFileSync(join(dir, 'x.idx'), idx([n, 5, 2, 3], img));
  writeFileSync(join(dir, 'x.idx.gz'), gzipSync(idx([n, 5, 2, 3], img)));
  writeFileSync(join(dir, 'y.idx'), idx([n], lab));
  const raw = loadDataset(`idx:${join(dir, 'x.idx')},${join(dir, 'y.idx')}`, { split: 'all' });
  const gz = loadDataset(`idx:${join(dir, 'x.idx.gz')},${join(dir, 'y.idx')}`, { split: 'all' });
  const disk = loadDataset(`idx:${join(dir, 'x.idx')},${join(dir, 'y.idx')}`, { split: 'all', maxInMemoryBytes: 16 });
  assert.deepEqual(raw.inputShape, [3, 5, 2]);
  assert.equal(raw.numClasses, 3);
  const a = all(raw);
  assert.deepEqual([...all(gz).x], [...a.x]);
  assert.deepEqual([...all(disk, 2, { shuffle: true, seed: 1 }).x].sort(), [...a.x].sort());
  // sample 2, channel c, row y, col x  ==  file byte at 2*30 + (y*2 + x)*3 + c
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < 5; y++)
      for (let x = 0; x < 2; x++) {
        assert.equal(a.x[2 * 30 + c * 10 + y * 2 + x], Math.fround(img[2 * 30 + (y * 2 + x) * 3 + c]! / 255));
      }
  assert.deepEqual([...a.y], [0, 1, 2, 1, 0]);
  // four files: explicit train and test
  const four = `idx:${join(dir, 'x.idx')},${join(dir, 'y.idx')},${join(dir, 'x.idx.gz')},${join(dir, 'y.idx')}`;
  assert.equal(loadDataset(four, { split: 'train' }).size, 5);
  assert.equal(loadDataset(four, { split: 'all' }).size, 10);
});

test('npy: float32, float64, uint8 and int64 arrays load with the right values', () => {
  const dir = tempDir();
  const n = 4;
  const f32 = Float32Array.from({ length: n * 6 }, (_, i) => i / 24);
  const u8 = Uint8Array.from({ length: n * 6 }, (_, i) => i * 10);
  writeFileSync(join(dir, 'xf.npy'), encodeNpy([n, 6], f32));
  writeFileSync(join(dir, 'xd.npy'), encodeNpy([n, 2, 3], Float64Array.from(f32)));
  writeFileSync(join(dir, 'xu.npy'), encodeNpy([n, 1, 2, 3], u8));
  writeFileSync(join(dir, 'y.npy'), encodeNpy([n], BigInt64Array.from([3n, 0n, 1n, 2n])));
  writeFileSync(join(dir, 'xi.npy'), encodeNpy([n, 6], BigInt64Array.from([...u8].map(BigInt))));
  const y = join(dir, 'y.npy');
  const f = all(loadDataset(`npy:${join(dir, 'xf.npy')},${y}`, { split: 'all' }));
  assert.deepEqual([...f.x], [...f32]);
  assert.deepEqual([...f.y], [3, 0, 1, 2]);
  const d = loadDataset(`npy:${join(dir, 'xd.npy')},${y}`, { split: 'all' });
  assert.deepEqual(d.inputShape, [1, 2, 3]);
  assert.deepEqual([...all(d).x], [...f32]);
  const u = loadDataset(`npy:${join(dir, 'xu.npy')},${y}`, { split: 'all' });
  assert.deepEqual(u.inputShape, [1, 2, 3]);
  assert.deepEqual(
    [...all(u).x],
    [...u8].map((v) => Math.fround(v / 255)),
  );
  assert.deepEqual(
    [...all(loadDataset(`npy:${join(dir, 'xi.npy')},${y}`, { split: 'all' })).x],
    [...u8].map((v) => Math.fround(v / 255)),
  );
  assert.equal(
    code(() => loadDataset(`npy:${join(dir, 'xf.npy')},${join(dir, 'xf.npy')}`)),
    'DATA_CORRUPT',
  );
});

test('folder: PNG and JPEG class folders, resized to the model input; explicit train/test sub-folders', () => {
  const dir = tempDir();
  const mk = (cls: string, name: string, w: number, h: number, v: number, kind: 'png' | 'jpg') => {
    mkdirSync(join(dir, cls), { recursive: true });
    const rgba = Buffer.alloc(w * h * 4);
    for (let i = 0; i < w * h; i++) rgba.set([v, v, v, 255], 4 * i);
    if (kind === 'png') {
      const p = new PNG({ width: w, height: h });
      rgba.copy(p.data);
      writeFileSync(join(dir, cls, `${name}.png`), PNG.sync.write(p));
    } else {
      writeFileSync(join(dir, cls, `${name}.jpg`), jpeg.encode({ width: w, height: h, data: rgba }, 95).data);
    }
  };
  for (let i = 0; i < 5; i++) {
    mk('cat', `c${i}`, 16, 12, 200, 'png');
    mk('dog', `d${i}`, 10, 10, 40, 'jpg');
  }
  writeFileSync(join(dir, 'dog', 'notes.txt'), 'not an image');
  const ds = loadDataset(`folder:${dir}`, { split: 'all', shape: [1, 8, 8] });
  assert.equal(ds.size, 10);
  assert.deepEqual(ds.classNames, ['cat', 'dog']);
  const a = all(ds);
  for (let i = 0; i < 10; i++) {
    const want = a.y[i] === 0 ? 200 / 255 : 40 / 255;
    const tol = a.y[i] === 0 ? 1e-6 : 3 / 255; // JPEG is lossy
    for (let k = 0; k < 64; k++) assert.ok(Math.abs(a.x[i * 64 + k]! - want) <= tol + 1 / 255);
  }
  // three channels on request (gray replicated) and a flat [N,192] input
  assert.deepEqual(loadDataset(`folder:${dir}`, { split: 'all', shape: [3, 8, 8] }).inputShape, [3, 8, 8]);
  assert.deepEqual(loadDataset(`folder:${dir}`, { split: 'all', shape: [64] }).inputShape, [64]);
  // explicit split
  const sp = tempDir();
  for (const s of ['train', 'test'])
    for (const c of ['a', 'b']) {
      mkdirSync(join(sp, s, c), { recursive: true });
      const p = new PNG({ width: 4, height: 4 });
      p.data.fill(255);
      writeFileSync(join(sp, s, c, 'x.png'), PNG.sync.write(p));
    }
  assert.equal(loadDataset(`folder:${sp}`, { split: 'test' }).size, 2);
  // a damaged image is a named error when it is read
  writeFileSync(join(dir, 'cat', 'bad.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5, 6]));
  const bad = loadDataset(`folder:${dir}`, { split: 'all', shape: [1, 8, 8] });
  assert.equal(
    code(() => all(bad)),
    'DATA_CORRUPT',
  );
});

test('augmentation: flip mirrors exactly, crop shifts with zero fill, nothing is stored; eval batches are clean', () => {
  const dir = tempDir();
  const n = 64;
  const img = new Uint8Array(n * 4 * 4);
  for (let i = 0; i < n; i++) for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) img[i * 16 + y * 4 + x] = 10 * x + y + i;
  writeFileSync(join(dir, 'x.idx'), idx([n, 4, 4], img));
  writeFileSync(join(dir, 'y.idx'), idx([n], new Uint8Array(n)));
  const spec = `idx:${join(dir, 'x.idx')},${join(dir, 'y.idx')}`;
  const clean = all(loadDataset(spec, { split: 'all' }));
  const flip = loadDataset(spec, { split: 'all', augment: { flip: true } });
  const f = all(flip, 16, { seed: 5 });
  let mirrored = 0;
  for (let i = 0; i < n; i++) {
    const same = [...Array(16).keys()].every((k) => f.x[i * 16 + k] === clean.x[i * 16 + k]);
    const mir = [...Array(16).keys()].every((k) => f.x[i * 16 + k] === clean.x[i * 16 + Math.floor(k / 4) * 4 + (3 - (k % 4))]);
    assert.ok(same || mir, `sample ${i} is the original or its mirror`);
    if (mir) mirrored++;
  }
  assert.ok(mirrored > 16 && mirrored < 48, `about half mirrored, got ${mirrored}`);
  assert.deepEqual([...all(flip, 16, { seed: 5 }).x], [...f.x]);
  assert.deepEqual([...all(flip, 16, { seed: 5, augment: false }).x], [...clean.x]);
  const crop = all(loadDataset(spec, { split: 'all', augment: { crop: 1 } }), 64, { seed: 2 });
  for (let i = 0; i < n; i++) {
    // every output pixel is either 0 (filled) or the source pixel shifted by at most one
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 4; x++) {
        const v = crop.x[i * 16 + y * 4 + x]!;
        const ok =
          v === 0 ||
          [-1, 0, 1].some((dy) =>
            [-1, 0, 1].some((dx) => {
              const sy = y + dy;
              const sx = x + dx;
              return sy >= 0 && sy < 4 && sx >= 0 && sx < 4 && clean.x[i * 16 + sy * 4 + sx] === v;
            }),
          );
        assert.ok(ok);
      }
  }
  // vectors have no left and right
  writeFileSync(join(dir, 'v.npy'), encodeNpy([n, 16], new Float32Array(n * 16)));
  writeFileSync(join(dir, 'vy.npy'), encodeNpy([n], new Int32Array(n)));
  assert.equal(
    code(() => loadDataset(`npy:${join(dir, 'v.npy')},${join(dir, 'vy.npy')}`, { augment: { flip: true } })),
    'INVALID_OPTION',
  );
});

test('named errors: corrupt files, label/image count mismatch, shape mismatch, bad spec, missing file', { skip: needData('digits') }, () => {
  const dir = tempDir();
  const img = idx([3, 2, 2], new Uint8Array(12));
  writeFileSync(join(dir, 'x.idx'), img);
  writeFileSync(join(dir, 'y3.idx'), idx([3], Uint8Array.from([0, 1, 2])));
  writeFileSync(join(dir, 'y4.idx'), idx([4], Uint8Array.from([0, 1, 2, 3])));
  writeFileSync(join(dir, 'trunc.idx'), img.subarray(0, img.length - 3));
  writeFileSync(join(dir, 'magic.idx'), Buffer.from('hello world, not idx'));
  writeFileSync(join(dir, 'bad.gz'), Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from('garbage garbage')]));
  writeFileSync(join(dir, 'neg.npy'), encodeNpy([3], BigInt64Array.from([0n, -1n, 2n])));
  writeFileSync(join(dir, 'x.npy'), encodeNpy([3, 4], new Float32Array(12)));
  writeFileSync(join(dir, 'xt.npy'), encodeNpy([3, 4], new Float32Array(12)).subarray(0, 100));
  const p = (f: string) => join(dir, f);
  assert.equal(
    code(() => loadDataset(`idx:${p('trunc.idx')},${p('y3.idx')}`)),
    'DATA_CORRUPT',
  );
  assert.equal(
    code(() => loadDataset(`idx:${p('magic.idx')},${p('y3.idx')}`)),
    'DATA_CORRUPT',
  );
  assert.equal(
    code(() => loadDataset(`idx:${p('bad.gz')},${p('y3.idx')}`)),
    'DATA_CORRUPT',
  );
  assert.equal(
    code(() => loadDataset(`idx:${p('x.idx')},${p('y4.idx')}`)),
    'DATA_LABEL_MISMATCH',
  );
  assert.equal(
    code(() => loadDataset(`idx:${p('y3.idx')},${p('x.idx')}`)),
    'DATA_CORRUPT',
  );
  assert.equal(
    code(() => loadDataset(`npy:${p('x.npy')},${p('neg.npy')}`)),
    'DATA_CORRUPT',
  );
  assert.equal(
    code(() => loadDataset(`npy:${p('xt.npy')},${p('neg.npy')}`)),
    'DATA_CORRUPT',
  );
  assert.equal(
    code(() => loadDataset(`idx:${p('nope.idx')},${p('y3.idx')}`)),
    'FILE_NOT_FOUND',
  );
  assert.equal(
    code(() => loadDataset('cifar10')),
    'DATA_SPEC_INVALID',
  );
  assert.equal(
    code(() => loadDataset(`idx:${p('x.idx')},${p('y3.idx')},${p('x.idx')}`)),
    'DATA_SPEC_INVALID',
  ); // 3 files: neither pair nor single
  assert.equal(loadDataset(`idx:${p('x.idx')}`).labeled, false); // one file: unlabeled (test/data/unlabeled.test.ts)
  // a model whose input does not fit: MNIST into a 3x32x32 LeNet, without and with --resize
  const lenet32 = buildModel('lenet5', { size: 32, channels: 3 });
  assert.equal(
    code(() => loadDatasetFor(lenet32, 'mnist', { split: 'test', limit: 4 })),
    'DATA_SHAPE_MISMATCH',
  );
  assert.deepEqual(loadDatasetFor(lenet32, 'mnist', { split: 'test', limit: 4, resize: true }).inputShape, [3, 32, 32]);
  assert.equal(
    code(() => loadDatasetFor(buildModel('mlp'), 'digits')),
    'DATA_SHAPE_MISMATCH',
  );
  assert.deepEqual(loadDatasetFor(buildModel('mlp'), 'digits', { resize: true }).inputShape, [784]);
  // more classes in the data than the model scores
  const b = GraphBuilder.newModel();
  const x = b.input('x', ['N', 4]);
  b.output(b.op('Gemm', [x, b.floats('w', [4, 2], new Float32Array(8))]), 'y');
  b.model.graph.outputs[0]!.setTensorType(1, ['N', 2]);
  writeFileSync(join(dir, 'y5.npy'), encodeNpy([3], BigInt64Array.from([0n, 4n, 2n])));
  assert.equal(
    code(() => loadDatasetFor(b.model, `npy:${p('x.npy')},${p('y5.npy')}`, { split: 'all' })),
    'DATA_SHAPE_MISMATCH',
  );
});

test('channels-last models ([H,W,C], Keras/tf2onnx exports): samples come channels-last, from HWC or CHW files, normalised per channel', () => {
  const dir = tempDir('sculpt-hwc-');
  const n = 2,
    h = 5,
    w = 6,
    c = 3;
  const hwcData = Float32Array.from({ length: n * h * w * c }, (_, i) => i);
  writeFileSync(join(dir, 'hwc.npy'), encodeNpy([n, h, w, c], hwcData));
  // The same images channels-first.
  const chwData = new Float32Array(hwcData.length);
  for (let s = 0; s < n; s++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) chwData[s * h * w * c + k * h * w + y * w + x] = hwcData[s * h * w * c + (y * w + x) * c + k]!;
  writeFileSync(join(dir, 'chw.npy'), encodeNpy([n, c, h, w], chwData));
  writeFileSync(join(dir, 'y.npy'), encodeNpy([n], BigInt64Array.from([0n, 1n])));
  for (const f of ['hwc', 'chw']) {
    const ds = loadDataset(`npy:${join(dir, `${f}.npy`)},${join(dir, 'y.npy')}`, { shape: [h, w, c], split: 'train', holdout: 0 });
    assert.deepEqual(ds.inputShape, [h, w, c], f);
    assert.deepEqual(Array.from(all(ds).x), Array.from(hwcData), `${f}: the channels-last samples, element for element`);
    // Per-channel mean/std act on the channel axis, which is now the last.
    const norm = loadDataset(`npy:${join(dir, `${f}.npy`)},${join(dir, 'y.npy')}`, {
      shape: [h, w, c],
      split: 'train',
      holdout: 0,
      mean: [0, 100, 200],
      std: [1, 2, 4],
    });
    const x = all(norm).x;
    for (const i of [0, 1, 2, 31, 89, 179]) assert.equal(x[i], (hwcData[i]! - [0, 100, 200][i % c]!) / [1, 2, 4][i % c]!, `${f} element ${i}`);
  }
  // A channels-first model reads the same files as CHW, as before.
  const first = loadDataset(`npy:${join(dir, 'hwc.npy')},${join(dir, 'y.npy')}`, { shape: [c, h, w], split: 'train', holdout: 0 });
  assert.deepEqual(Array.from(all(first).x), Array.from(chwData));
});
