/**
 * The side table shape inference returns: an element type and static shape per value,
 * kept apart from the IR (analyses never write the IR). A value the table has no entry for
 * reads as what the model declares (`value.type`), so a table is a view "declared types,
 * refined by inference and the given input shapes".
 *
 * ```ts
 * const { shapes } = inferShapes(model, { inputShapes: { x: [1, 3, 48, 192] } });
 * shapes.shape(model.graph.findValue('conv1_out')!);   // [1, 64, 24, 96]
 * model.graph.findValue('conv1_out')!.shape;           // unchanged: what the file declared
 * ```
 */
import type { Value } from '../ir/core.js';
import type { StaticDim, TypeInfo } from '../ir/types.js';
import { elemTypeOf, shapeOf } from '../ir/types.js';

/** Read-only view of value types: what analyses read shapes from. */
export interface ShapeLookup {
  type(v: Value): TypeInfo | undefined;
  /** Static shape (numbers, symbolic names, null for unknown dims), undefined when the rank is unknown. */
  shape(v: Value): StaticDim[] | undefined;
  elemType(v: Value): number | undefined;
}

/** The declared types only: `value.type` as the model holds it. */
export const DECLARED_SHAPES: ShapeLookup = {
  type: (v) => v.type,
  shape: (v) => v.shape,
  elemType: (v) => v.elemType,
};

export class ShapeTable implements ShapeLookup {
  readonly #types = new Map<Value, TypeInfo | undefined>();

  type(v: Value): TypeInfo | undefined {
    return this.#types.has(v) ? this.#types.get(v) : v.type;
  }
  shape(v: Value): StaticDim[] | undefined {
    return shapeOf(this.type(v));
  }
  elemType(v: Value): number | undefined {
    return elemTypeOf(this.type(v));
  }
  /** Whether inference recorded something for `v` (else it reads as declared). */
  has(v: Value): boolean {
    return this.#types.has(v);
  }
  set(v: Value, t: TypeInfo | undefined): void {
    this.#types.set(v, t);
  }
  /** Every recorded (value, type), in recording order (topological per graph). */
  entries(): IterableIterator<[Value, TypeInfo | undefined]> {
    return this.#types.entries();
  }
  get size(): number {
    return this.#types.size;
  }
}
