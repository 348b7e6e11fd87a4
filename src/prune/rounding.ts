/**
 * Rounding that follows the kernel. onnxruntime's CPU convolutions run fastest in the
 * blocked NCHWc layout (block B = 8 floats with AVX2, 16 with AVX-512), which its
 * NchwcTransformer applies to a Conv only when
 *  - g = 1: the output channels are a multiple of B (and the input channels too, or < B);
 *  - depthwise (1 input channel per group): the channel count is a multiple of B;
 *  - grouped (g > 1, C/g > 1): the input AND output channels PER CONV GROUP are multiples of B.
 * Counts in between are padded or fall back to the slow path, so pruning 128 channels in 8
 * groups to 96 (12 per group) is no faster than keeping 128 at B = 16.
 *
 * So a group's kept count k (group channels; `mult` feature-map channels each) must make:
 *  1. every feature map's width k·mult a multiple of `roundTo` (covers g = 1 and the shared
 *     width of a depthwise chain: expand 1×1, depthwise, BN, activations);
 *  2. for every grouped Conv/ConvTranspose that reads or writes one of its feature maps,
 *     the count per conv group (k·per / g, `per` = that map's positions per group channel)
 *     a multiple of `roundTo`. The conv's `group` stays, and the minimum of one kept group
 *     channel keeps every conv group non-empty. A grouped conv whose per-group count is not
 *     a multiple of `roundTo` to begin with (ResNeXt's 4 per group) cannot use the blocked
 *     kernel at any width, so it adds no constraint beyond rule 1.
 * The unit is the least k step meeting all of them; a group narrower than one unit stays
 * whole. Worked example: RegNet block, 128 channels in 8 conv groups of 16, `roundTo` 16:
 * the group has 16 group channels (mult 8); rule 1 alone gives a unit of 2 (widths 16, 32,
 * …, i.e. 2, 4, … per conv group); rule 2 gives 16 — the group stays whole, since 16 per
 * conv group is the narrowest fast width. At `roundTo` 8: unit 8, so 8 or 16 per group.
 */
import { resolveWeight } from '../ir/weights.js';
import type { ChannelAnalysis, ChannelGroup } from '../analysis/channel-groups.js';
import type { Node, Value } from '../ir/core.js';

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/** The conv's group count and channels per group on the side that `v` is on, when it is a grouped (not depthwise) conv. */
function groupedSide(n: Node, v: Value): { groups: number; perGroup: number } | undefined {
  if (n.opType !== 'Conv' && n.opType !== 'ConvTranspose') return undefined;
  const g = n.attrInt('group', 1);
  // The weight's own dims (an initializer's type need not be declared).
  const w = resolveWeight(n.inputs[1])?.tensor.shape ?? n.inputs[1]?.shape;
  if (g <= 1 || !w || typeof w[0] !== 'number' || typeof w[1] !== 'number') return undefined;
  // Conv W [M, C/g, ...]; ConvTranspose W [C, M/g, ...].
  const [C, M] = n.opType === 'Conv' ? [w[1] * g, w[0]] : [w[0], w[1] * g];
  if (C === g) return undefined; // depthwise: rule 1 covers it
  const isInput = n.inputs[0] === v;
  const width = isInput ? C : M;
  if (width % g !== 0) return undefined;
  return { groups: g, perGroup: width / g };
}

export interface RoundingUnit {
  /** Kept counts (group channels) are multiples of this. */
  readonly unit: number;
  /** The grouped convs that set it, e.g. `conv2 (8 groups)`. */
  readonly groupedBy: readonly string[];
}

/**
 * The rounding step of group `g`'s kept count for `roundTo` (rules 1 and 2 above).
 * O(members · readers).
 */
export function roundingUnit(_a: ChannelAnalysis, g: ChannelGroup, roundTo: number): RoundingUnit {
  let unit = roundTo / gcd(roundTo, g.mult);
  if (roundTo === 1) return { unit, groupedBy: [] };
  const groupedBy: string[] = [];
  for (const m of g.members) {
    const s = m.slot;
    if (s.kind === 'constant' || s.axis !== 1) continue;
    const v = s.value;
    const nodes = [
      ...(v.producer ? [v.producer] : []),
      ...v
        .uses()
        .filter((u) => u.index === 0)
        .map((u) => u.node),
    ];
    for (const n of nodes) {
      const side = groupedSide(n, v);
      if (!side || side.perGroup % roundTo !== 0) continue;
      // k·per/groups ≡ 0 (mod roundTo)  ⇔  k ≡ 0 (mod roundTo·groups / gcd(roundTo·groups, per)).
      const step = (roundTo * side.groups) / gcd(roundTo * side.groups, m.per);
      if (unit % step !== 0) unit = lcm(unit, step);
      const label = `${n.name || n.opType} (${side.groups} groups)`;
      if (!groupedBy.includes(label)) groupedBy.push(label);
    }
  }
  return { unit, groupedBy };
}
