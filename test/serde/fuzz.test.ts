/**
 * Fuzzing the reader (issue 15, "must show"): a few thousand seeded mutations (bit flips,
 * truncations, inserted/deleted/duplicated ranges, 11-byte varints) of models the tests
 * build, plus external-data cases (garbage offsets/lengths/locations, damaged data files).
 * Asserted: no uncaught exception, every failure a CompilerError with a code other than
 * INTERNAL, no output written when a case fails, the input never removed, and no case
 * hangs (the worker is killed when one case takes longer than CASE_TIMEOUT_MS).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, tempDir } from '../helpers.js';

const WORKER = join(ROOT, 'dist/test/serde/fuzz-worker.js');
const SEED = Number(process.env.SCULPT_FUZZ_SEED ?? 20261130);
const PROTO_CASES = 3000;
const EXT_CASES = 300;
const CASE_TIMEOUT_MS = 10_000;

test(`fuzz: ${PROTO_CASES} mutated protobufs and ${EXT_CASES} external-data cases (seed ${SEED}) end in named errors or valid models`, async () => {
  const dir = tempDir('sculpt-fuzz-');
  const findings: string[] = [];
  let lastCase = -1;
  let summary: { ok: number; failed: number } | undefined;
  const code = await new Promise<number | null>((resolve) => {
    const c = spawn(process.execPath, [WORKER, dir, String(SEED), String(PROTO_CASES), String(EXT_CASES)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let buf = '';
    let timer = setTimeout(() => {}, 0);
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        findings.push(`case ${lastCase} did not finish within ${CASE_TIMEOUT_MS} ms (a hang)`);
        c.kill('SIGKILL');
      }, CASE_TIMEOUT_MS);
    };
    arm();
    c.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('case ')) {
          lastCase = Number(line.slice(5));
          arm();
          continue;
        }
        const j = JSON.parse(line) as { done?: boolean; ok: number; failed: number };
        if (j.done) summary = j;
        else findings.push(line);
      }
    });
    c.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    c.on('exit', (status) => {
      clearTimeout(timer);
      if (status !== 0 && stderr) findings.push(`worker died at case ${lastCase}: ${stderr.slice(0, 2000)}`);
      resolve(status);
    });
  });
  assert.deepEqual(findings, [], `reproduce with SCULPT_FUZZ_SEED=${SEED}`);
  assert.equal(code, 0);
  assert.ok(summary && summary.ok + summary.failed === PROTO_CASES + EXT_CASES, 'every case ran');
  assert.ok(summary!.ok > 0 && summary!.failed > 0, `both outcomes occur (ok ${summary!.ok}, failed ${summary!.failed})`);
});
