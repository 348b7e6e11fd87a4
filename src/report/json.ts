/**
 * The pipeline rendering of a ModelDiff: JSON with a `schemaVersion`, documented field by
 * field (with a JSON Schema) in docs/diff-schema.md. Key order is the order the diff builds
 * its objects in, so the same two models always give byte-identical output.
 */
import type { ModelDiff } from './diff.js';

/** Serialises a diff (2-space indented, trailing newline). */
export function renderDiffJson(d: ModelDiff): string {
  return `${JSON.stringify(d, null, 2)}\n`;
}
