/**
 * The layer table of docs/architecture.md, as data: a module may import only modules of a
 * strictly lower layer (and itself). `src/index.ts` is the library surface: everything in
 * src/ below the CLI may be re-exported there. passes/ and models/ import only `src/core.ts`,
 * the part of it that loads no TensorFlow.js.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

/** Layer of each module (a folder under src/, a file directly in src/, or a top-level folder). */
export const LAYERS: Readonly<Record<string, number>> = {
  'src/errors': 0,
  'src/util': 10,
  'src/ir': 20,
  'src/serde': 30,
  'src/analysis': 40,
  'src/data': 40,
  'src/runtime': 40,
  'src/pass': 50,
  'src/prune': 60,
  'src/tissue': 60,
  'src/search': 70,
  'src/train': 70,
  'src/validate': 80,
  'src/onestep': 85,
  'src/report': 90,
  'src/core': 94,
  'src/index': 95,
  'src/run': 100,
  passes: 100,
  models: 100,
  'src/cli': 110,
};

/** The module a repository path belongs to. */
export function moduleOf(path: string): string {
  const p = path.replace(/\\/g, '/').replace(/\.(ts|js)$/, '');
  const parts = p.split('/');
  if (parts[0] === 'src') return parts.length === 2 ? `src/${parts[1]}` : `src/${parts[1]}`;
  return parts[0]!;
}

export interface ImportEdge {
  readonly from: string;
  readonly spec: string;
  readonly line: number;
}

/** Relative imports (static, type-only, re-exports, dynamic) of a source file. */
export function importsOf(path: string, text: string): ImportEdge[] {
  const out: ImportEdge[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)|(?:^|\n)\s*import\s+'(\.[^']+)'/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const spec = (m[1] ?? m[2] ?? m[3])!;
    out.push({ from: path, spec, line: text.slice(0, m.index + 1).split('\n').length + (m[0].startsWith('\n') ? 1 : 0) });
  }
  return out;
}

export interface Violation {
  readonly from: string;
  readonly to: string;
  readonly line: number;
  readonly why: string;
}

/** Edges that go up (or sideways between two modules of one layer), or touch an unlisted module. */
export function violations(edges: readonly ImportEdge[]): Violation[] {
  const bad: Violation[] = [];
  for (const e of edges) {
    const to = normalize(join(dirname(e.from), e.spec)).replace(/\\/g, '/');
    const a = moduleOf(e.from);
    const b = moduleOf(to);
    if (a === b) continue;
    const la = LAYERS[a];
    const lb = LAYERS[b];
    if (la === undefined || lb === undefined) {
      bad.push({
        from: e.from,
        to,
        line: e.line,
        why: `module ${la === undefined ? a : b} has no layer: add it to test/architecture/layers.ts and docs/architecture.md`,
      });
    } else if (lb >= la) {
      bad.push({ from: e.from, to, line: e.line, why: `${a} (layer ${la}) may not import ${b} (layer ${lb})` });
    }
  }
  return bad;
}

/** Every .ts file under the product folders, as repository-relative paths. */
export function productFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(relative(root, p).replace(/\\/g, '/'));
    }
  };
  for (const d of ['src', 'passes', 'models']) walk(join(root, d));
  return out.sort();
}

export function edgesOf(root: string): ImportEdge[] {
  return productFiles(root).flatMap((f) => importsOf(f, readFileSync(join(root, f), 'utf8')));
}
