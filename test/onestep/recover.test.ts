/**
 * One-step recovery: the loss is (1/N) Σ_l Loss_l over the crucial layers, each mimic
 * function checked against a value computed here by hand (float64, from onnxruntime's
 * teacher and student values); the classifier is frozen while the rest trains.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { decodeModel, encodeModel, globalPrune, insertBeta, buildScores, loadDatasetFor, recoverModel, runModel, selectBackend } from '../../src/index.js';
import type { HostTensor, MimicKind, Model } from '../../src/index.js';
import { lastConvLayer } from '../../src/onestep/score.js';
import { tempDir } from '../helpers.js';
import { tinyCnn, writeQuadrantData } from './fixtures.js';

const dir = tempDir('sculpt-recover-');
let spec = '';
before(async () => {
  spec = writeQuadrantData(dir, 64, 2);
  await selectBackend('cpu');
});

function copy(m: Model): Model {
  return decodeModel(encodeModel(m));
}

/** Teacher (BN folded, so training mode computes what inference does) and a pruned student, with c1 and c4 crucial. */
function pair(): { teacher: Model; student: Model; mimic: string[] } {
  const teacher = tinyCnn(8, false);
  const probe = copy(teacher);
  const { records } = insertBeta(probe);
  const beta = new Map(records.map((r) => [r.beta, Float32Array.from({ length: r.size }, (_, i) => ((i * 7919) % 13) / 13)]));
  const doc = buildScores(teacher, records, beta, { crucial: ['c1'], lastConvLayer: lastConvLayer(teacher, records) });
  const student = copy(teacher);
  globalPrune(student, doc, { ratio: 0.5, roundTo: 1 });
  return { teacher, student, mimic: doc.layers.filter((l) => l.crucial).map((l) => l.mimic) };
}

/** Loss_l by hand, in float64: [N,C,H,W] values, positions (n,h,w) as rows of C channels. */
function byHand(t: HostTensor, s: HostTensor, kind: MimicKind): number {
  const [N, C, H, W] = t.dims as [number, number, number, number];
  const T = t.data as Float32Array;
  const S = s.data as Float32Array;
  if (kind === 'mse' || kind === 'l1') {
    let acc = 0;
    for (let i = 0; i < T.length; i++) acc += kind === 'mse' ? (T[i]! - S[i]!) ** 2 : Math.abs(T[i]! - S[i]!);
    return acc / T.length;
  }
  const softmax = (x: number[]) => {
    const m = Math.max(...x);
    const e = x.map((v) => Math.exp(v - m));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / z);
  };
  const kl = (p: number[], q: number[]) => p.reduce((a, pi, i) => a + (pi > 0 ? pi * Math.log(pi / q[i]!) : 0), 0);
  let acc = 0;
  for (let n = 0; n < N; n++)
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++) {
        const at = (X: Float32Array) => Array.from({ length: C }, (_, c) => X[((n * C + c) * H + h) * W + w]!);
        const p = softmax(at(T));
        const q = softmax(at(S));
        if (kind === 'kl') acc += kl(p, q);
        else {
          const m = p.map((v, i) => (v + q[i]!) / 2);
          acc += 0.5 * kl(p, m) + 0.5 * kl(q, m);
        }
      }
  return acc / (N * H * W);
}

for (const kind of ['mse', 'l1', 'kl', 'js'] as MimicKind[]) {
  test(`recovery loss with ${kind}: (1/N) Σ over the crucial layers of the hand-computed ${kind}`, async () => {
    const { teacher, student, mimic } = pair();
    assert.equal(mimic.length, 2);
    const data = loadDatasetFor(teacher, spec, { split: 'train' });
    // One batch of every sample: the first step's loss is computed before any update.
    const all = [...data.batches(data.size, { shuffle: false })][0]!;
    const feeds = { input: { data: all.x, dims: [all.n, 1, 8, 8] } };
    const [tv, sv] = [await runModel(teacher, feeds, mimic), await runModel(student, feeds, mimic)];
    const want = mimic.reduce((a, v) => a + byHand(tv[v]!, sv[v]!, kind), 0) / mimic.length;
    const r = await recoverModel(copy(student), { data, teacher, mimic, mimicLoss: kind, steps: 1, batchSize: data.size, lr: 1e-9, backend: 'cpu' });
    data.close();
    assert.ok(Math.abs(r.finalLoss - want) <= 1e-4 * Math.max(1e-3, Math.abs(want)), `${kind}: trainer ${r.finalLoss}, by hand ${want}`);
  });
}

test('recovery trains the pruned layers and keeps the classifier frozen', async () => {
  const { teacher, student, mimic } = pair();
  const data = loadDatasetFor(teacher, spec, { split: 'train' });
  const w0 = new Map(student.graph.initializers.map((v) => [v.name, v.initializer!.toFloat32().slice()]));
  await recoverModel(student, { data, teacher, mimic, steps: 3, batchSize: 16, backend: 'cpu' });
  data.close();
  const w1 = new Map(student.graph.initializers.map((v) => [v.name, v.initializer!.toFloat32().slice()]));
  assert.deepEqual(w1.get('fc.weight'), w0.get('fc.weight'), 'classifier weight frozen');
  assert.deepEqual(w1.get('fc.bias'), w0.get('fc.bias'), 'classifier bias frozen');
  assert.notDeepEqual(w1.get('c2.weight'), w0.get('c2.weight'), 'a pruned layer trained');
});
