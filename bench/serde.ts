/**
 * Load/save speed of the ONNX reader and writer against Python onnx (onnx.load/onnx.save,
 * measured in the same run on the same files) and a plain file copy (read + write of the
 * same bytes). Targets (issue 2): faster than Python onnx, within 2× of the copy.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { GraphBuilder, readModel, saveModel } from '../src/index.js';
import { table, median } from './util.js';

/** A model with `mb` megabytes of float weights in 64 MB matrices (MatMul chain). */
function bigModel(mb: number) {
  const b = GraphBuilder.newModel();
  const n = 4096;
  let x = b.input('x', [1, n]);
  const per = n * n * 4;
  const count = Math.ceil((mb * 2 ** 20) / per);
  for (let i = 0; i < count; i++) {
    const w = new Float32Array(n * n);
    for (let k = 0; k < w.length; k += 1024) w[k] = ((k * 2654435761) % 1000) / 1e6;
    x = b.op('MatMul', [x, b.floats(`w${i}`, [n, n], w)]);
  }
  b.output(x, 'y');
  return b.model;
}

function timeIt(f: () => void, reps: number): number {
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    t.push((performance.now() - t0) / 1000);
  }
  return median(t);
}

const PY = `
import sys, time, onnx
path, out, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
lt, st = [], []
for _ in range(reps):
    t0 = time.perf_counter(); m = onnx.load(path); lt.append(time.perf_counter() - t0)
    t0 = time.perf_counter(); onnx.save(m, out); st.append(time.perf_counter() - t0)
    del m
lt.sort(); st.sort()
print(lt[len(lt)//2], st[len(st)//2])
`;

function pythonOnnx(path: string, out: string, reps: number): { load: number; save: number; version: string } | { skipped: string } {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const v = spawnSync(py, ['-c', 'import onnx; print(onnx.__version__)'], { encoding: 'utf8' });
    if (v.status !== 0) continue;
    const r = spawnSync(py, ['-c', PY, path, out, String(reps)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) return { skipped: `python onnx failed: ${r.stderr.split('\n').slice(-3).join(' ')}` };
    const [load, save] = r.stdout.trim().split(/\s+/).map(Number);
    return { load: load!, save: save!, version: `${py} onnx ${v.stdout.trim()}` };
  }
  return { skipped: 'python onnx not installed (apt-get install python3-onnx)' };
}

export async function benchSerde(opts: { bigMb?: number; reps?: number } = {}): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), 'sculpt-bench-'));
  const reps = opts.reps ?? 5;
  const results: object[] = [];
  try {
    const cases: [string, () => ReturnType<typeof bigModel>][] = [[`${opts.bigMb ?? 512} MB MatMul chain`, () => bigModel(opts.bigMb ?? 512)]];
    try {
      const { buildModel } = await import('../models/index.js');
      cases.push(['ResNet-50 (224, 25.6 M params)', () => buildModel('resnet50', { seed: 1 })]);
    } catch {
      /* models not built */
    }
    const rows: string[][] = [];
    for (const [name, make] of cases) {
      const src = join(dir, 'src.onnx');
      saveModel(make(), src, { externalData: 'never' });
      const mb = statSync(src).size / 2 ** 20;
      const out = join(dir, 'out.onnx');
      // Interleave the contenders rep by rep so page-cache and writeback state is shared fairly.
      const model = readModel(src);
      const [l, s, c, pl, ps]: [number[], number[], number[], number[], number[]] = [[], [], [], [], []];
      let py: ReturnType<typeof pythonOnnx> = { skipped: 'not run' };
      for (let i = 0; i < reps; i++) {
        l.push(
          timeIt(() => {
            readModel(src);
          }, 1),
        );
        // Each contender writes a new file: freeing a previous 512 MB file inside the timed
        // region costs ~0.25 s on these disks and would fall on whoever overwrites.
        for (const f of [out, join(dir, 'copy.bin'), join(dir, 'py.onnx')]) rmSync(f, { force: true });
        s.push(
          timeIt(() => {
            saveModel(model, out, { externalData: 'never' });
          }, 1),
        );
        c.push(
          timeIt(() => {
            writeFileSync(join(dir, 'copy.bin'), readFileSync(src));
          }, 1),
        );
        py = pythonOnnx(src, join(dir, 'py.onnx'), 1);
        if ('load' in py) {
          pl.push(py.load);
          ps.push(py.save);
        }
      }
      const [load, save, copy] = [median(l), median(s), median(c)];
      if ('load' in py) py = { ...py, load: median(pl), save: median(ps) };
      const r = { model: name, mb: +mb.toFixed(1), loadS: load, saveS: save, copyS: copy, python: py };
      results.push(r);
      const f = (s: number) => `${s.toFixed(3)} s (${(mb / s).toFixed(0)} MB/s)`;
      rows.push([
        name,
        mb.toFixed(0),
        f(load),
        f(save),
        f(copy),
        'load' in py ? f(py.load) : '-',
        'save' in py ? f(py.save) : '-',
        'load' in py ? `${(py.load / load).toFixed(1)}× / ${(py.save / save).toFixed(1)}×` : py.skipped,
        `${(load / copy).toFixed(2)} / ${(save / copy).toFixed(2)}`,
      ]);
    }
    console.log(
      table(
        ['model', 'MB', 'sculpt load', 'sculpt save', 'file copy', 'onnx.load', 'onnx.save', 'speed-up vs python (load/save)', 'load/copy, save/copy'],
        rows,
      ),
    );
    const py = results.map((r) => (r as { python: { version?: string } }).python.version).find(Boolean);
    if (py) console.log(`peer: ${py}; median of ${reps} runs each; file copy = read + write of the same bytes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { serde: results };
}
