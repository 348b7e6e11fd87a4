/**
 * What a shape rule sees and returns, and the dimension arithmetic every rule shares.
 *
 * A dimension is a number, a symbolic name (the batch `'N'`) or null (unknown). Rules never
 * guess: when an input they need is missing or not constant they throw `UnknownShape` with
 * the reason, and the output stays unknown. A contradiction (two numbers that must agree but
 * do not) is a `SHAPE_INFERENCE_FAILED` CompilerError naming the node.
 */
import { CompilerError } from '../../errors.js';
import type { Node } from '../../ir/core.js';
import type { StaticDim } from '../../ir/types.js';

export type Shape = StaticDim[];

/** A rule's answer for one output: element type and shape; either may be left out. */
export interface OutInfo {
  elem?: number;
  shape?: Shape;
}

/** Thrown by a rule that cannot compute an output; the engine records `reason`. */
export class UnknownShape extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** A constant (or partly symbolic) small tensor: row-major data and static dims. */
export interface Folded {
  dims: number[];
  data: StaticDim[];
  elem: number;
}

export interface RuleContext {
  readonly node: Node;
  /** The opset of the node's domain. */
  readonly opset: number;
  /** Whether input `i` is given (present and not the empty name). */
  has(i: number): boolean;
  /** Shape of input `i`. @throws UnknownShape when absent or unknown */
  shape(i: number): Shape;
  /** Element type of input `i`, when known. */
  elem(i: number): number | undefined;
  /** Folded contents of input `i` (constant or symbolic), when it folds. */
  folded(i: number): Folded | undefined;
  /** Integer contents of input `i`; every element must be a number. @throws UnknownShape */
  ints(i: number, what: string): number[];
  /** Contents of input `i` as dims: numbers, symbols, nulls. @throws UnknownShape */
  dims(i: number, what: string): StaticDim[];
  /** Throws SHAPE_INFERENCE_FAILED naming the node. */
  fail(message: string): never;
}

export type Rule = (ctx: RuleContext) => OutInfo[];

export function contradiction(node: Node, message: string): CompilerError {
  return new CompilerError('SHAPE_INFERENCE_FAILED', `${node.where} (${node.opType}): ${message}`, {
    where: node.where,
    hint: 'the model is inconsistent here; check the weights and attributes of this node',
  });
}

export function isNum(d: StaticDim): d is number {
  return typeof d === 'number';
}

/** Normalises a possibly negative axis for rank `r`. */
export function normAxis(ctx: RuleContext, axis: number, r: number, what = 'axis'): number {
  const a = axis < 0 ? axis + r : axis;
  if (a < 0 || a >= r) ctx.fail(`${what} ${axis} is out of range for rank ${r}`);
  return a;
}

/** Product of dims: a number when all are numbers, a symbol when one symbol remains beside ones, else null. */
export function prodDims(ds: readonly StaticDim[]): StaticDim {
  let n = 1;
  const syms: string[] = [];
  for (const d of ds) {
    if (d === null) return null;
    if (typeof d === 'string') syms.push(d);
    else n *= d;
  }
  if (syms.length === 0) return n;
  if (n === 0) return 0;
  return syms.length === 1 && n === 1 ? syms[0]! : null;
}

/** Two dims that must be equal: the more precise one, or a contradiction when both are different numbers. */
export function unifyDim(ctx: RuleContext, a: StaticDim, b: StaticDim, what: string): StaticDim {
  if (isNum(a) && isNum(b)) {
    if (a !== b) ctx.fail(`${what}: ${a} vs ${b}`);
    return a;
  }
  if (isNum(a)) return a;
  if (isNum(b)) return b;
  if (a !== null && a === b) return a;
  return a ?? b;
}

/** Numpy (multidirectional) broadcasting of several shapes. */
export function broadcast(ctx: RuleContext, shapes: readonly Shape[]): Shape {
  const r = Math.max(0, ...shapes.map((s) => s.length));
  const out: Shape = [];
  for (let k = 0; k < r; k++) {
    let acc: StaticDim = 1;
    let first = true;
    for (const s of shapes) {
      const i = k - (r - s.length);
      if (i < 0) continue;
      const d = s[i]!;
      if (first) {
        acc = d;
        first = false;
        continue;
      }
      acc = broadcastDim(ctx, acc, d, k);
    }
    out.push(acc);
  }
  return out;
}

function broadcastDim(ctx: RuleContext, a: StaticDim, b: StaticDim, axis: number): StaticDim {
  if (a === 1) return b;
  if (b === 1) return a;
  if (isNum(a) && isNum(b)) {
    if (a !== b) ctx.fail(`cannot broadcast dimension ${axis}: ${a} vs ${b}`);
    return a;
  }
  // A number other than 1 fixes the result: the other side must equal it (or be 1).
  if (isNum(a)) return a;
  if (isNum(b)) return b;
  if (a !== null && a === b) return a;
  return null;
}

/** `attr` ints, or the constant ints of input `i` when the opset moved the attribute to an input. */
export function intsFromAttrOrInput(ctx: RuleContext, attr: string, i: number): number[] | undefined {
  if (ctx.has(i)) return ctx.ints(i, attr);
  return ctx.node.attrInts(attr);
}
