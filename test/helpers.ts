/** Shared test helpers: temp folders, running the CLI, seeded inputs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DataType, Rng, inferShapes } from '../src/index.js';
import type { HostTensor, InferShapesOptions, Model, ShapeInferenceResult } from '../src/index.js';

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
export const CLI = join(ROOT, 'dist/src/cli/main.js');

/** A fresh temp folder, removed when the process exits. */
export function tempDir(prefix = 'sculpt-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  return d;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, encoding: 'utf8', env: { ...process.env, ...opts.env }, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Seeded inputs for every graph input: floats uniform in [lo, hi), int64 zeros; symbolic dims → `batch`. */
export function seededFeeds(model: Model, seed = 1, batch = 2, lo = 0, hi = 1): Record<string, HostTensor> {
  const rng = new Rng(seed);
  const feeds: Record<string, HostTensor> = {};
  for (const v of model.graph.inputs) {
    if (v.initializer) continue;
    const dims = (v.shape ?? []).map((d) => (typeof d === 'number' ? d : batch));
    const n = dims.reduce((a, b) => a * b, 1);
    feeds[v.name] = v.elemType === DataType.INT64 ? { data: new BigInt64Array(n), dims } : { data: rng.uniformArray(n, lo, hi), dims };
  }
  return feeds;
}

/**
 * Shape inference with its side table copied into the values' types, for tests that read
 * `value.shape` afterwards (the product never does this: analyses return side tables and
 * only the infer-shapes pass writes types).
 */
export function inferInto(model: Model, opts: InferShapesOptions = {}): ShapeInferenceResult {
  const r = inferShapes(model, opts);
  for (const [v, t] of r.shapes.entries()) v.info.type = t;
  return r;
}

/** `sculpt search` options for a GA small enough for a test: `iterations` per stage ("1,1"), a tiny population, one worker. */
export function smallSearchArgs(iterations: string, calibration = 16): string[] {
  return `--calibration ${calibration} --iterations ${iterations} --population 6 --offspring 6 --parents 3 --survivors 4 --workers 1`.split(' ');
}
