/**
 * How sculpt puts files on disk so that nothing is lost and no reader sees half a result.
 *
 * 1. One file: written to `<path>.tmp-<pid>-<rand>` in the same folder, then renamed over
 *    `<path>` (rename is atomic on POSIX): a reader sees the old file or the whole new one.
 * 2. A model with external data (two files that must match): the data goes to a file named
 *    by its content, `<model>.<sha256:16>.data`, written and fsynced first; then the model
 *    that references it is renamed into place; only then are the data files the old model
 *    used removed. A kill at any point leaves the old pair or the new pair, never a mix
 *    (at worst an orphan data file, removed by the next save to the same output).
 * 3. An advisory lock per output (`<model>.lock`, created with O_EXCL, holding the pid):
 *    two writers of one output take turns. A lock whose process is gone is stale and taken
 *    over. The holder checks the lock is still its own just before the commit rename.
 * 4. Temp files and locks are removed on failure (try/finally) and on SIGINT/SIGTERM/SIGHUP
 *    (handlers are armed only while something is pending; the signal is then re-raised).
 *    Temps of a killed process (`kill -9`) are removed by the next save to that output.
 *
 * Every write goes through `writeChunks`, in slices well under Node's 2 GiB-per-call limit,
 * with positions as plain numbers (exact up to 2^53), so files of any size are fine.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { CompilerError } from '../errors.js';
import { checkOutputPath } from './output-guard.js';

/** The steps of a model+data commit, in order; a fault hook may stop the writer at any. */
export type WriteStep = 'temp-written' | 'data-written' | 'data-renamed' | 'model-written' | 'model-renamed' | 'old-data-removed';

let faultHook: ((step: WriteStep, path: string) => void) | undefined;

/**
 * Test hook: called at each step of every write (a throw simulates a failure there, a
 * `process.kill(process.pid, 'SIGKILL')` a crash). Pass undefined to remove it.
 */
export function setWriteFaultHook(hook: ((step: WriteStep, path: string) => void) | undefined): void {
  faultHook = hook;
}

function step(s: WriteStep, path: string): void {
  faultHook?.(s, path);
}

// --- cleanup on signals ------------------------------------------------------------------

/** Paths to remove if the process is interrupted: temp files and our own lock files. */
const pending = new Map<string, 'temp' | 'lock'>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let armed = false;
let disarmScheduled = false;

function onSignal(sig: NodeJS.Signals): void {
  cleanupPending();
  disarmNow();
  // Other listeners (the CLI's, a test runner's) handle the signal themselves; with none
  // left, the default action (exit by this signal) is what the user asked for.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function cleanupPending(): void {
  for (const [p, kind] of pending) {
    try {
      if (kind === 'lock') {
        if (lockOwner(p) === lockToken) unlinkSync(p);
      } else rmSync(p, { force: true });
    } catch {
      /* best effort while exiting */
    }
  }
  pending.clear();
}

function arm(): void {
  disarmScheduled = false;
  if (armed) return;
  armed = true;
  for (const s of SIGNALS) process.on(s, onSignal);
}

function disarmNow(): void {
  if (!armed) return;
  armed = false;
  for (const s of SIGNALS) process.removeListener(s, onSignal);
}

/**
 * Handlers stay a little after the last pending path is gone: a signal that arrived while a
 * synchronous write ran is delivered on a later turn of the event loop, and removing the
 * listener before that would swallow the user's Ctrl-C.
 */
function maybeDisarm(): void {
  if (pending.size > 0 || disarmScheduled || !armed) return;
  disarmScheduled = true;
  setImmediate(() =>
    setImmediate(() => {
      if (disarmScheduled && pending.size === 0) disarmNow();
      disarmScheduled = false;
    }).unref(),
  ).unref();
}

function track(path: string, kind: 'temp' | 'lock'): void {
  pending.set(path, kind);
  arm();
}

function untrack(path: string): void {
  pending.delete(path);
  maybeDisarm();
}

// --- low-level writing -------------------------------------------------------------------

/** Bytes per write call: Node refuses lengths of 2 GiB or more in one call. */
const SLICE = 256 * 1024 * 1024;

/** A temp path beside `path`: `<path>.tmp-<pid>-<random>`. */
export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * Writes `chunks` to `fd`, each at `offsets[i]` (or one after the other from 0), in slices
 * small enough for any size; `onBytes` sees every slice (hashing). Returns the end position.
 */
export function writeChunks(fd: number, chunks: readonly Uint8Array[], offsets?: readonly number[], onBytes?: (b: Uint8Array) => void): number {
  let pos = 0;
  chunks.forEach((c, i) => {
    const at = offsets ? offsets[i]! : pos;
    for (let done = 0; done < c.byteLength;) {
      const len = Math.min(SLICE, c.byteLength - done);
      const n = writeSync(fd, c, done, len, at + done);
      if (n <= 0) throw new Error(`write returned ${n}`);
      onBytes?.(c.subarray(done, done + n));
      done += n;
    }
    pos = at + c.byteLength;
  });
  return pos;
}

/** fsync a folder so a rename in it survives a power loss (a no-op where folders cannot be opened). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* some file systems refuse; the rename is still atomic */
  } finally {
    if (fd !== undefined)
      try {
        closeSync(fd);
      } catch {
        /* ignore */
      }
  }
}

function writeFailed(path: string, e: unknown): CompilerError {
  if (e instanceof CompilerError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const hint =
    code === 'ENOSPC'
      ? 'the disk is full: free space or write elsewhere'
      : code === 'EACCES' || code === 'EPERM'
        ? 'no permission to write there: choose another folder'
        : code === 'ENOENT'
          ? 'the folder does not exist: create it first'
          : code === 'EROFS'
            ? 'the file system is read-only'
            : 'check the path and free space';
  return new CompilerError('FILE_WRITE_FAILED', `cannot write ${path}: ${(e as Error).message}`, { where: path, cause: e, hint });
}

/**
 * Writes a new temp file beside `path` holding `chunks`; returns its path. The temp is
 * tracked (removed on signals) until `commitTemp` or `discardTemp`.
 */
export function writeTemp(
  path: string,
  chunks: readonly Uint8Array[],
  opts: { offsets?: readonly number[]; durable?: boolean; onBytes?: (b: Uint8Array) => void } = {},
): string {
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  track(tmp, 'temp');
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o666);
    writeChunks(fd, chunks, opts.offsets, opts.onBytes);
    step('temp-written', tmp);
    if (opts.durable) fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    return tmp;
  } catch (e) {
    if (fd !== undefined)
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    discardTemp(tmp);
    throw writeFailed(path, e);
  }
}

/** Renames a temp written by `writeTemp` over `path`. */
export function commitTemp(tmp: string, path: string, durable = false): void {
  try {
    renameSync(tmp, path);
  } catch (e) {
    discardTemp(tmp);
    throw writeFailed(path, e);
  }
  untrack(tmp);
  if (durable) fsyncDir(dirname(path));
}

export function discardTemp(tmp: string): void {
  try {
    rmSync(tmp, { force: true });
  } catch {
    /* best effort */
  }
  untrack(tmp);
}

/**
 * Writes chunks to a temp file beside `path`, then renames it into place: readers see the
 * old file or the whole new one, never a part, and a failed write leaves nothing behind.
 * With `durable`, the data is fsynced before the rename. @throws FILE_WRITE_FAILED
 */
export function atomicWrite(path: string, chunks: readonly Uint8Array[], offsets?: readonly number[], durable = false): void {
  checkOutputPath(path);
  const tmp = writeTemp(path, chunks, { offsets, durable });
  commitTemp(tmp, path, durable);
}

// --- staged outputs (several files of one run, committed together) -------------------------

/**
 * Files of one run written to temps first and renamed into place by `commit()`, so a run
 * whose last output fails to write leaves none of them (`abort()` removes the temps).
 */
export class StagedFiles {
  readonly #staged: { tmp: string; path: string }[] = [];

  stage(path: string, data: Uint8Array | string): void {
    checkOutputPath(path);
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    this.#staged.push({ tmp: writeTemp(resolve(path), [bytes]), path: resolve(path) });
  }

  commit(): void {
    for (const s of this.#staged.splice(0)) commitTemp(s.tmp, s.path);
  }

  abort(): void {
    for (const s of this.#staged.splice(0)) discardTemp(s.tmp);
  }
}

// --- locks -------------------------------------------------------------------------------

const lockToken = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 10)}`;

interface LockInfo {
  token: string;
  pid: number;
  host: string;
}

function lockOwner(lockPath: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(lockPath, 'utf8')) as LockInfo).token;
  } catch {
    return undefined;
  }
}

function readLock(lockPath: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(lockPath, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

/** True when `pid` names a live process on this machine (EPERM: alive, someone else's). */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A lock nobody holds any more: its process died, or the file is unreadable and old. */
function isStale(lockPath: string): boolean {
  const info = readLock(lockPath);
  if (!info) {
    // Being written right now (created, not yet filled) or garbage: stale only when old.
    try {
      return Date.now() - statSync(lockPath).mtimeMs > 10_000;
    } catch {
      return false;
    }
  }
  return info.host === hostname() && !processAlive(info.pid);
}

/**
 * Takes over a stale lock without ever deleting a live one: the lock is renamed aside,
 * and put back (link fails if a new one exists) when it turns out to be live after all.
 */
function breakStaleLock(lockPath: string): void {
  const aside = `${lockPath}.stale-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    renameSync(lockPath, aside);
  } catch {
    return;
  }
  const info = readLock(aside);
  const live = info && (info.host !== hostname() || processAlive(info.pid));
  if (live) {
    try {
      linkSync(aside, lockPath);
    } catch {
      /* a new lock exists; its holder will notice */
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    /* ignore */
  }
}

export interface LockOptions {
  /** Give up after this long (default 120 s, or SCULPT_LOCK_TIMEOUT_MS). */
  timeoutMs?: number;
}

/** An advisory lock on one output path (`<path>.lock`). */
export class OutputLock {
  private constructor(readonly lockPath: string) {}

  /** Waits for the lock on `path`. @throws OUTPUT_LOCKED after the timeout, FILE_WRITE_FAILED */
  static acquire(path: string, opts: LockOptions = {}): OutputLock {
    const lockPath = `${resolve(path)}.lock`;
    const timeout = opts.timeoutMs ?? (Number(process.env.SCULPT_LOCK_TIMEOUT_MS) || 120_000);
    const t0 = Date.now();
    let wait = 5;
    const body = JSON.stringify({ token: lockToken, pid: process.pid, host: hostname(), started: new Date().toISOString() });
    for (;;) {
      let fd: number | undefined;
      try {
        fd = openSync(lockPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o666);
        track(lockPath, 'lock');
        writeSync(fd, body);
        closeSync(fd);
        return new OutputLock(lockPath);
      } catch (e) {
        if (fd !== undefined) {
          try {
            closeSync(fd);
          } catch {
            /* ignore */
          }
        }
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw writeFailed(lockPath, e);
      }
      if (isStale(lockPath)) {
        breakStaleLock(lockPath);
        continue;
      }
      if (Date.now() - t0 > timeout) {
        const info = readLock(lockPath);
        throw new CompilerError('OUTPUT_LOCKED', `another sculpt (${info ? `pid ${info.pid} on ${info.host}` : 'unknown process'}) is writing ${path}`, {
          where: path,
          hint: `wait for it to finish; if no sculpt is running, remove ${lockPath}`,
        });
      }
      sleepSync(wait + Math.random() * wait);
      wait = Math.min(wait * 2, 200);
    }
  }

  /** @throws OUTPUT_LOCKED when another process took the lock over (it thought ours stale). */
  assertHeld(): void {
    if (lockOwner(this.lockPath) !== lockToken) {
      throw new CompilerError('OUTPUT_LOCKED', `the lock ${this.lockPath} was taken over by another process; nothing was replaced`, {
        where: this.lockPath,
        hint: 'run again when the other writer has finished',
      });
    }
  }

  release(): void {
    try {
      if (lockOwner(this.lockPath) === lockToken) unlinkSync(this.lockPath);
    } catch {
      /* gone already */
    }
    untrack(this.lockPath);
  }
}

/** Runs `f` holding the lock on `path`. */
export function withOutputLock<T>(path: string, f: (lock: OutputLock) => T, opts?: LockOptions): T {
  const lock = OutputLock.acquire(path, opts);
  try {
    return f(lock);
  } finally {
    lock.release();
  }
}

// --- model + external data ----------------------------------------------------------------

/** Bytes of an external data file: chunks at offsets, `size` bytes in all. */
export interface DataFile {
  chunks: readonly Uint8Array[];
  offsets: readonly number[];
  size: number;
}

export interface ModelCommit {
  /** Where the model goes. */
  path: string;
  /** External data to write first (absent: a single-file model). */
  data?: DataFile;
  /** The model's bytes, given the data file's name (relative to the model's folder). */
  encode(location: string | undefined): readonly Uint8Array[];
  /** fsync the model too (the data is always fsynced before the model is renamed). */
  durable?: boolean;
  /** Files that must never be removed (the run's inputs), as resolved real paths. */
  protect?: ReadonlySet<string>;
  lock?: LockOptions;
}

export interface CommitResult {
  path: string;
  bytes: number;
  dataPath?: string;
  dataBytes?: number;
}

const HEX16 = /^[0-9a-f]{16}$/;

/** The name of the data file of model file `base` holding bytes with this hash. */
export function dataFileName(base: string, hash: string): string {
  return `${base}.${hash}.data`;
}

/** Data files we name for model `base`: `<base>.data` (older sculpt) and `<base>.<hash16>.data`. */
function isOurDataName(base: string, name: string): boolean {
  if (name === `${base}.data`) return true;
  if (!name.startsWith(`${base}.`) || !name.endsWith('.data')) return false;
  return HEX16.test(name.slice(base.length + 1, -'.data'.length));
}

/**
 * Writes a model (and its external data) with the protocol in this file's header.
 * @throws OUTPUT_LOCKED, FILE_WRITE_FAILED
 */
export function commitModel(c: ModelCommit): CommitResult {
  checkOutputPath(c.path);
  const out = resolve(c.path);
  const dir = dirname(out);
  const base = basename(out);
  const lock = OutputLock.acquire(out, c.lock);
  const created: string[] = [];
  const temps: string[] = [];
  try {
    removeDeadTemps(dir, base);
    let location: string | undefined;
    let dataPath: string | undefined;
    if (c.data) {
      const hash = createHash('sha256');
      const tmp = writeTemp(out, c.data.chunks, { offsets: c.data.offsets, durable: true, onBytes: (b) => hash.update(b) });
      temps.push(tmp);
      hash.update(`:${c.data.size}:${c.data.offsets.join(',')}`);
      step('data-written', tmp);
      location = dataFileName(base, hash.digest('hex').slice(0, 16));
      dataPath = join(dir, location);
      const existed = exists(dataPath);
      commitTemp(tmp, dataPath, true);
      if (!existed) created.push(dataPath);
      step('data-renamed', dataPath);
    }
    const oldRefs = referencedDataFiles(out);
    const chunks = c.encode(location);
    const tmp = writeTemp(out, chunks, { durable: c.durable });
    temps.push(tmp);
    step('model-written', tmp);
    lock.assertHeld();
    commitTemp(tmp, out, true);
    created.length = 0; // committed: the new data file is referenced now
    step('model-renamed', out);
    removeOldData(dir, base, location, oldRefs, c.protect);
    step('old-data-removed', out);
    let bytes = 0;
    for (const ch of chunks) bytes += ch.byteLength;
    return { path: out, bytes, dataPath, dataBytes: c.data?.size };
  } finally {
    for (const t of temps) if (pending.has(t)) discardTemp(t);
    // A data file this run created but no committed model references is an orphan.
    for (const p of created)
      try {
        rmSync(p, { force: true });
      } catch {
        /* ignore */
      }
    lock.release();
  }
}

function realOf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Removes `<base>….tmp-<pid>-…` files left by processes that no longer run (kill -9). */
function removeDeadTemps(dir: string, base: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(base)) continue;
    const m = /\.tmp-(\d+)-[0-9a-z]+$/.exec(n);
    if (!m || !isOurTempOwner(n.slice(0, m.index), base)) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && !processAlive(pid))
      try {
        rmSync(join(dir, n), { force: true });
      } catch {
        /* ignore */
      }
  }
}

function isOurTempOwner(target: string, base: string): boolean {
  return target === base || isOurDataName(base, target);
}

/** The external data files the model now at `path` references (none if unreadable). */
function referencedDataFiles(path: string): Set<string> {
  const refs = new Set<string>();
  try {
    const st = statSync(path);
    if (!st.isFile() || st.size > 256 * 1024 * 1024) return refs;
    const text = readFileSync(path);
    // The locations are plain strings in the protobuf; the ones we name end in ".data".
    // Scanning for our own naming pattern avoids decoding an unknown (maybe hostile) file.
    const base = basename(path);
    const s = text.toString('latin1');
    let at = s.indexOf(base);
    while (at >= 0) {
      const end = s.indexOf('.data', at);
      if (end < 0) break;
      const name = s.slice(at, end + 5);
      if (isOurDataName(base, name)) refs.add(name);
      at = s.indexOf(base, at + 1);
    }
  } catch {
    /* no old model */
  }
  return refs;
}

/**
 * After the new model is in place: removes our data files for `base` that the new model
 * does not use (the old model's, and orphans of killed writes), never a protected input.
 */
function removeOldData(dir: string, base: string, keep: string | undefined, oldRefs: Set<string>, protect?: ReadonlySet<string>): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (n === keep || !isOurDataName(base, n)) continue;
    // `<base>.data` is ours only when the old model referenced it; hashed names always are.
    if (n === `${base}.data` && !oldRefs.has(n)) continue;
    const p = join(dir, n);
    if (protect?.has(p) || protect?.has(realOf(p))) continue;
    try {
      rmSync(p, { force: true });
    } catch {
      /* ignore */
    }
  }
}
