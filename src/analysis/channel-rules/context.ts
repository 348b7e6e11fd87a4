/**
 * What a channel rule sees and may do. A rule is called once per (node, slot) pair when the
 * worklist reaches a node through one of its input or output slots (a slot is one axis of
 * one value). It links atoms (single channel positions) of that slot to atoms of other
 * slots of the same node, creates those slots (which the worklist then follows further),
 * or freezes the slot with a reason when the op would not stay exact after pruning.
 *
 * Rules never guess: when a shape, attribute or constant they need is unknown they freeze.
 * Edits that pruning forces on a node besides slicing tensors (a `group` attribute, a
 * Reshape target, Split sizes, Slice bounds) are recorded as fixups and run by the
 * prune-channels pass after the slicing.
 */
import type { Model, Node, Value } from '../../ir/core.js';
import type { Tensor } from '../../ir/tensor.js';
import type { StaticDim } from '../../ir/types.js';

/** Whether the slot's value is a constant tensor (sliced) or computed (its shape shrinks). */
export type SlotKind = 'constant' | 'activation';

/**
 * How a constant slot takes part in the layer that reads it, for importance criteria:
 * `out` = filters of a Conv/Gemm/MatMul (one per output channel), `in` = the input-channel
 * axis of a weight, `param` = bias, BatchNormalization statistics, per-channel constants.
 */
export type SlotRole = 'out' | 'in' | 'param';

/** One axis of one value, whose positions are channels that may be removed. */
export interface ChannelSlot {
  readonly id: number;
  readonly value: Value;
  readonly axis: number;
  /** Positions along the axis. */
  readonly size: number;
  readonly kind: SlotKind;
  /** First atom of this slot in the union-find (atoms base .. base+size-1). */
  readonly base: number;
  /** The node whose weight this constant slot is, with its role there. */
  roles: { role: SlotRole; node: Node }[];
  /** Why this slot may not lose channels (empty: prunable as far as it alone goes). */
  readonly frozen: string[];
}

/** Where the worklist entered the node. */
export interface Origin {
  readonly slot: ChannelSlot;
  readonly value: Value;
  readonly axis: number;
  /** Whether the value is one of the node's inputs or outputs. */
  readonly side: 'in' | 'out';
  /** Input or output position of the value on the node (first one when it appears twice). */
  readonly index: number;
}

/** What a fixup can read and change when the pass applies a pruning. */
export interface FixupContext {
  readonly model: Model;
  /** The slot of (v, axis) when the analysis created one. */
  slotOf(v: Value, axis: number): ChannelSlot | undefined;
  /** Sorted removed positions of a slot (empty when it loses nothing). */
  removed(s: ChannelSlot): Int32Array;
  /** Positions left after pruning. */
  newSize(s: ChannelSlot): number;
  /** Points input `i` of `node` at a new constant holding `t` (a fresh initializer; the old one goes when unused). */
  setConstInput(node: Node, i: number, t: Tensor): void;
}

export type Fixup = (ctx: FixupContext) => void;

export interface ChannelRuleContext {
  readonly model: Model;
  readonly node: Node;
  readonly origin: Origin;
  /** The opset of the node's domain. */
  readonly opset: number;
  /** Static shape of a value (from value info or constant dims). */
  shape(v: Value | null | undefined): StaticDim[] | undefined;
  /** Constant contents of a small value (initializer, Constant node, folded shape chain), entries may be symbolic or null. */
  folded(v: Value | null | undefined): { dims: number[]; data: StaticDim[] } | undefined;
  /** Constant integer contents, undefined unless every entry is a number. */
  ints(v: Value | null | undefined): number[] | undefined;
  /** Gets or creates the slot (v, axis); undefined (and the origin frozen) when its size is unknown. */
  slot(v: Value, axis: number, size?: number): ChannelSlot | undefined;
  /** Couples position `ai` of `a` with position `bi` of `b`. */
  link(a: ChannelSlot, ai: number, b: ChannelSlot, bi: number): void;
  /** Couples every position of `a` with the same position of `b` (sizes must agree, else both freeze). */
  identity(a: ChannelSlot, b: ChannelSlot): void;
  /** Couples a with b after v is known: creates the slot of (v, axis) and links it identically to `a`. */
  identityTo(a: ChannelSlot, v: Value | null | undefined, axis: number): ChannelSlot | undefined;
  freeze(s: ChannelSlot, reason: string): void;
  /** Freezes the origin slot with a reason naming this node. */
  freezeOrigin(reason: string): void;
  /** Records a constant slot's role for importance criteria. */
  role(s: ChannelSlot, role: SlotRole): void;
  /** Registers an edit to run when pruning is applied; one per `key` per node. */
  fixup(key: string, f: Fixup): void;
}

export type ChannelRule = (ctx: ChannelRuleContext) => void;

/** Normalises a possibly negative axis; undefined when out of range. */
export function normAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}
