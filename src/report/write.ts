/** Writing a report file: atomically, and never over one of the models it describes. */
import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { CompilerError } from '../errors.js';
import { atomicWrite } from '../serde/write.js';

/**
 * Writes `text` to `path` atomically (temp file + rename).
 * @throws OUTPUT_IS_INPUT when `path` is one of `inputs`; FILE_WRITE_FAILED
 */
export function writeReportFile(path: string, text: string, inputs: readonly string[] = []): void {
  const out = resolve(path);
  for (const i of inputs) {
    const same = resolve(i) === out || (existsSync(i) && existsSync(out) && realpathSync(i) === realpathSync(out));
    if (same) throw new CompilerError('OUTPUT_IS_INPUT', `refusing to write the report over the input ${i}`, { where: path, hint: 'name another output file' });
  }
  atomicWrite(out, [new TextEncoder().encode(text)]);
}
