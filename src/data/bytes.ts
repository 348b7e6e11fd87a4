/**
 * Random access to the bytes of a data file. Small files (and every gzip file, which cannot
 * be read out of order) are held in memory; a large raw file is read sample by sample with
 * positioned reads, so a data set bigger than memory still trains.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { CompilerError } from '../errors.js';

export const DEFAULT_MAX_IN_MEMORY = 256 * 2 ** 20;

/** Bytes addressable by offset; `read` returns a view valid until the next call. */
export interface ByteSource {
  readonly length: number;
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

class MemoryBytes implements ByteSource {
  constructor(readonly bytes: Uint8Array) {}
  get length(): number {
    return this.bytes.byteLength;
  }
  read(offset: number, length: number): Uint8Array {
    return this.bytes.subarray(offset, offset + length);
  }
  close(): void {}
}

class FileBytes implements ByteSource {
  readonly length: number;
  #fd: number | null;
  #buf = new Uint8Array(0);

  constructor(readonly path: string) {
    this.#fd = openSync(path, 'r');
    this.length = fstatSync(this.#fd).size;
  }

  read(offset: number, length: number): Uint8Array {
    if (this.#fd === null) this.#fd = openSync(this.path, 'r');
    if (this.#buf.byteLength < length) this.#buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.#fd, this.#buf, done, length - done, offset + done);
      if (n === 0)
        throw new CompilerError('DATA_CORRUPT', `${this.path} ended early at byte ${offset + done}`, {
          where: this.path,
          hint: 'the file changed or was truncated while training',
        });
      done += n;
    }
    return this.#buf.subarray(0, length);
  }

  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}

export function isGzip(b: Uint8Array): boolean {
  return b.byteLength >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** Checks a data file exists and is a file. @throws FILE_NOT_FOUND */
export function requireFile(path: string, what: string): void {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new CompilerError('FILE_NOT_FOUND', `${what} ${path} does not exist`, { where: path });
  }
}

/**
 * Opens a data file, gunzipping when it starts with the gzip magic. Raw files over
 * `maxInMemory` bytes stay on disk. @throws FILE_NOT_FOUND, DATA_CORRUPT (bad gzip stream)
 */
export function openBytes(path: string, maxInMemory = DEFAULT_MAX_IN_MEMORY): ByteSource {
  requireFile(path, 'data file');
  const size = statSync(path).size;
  if (size > maxInMemory) {
    const f = new FileBytes(path);
    const head = f.read(0, Math.min(2, size));
    if (!isGzip(head)) return f;
    f.close();
  }
  const raw = new Uint8Array(readFileSync(path));
  if (!isGzip(raw)) return new MemoryBytes(raw);
  try {
    const out = gunzipSync(raw);
    return new MemoryBytes(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  } catch (e) {
    throw new CompilerError('DATA_CORRUPT', `${path} is not a valid gzip stream: ${(e as Error).message}`, {
      where: path,
      cause: e,
      hint: 'the download or copy is incomplete; fetch the file again',
    });
  }
}
