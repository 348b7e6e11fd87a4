/**
 * Golden files for pass tests: fixtures/passes/<pass>/<case>/ holds the printed input, the
 * expected printed output and the pass statistics side by side. A missing golden fails (a
 * test that writes its own expectation proves nothing); UPDATE_GOLDEN=1 writes or rewrites
 * them (review the diff before committing).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunPassesResult } from '../src/index.js';
import { ROOT } from './helpers.js';

export interface GoldenTexts {
  input: string;
  expected: string;
  stats: string;
}

/** The stats file's text for a pass run: changed, statistics and (optionally) remarks. */
export function statsText(r: RunPassesResult, withRemarks = true): string {
  const body: Record<string, unknown> = { changed: r.changed, stats: r.passes[0]!.stats };
  if (withRemarks) body.remarks = r.remarks.map((x) => `${x.where}: ${x.message}`);
  return `${JSON.stringify(body, null, 2)}\n`;
}

/** Compares (or, with UPDATE_GOLDEN=1, writes) the golden files of one case. */
export function checkGolden(pass: string, name: string, got: GoldenTexts, root = join(ROOT, 'fixtures/passes')): void {
  const dir = join(root, pass, name);
  const files: [string, string][] = [
    ['input.txt', got.input],
    ['expected.txt', got.expected],
    ['stats.json', got.stats],
  ];
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dir, { recursive: true });
    for (const [f, text] of files) writeFileSync(join(dir, f), text);
  }
  for (const [f, text] of files) {
    const path = join(dir, f);
    assert.ok(existsSync(path), `golden file ${pass}/${name}/${f} is missing: run with UPDATE_GOLDEN=1 to write it, then review it`);
    assert.equal(text, readFileSync(path, 'utf8'), `${pass}/${name}/${f}`);
  }
}
