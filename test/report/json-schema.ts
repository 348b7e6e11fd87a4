/**
 * The JSON Schema subset docs/diff-schema.md uses (type, const, enum, properties, required,
 * additionalProperties, items, minimum, anyOf, $ref into #/$defs), enough to check real
 * outputs against the documented schemas. Unknown keywords are an error, so the docs cannot
 * silently rely on something this checker ignores.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

type Schema = Record<string, unknown>;

const KNOWN = new Set([
  '$schema',
  'title',
  'type',
  'const',
  'enum',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minimum',
  'anyOf',
  '$ref',
  '$defs',
]);

/** The JSON block that follows `<!-- schema: NAME -->` in docs/diff-schema.md. */
export function documentedSchema(name: string): Schema {
  const md = readFileSync(join(ROOT, 'docs/diff-schema.md'), 'utf8');
  const at = md.indexOf(`<!-- schema: ${name} -->`);
  if (at < 0) throw new Error(`no schema "${name}" in docs/diff-schema.md`);
  const m = /```json\n([\s\S]*?)\n```/.exec(md.slice(at));
  if (!m) throw new Error(`schema "${name}" has no json block`);
  return JSON.parse(m[1]!) as Schema;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Errors of `value` against `schema` (empty when valid), each with a JSON path. */
export function validate(value: unknown, schema: Schema, root: Schema = schema, path = '$'): string[] {
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) return [`${path}: schema keyword "${k}" not supported`];
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/$defs/', '');
    const target = (root.$defs as Record<string, Schema> | undefined)?.[name];
    if (!target) return [`${path}: unresolved $ref ${schema.$ref}`];
    return validate(value, target, root, path);
  }
  const errs: string[] = [];
  if (schema.anyOf) {
    const ok = (schema.anyOf as Schema[]).some((s) => validate(value, s, root, path).length === 0);
    if (!ok) errs.push(`${path}: matches none of anyOf`);
    return errs;
  }
  if ('const' in schema && JSON.stringify(value) !== JSON.stringify(schema.const)) errs.push(`${path}: expected ${JSON.stringify(schema.const)}`);
  if (schema.enum && !(schema.enum as unknown[]).some((e) => JSON.stringify(e) === JSON.stringify(value)))
    errs.push(`${path}: ${JSON.stringify(value)} not in enum`);
  if (schema.type) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    const t = typeOf(value);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [...errs, `${path}: type ${t}, expected ${types.join('|')}`];
  }
  if (typeof schema.minimum === 'number' && typeof value === 'number' && value < schema.minimum) errs.push(`${path}: ${value} < ${schema.minimum}`);
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[]) if (!(r in obj)) errs.push(`${path}: missing "${r}"`);
    for (const [k, v] of Object.entries(obj)) {
      if (props[k]) errs.push(...validate(v, props[k]!, root, `${path}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${path}: undocumented field "${k}"`);
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object')
        errs.push(...validate(v, schema.additionalProperties as Schema, root, `${path}.${k}`));
    }
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => errs.push(...validate(v, schema.items as Schema, root, `${path}[${i}]`)));
  return errs;
}
