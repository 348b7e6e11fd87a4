/**
 * Field-for-field comparison of two encoded models, independent of the IR: both are
 * decoded with the schema and compared as canonical plain objects (int64 as strings,
 * bytes as hex). Used by the round-trip tests and `sculpt transform --check-roundtrip`.
 */
import { modelType } from './schema.js';

export interface ProtoDifference {
  path: string;
  a: unknown;
  b: unknown;
}

export function canonicalModel(bytes: Uint8Array): unknown {
  const T = modelType();
  const msg = T.decode(bytes);
  return T.toObject(msg, { longs: String, bytes: String, defaults: false, arrays: false, enums: Number });
}

/** The first differences between two encoded models (empty when equal field for field). */
export function compareEncoded(a: Uint8Array, b: Uint8Array, limit = 10): ProtoDifference[] {
  const out: ProtoDifference[] = [];
  diff(canonicalModel(a), canonicalModel(b), '', out, limit);
  return out;
}

function diff(a: unknown, b: unknown, path: string, out: ProtoDifference[], limit: number): void {
  if (out.length >= limit) return;
  if (a === b) return;
  if (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b)) return;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) {
      out.push({ path: `${path}.length`, a: a.length, b: b.length });
      return;
    }
    for (let i = 0; i < a.length; i++) diff(a[i], b[i], `${path}[${i}]`, out, limit);
    return;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of [...keys].sort()) diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out, limit);
    return;
  }
  out.push({ path, a, b });
}
