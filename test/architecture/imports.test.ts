/** The import boundary: no module imports a layer above its own (docs/architecture.md). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT } from '../helpers.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { edgesOf, importsOf, productFiles, violations } from './layers.js';

test('no product module imports a layer above its own (or an unlisted module)', () => {
  const edges = edgesOf(ROOT);
  assert.ok(edges.length > 200, `${edges.length} imports found`);
  const bad = violations(edges);
  assert.deepEqual(
    bad.map((v) => `${v.from}:${v.line} -> ${v.to}: ${v.why}`),
    [],
  );
});

test('the checker catches an upward import, a sideways one, a dynamic one and a type-only one', () => {
  const edges = [
    ...importsOf('src/ir/core.ts', "import { inferShapes } from '../analysis/shapes.js';\n"),
    ...importsOf('src/prune/plan.ts', "import type { TissuePlan } from '../tissue/plan.js';\n"),
    ...importsOf('src/serde/read.ts', "const m = await import('../cli/main.js');\n"),
    ...importsOf('src/analysis/cost.ts', "export { x } from '../prune/index.js';\n"),
    ...importsOf('passes/x.ts', "import { Value } from '../src/ir/core.js';\n"),
    ...importsOf('src/train/loop.ts', "import { runSession } from '../runtime/session.js';\n"),
  ];
  assert.equal(edges.length, 6);
  const bad = violations(edges);
  assert.deepEqual(
    bad.map((v) => v.from),
    ['src/ir/core.ts', 'src/prune/plan.ts', 'src/serde/read.ts', 'src/analysis/cost.ts'],
  );
});

test('only src/runtime/ imports onnxruntime-node', () => {
  const users = productFiles(ROOT).filter((f) => /from 'onnxruntime-node'|import\('onnxruntime-node'\)/.test(readFileSync(join(ROOT, f), 'utf8')));
  assert.deepEqual(
    users.filter((f) => !f.startsWith('src/runtime/')),
    [],
  );
  assert.ok(users.length > 0);
});
