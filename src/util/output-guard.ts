/**
 * The output guard: one check, run by every command before it reads anything big or
 * writes anything, that no file it is about to write
 *   - is empty, a directory, or not a regular file (a device, a FIFO, a socket),
 *   - is in a folder that does not exist,
 *   - is an input of the run: a model, a model's external data, a teacher, a baseline, a
 *     mask, a scores file, a data file or data folder (compared by real path, so links and
 *     `./x` vs `x` do not fool it),
 *   - is the same file as another output of the run, or one of the files a model output
 *     owns (`<out>.lock`, `<out>.<hash>.data`, `<out>.data`).
 *
 * Usage (CLI layer, before reading inputs):
 *   guardOutputs({
 *     inputs: [{ path: a.model, kind: 'model' }, { path: a.mask }, ...dataSpecInputs(a.data)],
 *     outputs: [{ path: a.output, what: '-o', kind: 'model' }, { path: a.report, what: '--report' }],
 *     overwrite: a.overwrite,
 *   });
 */
import { fileKind } from './file-kind.js';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { basename, dirname, join, relative, resolve, isAbsolute, sep } from 'node:path';
import { CompilerError } from '../errors.js';

export interface GuardInput {
  /** The file or folder the run reads (undefined entries are skipped). */
  path: string | undefined;
  /** How the user named it, for messages: "--teacher", "the model". */
  what?: string;
  /** 'model': its external data files are inputs too; 'dir': nothing under it is written. */
  kind?: 'file' | 'model' | 'dir';
}

export interface GuardOutput {
  path: string | undefined;
  /** The flag that named it: "-o", "--report", "--checkpoint". */
  what?: string;
  /** 'model': it also owns `<path>.lock` and its data files. */
  kind?: 'file' | 'model';
}

export interface GuardSpec {
  inputs: readonly GuardInput[];
  outputs: readonly GuardOutput[];
  /** Lets a model output replace the input model it was read from (never other inputs). */
  overwrite?: boolean;
}

function realOrResolved(p: string): string {
  const abs = resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    /* not there yet */
  }
  // The folder may exist (and be a link) even when the file does not.
  try {
    return join(realpathSync(dirname(abs)), basename(abs));
  } catch {
    return abs;
  }
}

function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Checks one output path on its own: not empty, not a directory or special file, its folder
 * exists. @throws OUTPUT_PATH_INVALID, OUTPUT_NOT_REGULAR
 */
export function checkOutputPath(path: string | undefined, what = 'output'): void {
  if (path === undefined) return;
  if (path.trim() === '') {
    throw new CompilerError('OUTPUT_PATH_INVALID', `${what} is an empty path`, { where: what, hint: 'name the file to write, e.g. -o out.onnx' });
  }
  if (path.endsWith('/') || path.endsWith(sep)) {
    throw new CompilerError('OUTPUT_NOT_REGULAR', `${what} "${path}" names a directory`, {
      where: path,
      hint: 'name a file inside it, e.g. ' + join(path, 'out.onnx'),
    });
  }
  const st = statOrUndefined(path);
  if (st && !st.isFile()) {
    throw new CompilerError('OUTPUT_NOT_REGULAR', `${what} "${path}" is ${fileKind(st)}; sculpt writes only regular files`, {
      where: path,
      hint: st.isDirectory() ? `name a file inside it, e.g. ${join(path, 'out.onnx')}` : 'name a regular file (to discard output, omit the option)',
    });
  }
  const dir = statOrUndefined(dirname(resolve(path)));
  if (!dir || !dir.isDirectory()) {
    throw new CompilerError('OUTPUT_PATH_INVALID', `${what} "${path}": the folder ${dirname(resolve(path))} does not exist`, {
      where: path,
      hint: 'create the folder first',
    });
  }
}

const SCAN_LIMIT = 256 * 1024 * 1024;

/**
 * The external data files a model file references (resolved), found without decoding the
 * whole model: each `location` entry is a short string field. Unreadable files give none
 * (reading them fails later with its own error).
 */
export function externalDataFiles(modelPath: string): string[] {
  const st = statOrUndefined(modelPath);
  // Models with external data are small files; a big one is scanned by saveModel instead
  // (it refuses to write over the data files of the model it saves).
  if (!st || !st.isFile() || st.size > SCAN_LIMIT) return [];
  let bytes: Buffer;
  try {
    bytes = readFileSync(modelPath);
  } catch {
    return [];
  }
  const out = new Set<string>();
  // StringStringEntryProto { key = 1 ("location"), value = 2 }: 0x0a 0x08 "location" 0x12 <len> <bytes>.
  const key = Buffer.from([0x0a, 0x08, ...Buffer.from('location'), 0x12]);
  const base = dirname(resolve(modelPath));
  for (let at = bytes.indexOf(key); at >= 0; at = bytes.indexOf(key, at + 1)) {
    let pos = at + key.length;
    let len = 0;
    for (let shift = 0; shift < 35 && pos < bytes.length; shift += 7) {
      const b = bytes[pos++]!;
      len += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) break;
    }
    if (len === 0 || len > 4096 || pos + len > bytes.length) continue;
    out.add(resolve(base, bytes.subarray(pos, pos + len).toString('utf8')));
  }
  return [...out];
}

/** The files and folders a `--data` spec reads (named data sets: none). */
export function dataSpecInputs(spec: string | undefined, what = '--data'): GuardInput[] {
  if (!spec) return [];
  const m = /^(idx|npy|folder):(.*)$/.exec(spec);
  if (!m) return [];
  if (m[1] === 'folder') return [{ path: m[2], what, kind: 'dir' }];
  return m[2]!
    .split(',')
    .filter(Boolean)
    .map((p) => ({ path: p, what, kind: 'file' as const }));
}

/** Files a model output at `out` owns besides itself (lock, data files by our naming). */
function ownsName(out: string, candidate: string): boolean {
  if (dirname(candidate) !== dirname(out)) return false;
  const b = basename(out);
  const n = basename(candidate);
  if (n === `${b}.lock` || n === `${b}.data`) return true;
  return n.startsWith(`${b}.`) && n.endsWith('.data') && /^[0-9a-f]{16}$/.test(n.slice(b.length + 1, -5));
}

function inside(dir: string, p: string): boolean {
  const r = relative(dir, p);
  return r !== '' && !r.startsWith('..') && !isAbsolute(r);
}

/**
 * Checks every output of a run against its inputs and against each other.
 * @throws OUTPUT_PATH_INVALID, OUTPUT_NOT_REGULAR, OUTPUT_IS_INPUT, OUTPUTS_COLLIDE
 */
export function guardOutputs(spec: GuardSpec): void {
  const outs = spec.outputs.filter((o) => o.path !== undefined);
  for (const o of outs) checkOutputPath(o.path, o.what ?? 'output');
  const inputs: { real: string; what: string; kind: GuardInput['kind']; isModel: boolean }[] = [];
  for (const i of spec.inputs) {
    if (i.path === undefined || i.path === '') continue;
    const what = i.what ?? i.path;
    inputs.push({ real: realOrResolved(i.path), what, kind: i.kind, isModel: i.kind === 'model' });
    if (i.kind === 'model') {
      for (const d of externalDataFiles(i.path))
        inputs.push({ real: realOrResolved(d), what: `the external data of ${what} (${d})`, kind: 'file', isModel: false });
    }
  }
  const seen: { real: string; what: string; kind: GuardOutput['kind'] }[] = [];
  for (const o of outs) {
    const real = realOrResolved(o.path!);
    const what = o.what ?? 'output';
    for (const i of inputs) {
      if (i.kind === 'dir' ? real === i.real || (inside(i.real, real) && statOrUndefined(real) !== undefined) : real === i.real) {
        if (i.isModel && o.kind === 'model' && spec.overwrite) continue;
        throw new CompilerError(
          'OUTPUT_IS_INPUT',
          `${what} "${o.path}" is ${i.kind === 'dir' ? 'inside ' : ''}${i.what}, an input of this run; it would be overwritten`,
          {
            where: o.path,
            hint: `choose another ${what} path${i.isModel && o.kind === 'model' ? ' (or pass --overwrite to replace the input model)' : ''}`,
          },
        );
      }
      if (o.kind === 'model' && ownsName(real, i.real)) {
        throw new CompilerError('OUTPUT_IS_INPUT', `${what} "${o.path}" would replace or remove ${i.what} (${i.real}), which sits under the output's name`, {
          where: o.path,
          hint: `choose another ${what} path`,
        });
      }
    }
    for (const s of seen) {
      if (s.real === real || (s.kind === 'model' && ownsName(s.real, real)) || (o.kind === 'model' && ownsName(real, s.real))) {
        throw new CompilerError('OUTPUTS_COLLIDE', `${what} "${o.path}" and ${s.what} name the same file`, {
          where: o.path,
          hint: 'give every output its own path',
        });
      }
    }
    seen.push({ real, what, kind: o.kind });
  }
}
