/** The Markdown diff shows the same totals as the JSON diff, and escapes table cells. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel } from '../../models/index.js';
import { diffModels } from '../../src/report/diff.js';
import { renderDiffJson } from '../../src/report/json.js';
import { renderDiffMarkdown } from '../../src/report/markdown.js';
import { pruneModel } from '../../src/index.js';

test('markdown totals equal the JSON totals', () => {
  const a = buildModel('resnet20', { seed: 1 });
  const b = buildModel('resnet20', { seed: 1 });
  pruneModel(b, { ratio: 0.5, criterion: 'l1', roundTo: 1 });
  const d = diffModels(a, b, { labelA: 'a|x.onnx', labelB: 'b.onnx' });
  const json = JSON.parse(renderDiffJson(d)) as { a: Record<string, number>; b: Record<string, number>; counts: Record<string, number> };
  const md = renderDiffMarkdown(d);
  const num = (s: string) => Number(s.replace(/,/g, ''));
  for (const [label, key] of [
    ['params', 'params'],
    ['MACs', 'macs'],
    ['FLOPs', 'flops'],
  ] as const) {
    const m = new RegExp(`^\\| ${label} \\| ([\\d,]+) \\([^)]*\\) \\| ([\\d,]+) `, 'm').exec(md);
    assert.ok(m, `${label} row`);
    assert.equal(num(m[1]!), json.a[key]);
    assert.equal(num(m[2]!), json.b[key]);
  }
  assert.match(md, new RegExp(`${json.counts.changed} changed`));
  assert.match(md, /a\\\|x\.onnx/); // a pipe in a label cannot break the table
  assert.ok(json.a.flops !== undefined && json.b.flops !== undefined && json.b.flops < json.a.flops);
});
