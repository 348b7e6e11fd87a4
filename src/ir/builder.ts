/**
 * A convenience layer for building graphs in code (reference models, tests, passes that
 * emit new subgraphs). Every value it creates gets a fresh name from the model's name
 * authority, so built models print stably.
 */
import type { Attribute } from './attribute.js';
import { Graph, Model, Node, Value } from './core.js';
import { DataType } from './data-type.js';
import { Tensor } from './tensor.js';
import type { StaticDim } from './types.js';

export interface NewModelOptions {
  graphName?: string;
  opset?: number;
  irVersion?: number;
  producerName?: string;
}

export class GraphBuilder {
  readonly model: Model;
  readonly graph: Graph;
  /** Where new nodes go: appended, or before this node. */
  insertBefore: Node | null = null;

  constructor(model: Model, graph: Graph = model.graph) {
    this.model = model;
    this.graph = graph;
  }

  /** A fresh, empty model with one opset import. */
  static newModel(opts: NewModelOptions = {}): GraphBuilder {
    const m = new Model(new Graph(opts.graphName ?? 'main'));
    m.irVersion = opts.irVersion ?? 8;
    m.opsetImports = [{ domain: '', version: opts.opset ?? 17 }];
    m.producerName = opts.producerName ?? 'sculpt';
    return new GraphBuilder(m);
  }

  fresh(base: string): string {
    return this.model.names.fresh(base);
  }

  input(name: string, shape: readonly StaticDim[], elemType: number = DataType.FLOAT): Value {
    const v = new Value(this.fresh(name));
    v.setTensorType(elemType, shape);
    return this.graph.addInput(v);
  }

  /** Marks `v` as a graph output, renaming it to `name` when given. */
  output(v: Value, name?: string): Value {
    if (name && v.name !== name) v.name = this.fresh(name);
    if (!v.type) v.info.type = { kind: 'tensor', elemType: DataType.FLOAT };
    this.graph.addOutput(v);
    return v;
  }

  initializer(name: string, t: Tensor): Value {
    const v = new Value(this.fresh(name));
    t.name = v.name;
    return this.graph.addInitializer(v, t);
  }

  floats(name: string, dims: number[], data: Float32Array | number[]): Value {
    return this.initializer(name, Tensor.fromFloat32(name, dims, data));
  }

  int64s(name: string, dims: number[], data: readonly (number | bigint)[]): Value {
    return this.initializer(name, Tensor.fromInt64(name, dims, data));
  }

  /** Adds a node with `outputs` fresh output values; returns them. */
  node(
    opType: string,
    inputs: readonly (Value | null)[],
    attrs: readonly Attribute[] = [],
    opts: { name?: string; outputs?: number; domain?: string } = {},
  ): Value[] {
    const base = opts.name ?? opType.toLowerCase();
    const name = this.fresh(base);
    const outs = Array.from({ length: opts.outputs ?? 1 }, (_, i) => new Value(this.fresh(i === 0 ? `${name}_out` : `${name}_out${i}`)));
    const n = new Node({ opType, domain: opts.domain, name, inputs, outputs: outs, attributes: attrs });
    if (this.insertBefore) this.graph.insertBefore(this.insertBefore, n);
    else this.graph.appendNode(n);
    return outs;
  }

  /** Single-output shorthand of `node`. */
  op(opType: string, inputs: readonly (Value | null)[], attrs: readonly Attribute[] = [], name?: string): Value {
    return this.node(opType, inputs, attrs, { name })[0]!;
  }
}
