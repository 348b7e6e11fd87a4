/**
 * TissueNet unit specs (METHODS.md §1): the words a user writes to say what a stacked layer
 * is made of, and their parsing.
 *
 * A basic unit `n1:n2:n3[:k1:k2]` reads n1 input channels, has n2 hidden channels and
 * writes n3 output channels; k1 and k2 are its two kernel sizes (conv; dense units have
 * none). A unit may carry a count, `n1:n2:n3*c`, for hybrid layers whose unit mix is fixed.
 *
 * ```ts
 * parseUnit('196:20:125');          // { n1: 196, n2: 20, n3: 125 }
 * parseUnit('8:16:8:3:1*2');        // { n1: 8, n2: 16, n3: 8, k1: 3, k2: 1, count: 2 }
 * parseUnitList('4:8:4,8:8:8');     // two units: a hybrid layer, chosen per position
 * ```
 */
import { CompilerError } from '../errors.js';

/** One basic unit; k1/k2 default to the original kernel and 1. */
export interface UnitSpec {
  readonly n1: number;
  readonly n2: number;
  readonly n3: number;
  readonly k1?: number;
  readonly k2?: number;
  /** How many positions this unit takes (hybrid layers with a fixed mix). */
  readonly count?: number;
}

/** The activation between a unit's two weight layers. */
export type TissueActivation = 'relu' | 'relu6' | 'leaky-relu' | 'tanh' | 'sigmoid' | 'none';
export const TISSUE_ACTIVATIONS: readonly TissueActivation[] = ['relu', 'relu6', 'leaky-relu', 'tanh', 'sigmoid', 'none'];

/** How the stacked layers' weights start. */
export type TissueInit = 'he' | 'original';
export const TISSUE_INITS: readonly TissueInit[] = ['he', 'original'];

/** Which layers become stacked layers. */
export type TissueStrategy = 'all' | 'r' | 'select';
export const TISSUE_STRATEGIES: readonly TissueStrategy[] = ['all', 'r', 'select'];

/**
 * What one stacked layer is made of, before it meets a layer's channel counts:
 * - `units`: one unit without a count = equal units (m = C_in / n1); several units, or
 *   counts, = a hybrid layer.
 * - `groups`: m equal units sized from the layer (n1 = C_in/m, n3 = C_out/m, n2 = hidden,
 *   default n3); `auto` lets the planner pick m for a FLOPs target.
 */
export type LayerSpec =
  | { readonly kind: 'units'; readonly units: readonly UnitSpec[] }
  | { readonly kind: 'groups'; readonly groups: number | 'auto'; readonly hidden?: number; readonly k1?: number; readonly k2?: number };

/** The largest kernel size a unit may have (k1, k2): beyond it a unit is not a small unit, and its weights could exhaust memory. */
export const MAX_UNIT_KERNEL = 31;

function specError(text: string, why: string): CompilerError {
  return new CompilerError('TISSUE_SPEC_INVALID', `unit spec "${text}": ${why}`, {
    where: text,
    hint: 'write a unit as n1:n2:n3 or n1:n2:n3:k1:k2 (positive integers), optionally *count; several units comma-separated',
  });
}

function positiveInt(text: string, part: string, what: string): number {
  if (!/^\d+$/.test(part)) throw specError(text, `${what} "${part}" is not a positive integer`);
  const v = Number(part);
  if (v < 1) throw specError(text, `${what} must be at least 1`);
  return v;
}

/** Parses `n1:n2:n3[:k1:k2][*count]`. @throws TISSUE_SPEC_INVALID */
export function parseUnit(text: string): UnitSpec {
  const t = text.trim();
  const [body, countText, extra] = t.split('*');
  if (extra !== undefined || body === undefined || body === '') throw specError(t, 'expected n1:n2:n3[:k1:k2][*count]');
  const parts = body.split(':');
  if (parts.length !== 3 && parts.length !== 5) throw specError(t, `expected 3 or 5 numbers, got ${parts.length}`);
  const names = ['n1', 'n2', 'n3', 'k1', 'k2'];
  const nums = parts.map((p, i) => positiveInt(t, p.trim(), names[i]!));
  const u: { -readonly [K in keyof UnitSpec]: UnitSpec[K] } = { n1: nums[0]!, n2: nums[1]!, n3: nums[2]! };
  if (nums.length === 5) {
    u.k1 = nums[3];
    u.k2 = nums[4];
    for (const [what, k] of [
      ['k1', u.k1!],
      ['k2', u.k2!],
    ] as const)
      if (k > MAX_UNIT_KERNEL) throw specError(t, `${what} ${k} is larger than the largest kernel size, ${MAX_UNIT_KERNEL}`);
  }
  if (countText !== undefined) u.count = positiveInt(t, countText.trim(), 'count');
  return u;
}

/** Parses a comma-separated unit list. Counts on all units or on none. @throws TISSUE_SPEC_INVALID */
export function parseUnitList(text: string): UnitSpec[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw specError(text, 'no units');
  const units = items.map(parseUnit);
  const counted = units.filter((u) => u.count !== undefined).length;
  if (counted !== 0 && counted !== units.length) throw specError(text, 'give a *count on every unit or on none');
  return units;
}

/** `n1:n2:n3[:k1:k2][*c]`, the inverse of parseUnit. */
export function formatUnit(u: UnitSpec): string {
  const k = u.k1 !== undefined || u.k2 !== undefined ? `:${u.k1 ?? '-'}:${u.k2 ?? '-'}` : '';
  return `${u.n1}:${u.n2}:${u.n3}${k}${u.count !== undefined ? `*${u.count}` : ''}`;
}

/**
 * Parses a per-layer spec as the CLI writes it: a unit or unit list (`16:16:16`,
 * `4:8:4,8:8:8`), or groups `g4`, `g4h32`, `gauto` (m, optional hidden n2).
 * @throws TISSUE_SPEC_INVALID
 */
export function parseLayerSpec(text: string): LayerSpec {
  const t = text.trim();
  const g = /^g(auto|\d+)(?:h(\d+))?$/.exec(t);
  if (g) {
    const groups = g[1] === 'auto' ? ('auto' as const) : positiveInt(t, g[1]!, 'groups');
    return g[2] === undefined ? { kind: 'groups', groups } : { kind: 'groups', groups, hidden: positiveInt(t, g[2], 'hidden') };
  }
  return { kind: 'units', units: parseUnitList(t) };
}

/** Checks an activation name. @throws INVALID_OPTION */
export function checkActivation(name: string): TissueActivation {
  if ((TISSUE_ACTIVATIONS as readonly string[]).includes(name)) return name as TissueActivation;
  throw new CompilerError('INVALID_OPTION', `unknown activation "${name}"`, { where: 'activation', hint: `choose one of: ${TISSUE_ACTIVATIONS.join(', ')}` });
}

/** Whether `name` matches a glob (`*` any run of characters, `?` one character) or equals it. */
export function globMatch(pattern: string, name: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === name;
  const re = new RegExp(
    `^${pattern
      .split('')
      .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
  );
  return re.test(name);
}
