/**
 * Non-finite importance (NaN or ±Inf weights or scores) and total orders.
 *
 * A NaN in a comparator (`b - a || x - y`) makes `Array.prototype.sort` inconsistent: with
 * two NaN channels the order of every other channel is arbitrary, and pruning removed the
 * most important channels. So:
 *  - every ranking in src/prune sorts with `compareScoreDesc`, a total order (NaN last);
 *  - a channel whose importance is not finite is, by `--nan` policy:
 *    `error` (default): CompilerError NON_FINITE_WEIGHTS naming the tensor, node and channel;
 *    `prune-first`: ranked below every finite channel (removed first);
 *    `keep`: ranked above every finite channel (kept while the group keeps anything).
 */
import { CompilerError } from '../errors.js';

export type NanPolicy = 'error' | 'prune-first' | 'keep';

export const NAN_POLICIES: readonly NanPolicy[] = ['error', 'prune-first', 'keep'];

/** Where a non-finite importance comes from: a tensor (and its reader) at one channel. */
export interface NonFiniteSource {
  readonly tensor: string;
  readonly node?: string;
  /** Position on the tensor's channel axis. */
  readonly index: number;
  readonly axis: number;
  readonly value: number;
}

/**
 * Descending by score, NaN after everything, ties by ascending index: a total order for
 * any doubles (−0 and +0 equal). Use as `idx.sort((x, y) => compareScoreDesc(s[x], s[y]) || x - y)`.
 */
export function compareScoreDesc(a: number, b: number): number {
  const na = Number.isNaN(a);
  const nb = Number.isNaN(b);
  if (na || nb) return na === nb ? 0 : na ? 1 : -1;
  return a > b ? -1 : a < b ? 1 : 0;
}

/** Ascending, NaN after everything: the total order for `sort` on plain numbers. */
export function compareAsc(a: number, b: number): number {
  return -compareScoreDesc(a, b);
}

/** Parses a --nan value. @throws INVALID_OPTION */
export function parseNanPolicy(v: string | undefined): NanPolicy {
  if (v === undefined) return 'error';
  if (!(NAN_POLICIES as readonly string[]).includes(v)) {
    throw new CompilerError('INVALID_OPTION', `--nan must be one of ${NAN_POLICIES.join(', ')}; got ${JSON.stringify(v)}`, {
      hint: 'error stops on NaN/Inf weights; prune-first removes those channels first; keep keeps them',
    });
  }
  return v as NanPolicy;
}

/**
 * Applies the policy to one group's scores in place: non-finite entries become −Inf
 * (`prune-first`) or +Inf (`keep`); with `error`, throws naming the first bad channel.
 * Returns the number of non-finite channels. `locate(k)` names the source of channel k.
 * @throws NON_FINITE_WEIGHTS under the `error` policy
 */
export function applyNanPolicy(score: Float64Array, policy: NanPolicy, group: string, locate: (k: number) => NonFiniteSource | undefined): number {
  const bad: number[] = [];
  for (let k = 0; k < score.length; k++) if (!Number.isFinite(score[k]!)) bad.push(k);
  if (bad.length === 0) return 0;
  if (policy === 'error') {
    const src = locate(bad[0]!);
    const what = src
      ? `"${src.tensor}"${src.node ? ` (read by node "${src.node}")` : ''} has ${src.value} at channel ${src.index} (axis ${src.axis})`
      : `channel ${bad[0]} has a non-finite importance (${score[bad[0]!]})`;
    throw new CompilerError(
      'NON_FINITE_WEIGHTS',
      `${what}; group "${group}" has ${bad.length} channel(s) whose importance is NaN or infinite, so they cannot be ranked`,
      {
        where: src?.node ?? src?.tensor ?? group,
        hint: 'fix the weights, or pass --nan prune-first (remove those channels first) or --nan keep (keep them)',
      },
    );
  }
  for (const k of bad) score[k] = policy === 'prune-first' ? -Infinity : Infinity;
  return bad.length;
}
