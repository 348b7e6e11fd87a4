/**
 * Golden tests for passes: fixtures/passes/<pass>/<case>/ holds the printed input, the
 * expected printed output and the pass statistics side by side; UPDATE_GOLDEN=1 rewrites
 * them. Each case is also checked numerically in onnxruntime (the pass claims equivalence).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataType, decodeModel, encodeModel, maxAbsDiff, printModel, runModel, runPasses } from '../../src/index.js';
import type { HostTensor, Model } from '../../src/index.js';
import { createPass } from '../../passes/index.js';
import { constantsCases, foldBatchNormCases } from './cases.js';
import { seededFeeds } from '../helpers.js';
import { checkGolden, statsText } from '../golden.js';

const suites: [string, Record<string, () => Model>][] = [
  ['fold-batchnorm', foldBatchNormCases],
  ['constants-to-initializers', constantsCases],
];

function feedsFor(m: Model): Record<string, HostTensor> {
  const feeds = seededFeeds(m, 11, 1, -1, 1);
  for (const v of m.graph.inputs) if (v.elemType === DataType.BOOL) feeds[v.name] = { data: new Uint8Array([1]), dims: [], type: 'bool' };
  return feeds;
}

for (const [passName, cases] of suites) {
  for (const [caseName, build] of Object.entries(cases)) {
    test(`${passName} / ${caseName}: golden IR and numerical equivalence`, async () => {
      const original = build();
      const model = decodeModel(encodeModel(original));
      const inputText = printModel(model);
      const r = runPasses(model, [createPass(passName)!]);
      const outText = printModel(model);
      checkGolden(passName, caseName, { input: inputText, expected: outText, stats: statsText(r) });
      // Training-mode BN cannot run as inference in onnxruntime with one output; compare only runnable cases.
      if (caseName.includes('training')) return;
      const feeds = feedsFor(original);
      const [a, b] = [await runModel(original, feeds), await runModel(model, feeds)];
      for (const k of Object.keys(a)) {
        const { maxAbs, scale } = maxAbsDiff(a[k]!, b[k]!);
        assert.ok(maxAbs <= 1e-5 * Math.max(1, scale), `${k}: max abs diff ${maxAbs} (scale ${scale})`);
      }
    });
  }
}
