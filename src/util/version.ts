/** The tool's version, from the package.json that ships with it. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

let cached: string | undefined;

/** package.json's version ("unknown" only when the file cannot be found, e.g. a bundled copy). */
export function toolVersion(): string {
  if (cached !== undefined) return cached;
  // From dist/src/util (built) or src/util (sources), walk up to the package root.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sculpt' && pkg.version) return (cached = pkg.version);
    } catch {
      /* not here */
    }
    dir = dirname(dir);
  }
  return (cached = 'unknown');
}
