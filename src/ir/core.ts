/**
 * The value-centric IR: Model → Graph → Node, wired by Values.
 *
 * A Value has at most one producer (a node output; none for graph inputs and initializers)
 * and a use list. Node inputs change only through Node methods, which keep every use list
 * right, so a pass can never leave a dangling use behind. Identity is by reference.
 * Subgraphs (If/Loop/Scan bodies) are Graphs held by GRAPH attributes; a node inside a
 * subgraph may read Values of enclosing graphs, and those uses are recorded like any other.
 */
import { CompilerError } from '../errors.js';
import type { Attribute, AttrValue } from './attribute.js';
import { bytesToString } from './attribute.js';
import type { Int, KeyValue, Tensor } from './tensor.js';
import type { StaticDim, TypeInfo, ValueInfo } from './types.js';
import { elemTypeOf, shapeOf, tensorType } from './types.js';
import type { SparseTensor } from './attribute.js';

/** One use of a value: `use.node.inputs[use.index] === value`. */
export interface Use {
  readonly node: Node;
  readonly index: number;
}

export class Value {
  #name: string;
  #info: ValueInfo = {};
  #initializer: Tensor | undefined;
  /** Constant data when this value is a sparse initializer. */
  sparseInitializer?: SparseTensor;
  #graph: Graph | null = null;
  #producer: Node | null = null;
  #producerIndex = -1;
  readonly #uses = new Set<Use>();
  /** How many times a graph's input / output list holds this value (tracked containers). */
  #inputRefs = 0;
  #outputRefs = 0;
  #isInitializer = false;

  constructor(name: string, info: ValueInfo = {}) {
    this.#name = name;
    this.#info = info;
  }

  /** What a ValueInfoProto says about the value (declared or written type). Setting it is a mutation. */
  get info(): ValueInfo {
    return this.#info;
  }
  set info(i: ValueInfo) {
    this.#info = i;
    this.#graph?._touch();
  }
  /** Constant data when this value is an initializer. Setting it is a mutation. */
  get initializer(): Tensor | undefined {
    return this.#initializer;
  }
  set initializer(t: Tensor | undefined) {
    this.#initializer = t;
    this.#graph?._touch();
  }

  get name(): string {
    return this.#name;
  }
  /**
   * Renames the value; the model's name authority learns the name at once.
   * @throws NAME_CONFLICT when another graph output of this value's graph has the name
   *   (renaming into an output's name would make two outputs, or an output and a value,
   *   share a name — the interface of the model must stay unambiguous)
   */
  set name(name: string) {
    if (name === this.#name) return;
    const g = this.#graph;
    if (g) {
      const other = g.outputs.find((o) => o !== this && o.name === name);
      if (other)
        throw new CompilerError('NAME_CONFLICT', `cannot rename "${this.#name}" to "${name}": that is the name of a graph output of "${g.name || 'main'}"`, {
          where: `${g.name || 'main'}/${name}`,
          hint: 'give the value a fresh name (model.names.fresh) or read the output through an Identity node',
        });
      g.model?.names._claim(name);
    }
    this.#name = name;
    this.#graph?._touch();
  }

  /** The graph that defines this value (its scope). */
  get graph(): Graph | null {
    return this.#graph;
  }
  get producer(): Node | null {
    return this.#producer;
  }
  get producerIndex(): number {
    return this.#producerIndex;
  }
  get type(): TypeInfo | undefined {
    return this.info.type;
  }
  set type(t: TypeInfo | undefined) {
    this.#info.type = t;
    this.#graph?._touch();
  }
  /** Static shape, or undefined when unknown. */
  get shape(): StaticDim[] | undefined {
    return shapeOf(this.info.type);
  }
  get elemType(): number | undefined {
    return elemTypeOf(this.info.type);
  }
  setTensorType(elemType: number, shape: readonly StaticDim[] | undefined): void {
    this.#info.type = tensorType(elemType, shape);
    this.#graph?._touch();
  }

  /** Snapshot, safe to iterate while rewiring. */
  uses(): readonly Use[] {
    return [...this.#uses];
  }
  get useCount(): number {
    return this.#uses.size;
  }
  isConstant(): boolean {
    return this.initializer !== undefined;
  }
  /** Whether a graph lists this value as an input. O(1). */
  isGraphInput(): boolean {
    return this.#inputRefs > 0;
  }
  /** Whether a graph (its own, or a subgraph reading it) lists this value as an output. O(1). */
  isGraphOutput(): boolean {
    return this.#outputRefs > 0;
  }
  /** Whether this value is in its graph's initializer list. O(1). */
  isInitializer(): boolean {
    return this.#isInitializer;
  }

  /** Points every node use of this value at `next`. O(uses). */
  replaceAllUsesWith(next: Value): void {
    if (next === this) return;
    for (const u of this.uses()) u.node.setInput(u.index, next);
  }

  /** @internal */ _addUse(u: Use): void {
    this.#uses.add(u);
  }
  /** @internal */ _removeUse(u: Use): void {
    this.#uses.delete(u);
  }
  /** @internal */ _setProducer(n: Node | null, index: number): void {
    this.#producer = n;
    this.#producerIndex = index;
  }
  /** @internal */ _setGraph(g: Graph | null): void {
    this.#graph = g;
    g?.model?.names._claim(this.#name);
  }
  /** @internal */ _countInput(d: 1 | -1): void {
    this.#inputRefs += d;
  }
  /** @internal */ _countOutput(d: 1 | -1): void {
    this.#outputRefs += d;
  }
  /** @internal */ _markInitializer(on: boolean): void {
    this.#isInitializer = on;
  }
}

export interface NodeInit {
  opType: string;
  domain?: string;
  name?: string;
  inputs?: readonly (Value | null)[];
  /** Output values (fresh, unowned) or null for an omitted optional output. */
  outputs?: readonly (Value | null)[];
  attributes?: readonly Attribute[];
}

export class Node {
  opType: string;
  /** '' for the default ONNX domain. */
  domain: string;
  /** Whether the producer wrote the domain field (kept for round trips). */
  domainWritten = false;
  overload?: string;
  docString?: string;
  metadataProps?: KeyValue[];
  /** NodeProto fields the IR does not model (device_configurations), passed through. */
  extra?: { deviceConfigurations?: unknown[] };
  attributes: Attribute[];
  #name: string | undefined;
  #graph: Graph | null = null;
  readonly #inputs: (Value | null)[] = [];
  readonly #inputUses: (Use | null)[] = [];
  readonly #outputs: (Value | null)[] = [];

  constructor(init: NodeInit) {
    this.opType = init.opType;
    this.domain = init.domain ?? '';
    this.#name = init.name;
    this.attributes = [...(init.attributes ?? [])];
    for (const v of init.inputs ?? []) this.appendInput(v);
    for (const v of init.outputs ?? []) this.appendOutput(v);
  }

  get name(): string | undefined {
    return this.#name;
  }
  /** Renames the node; the model's name authority learns the name at once. */
  set name(name: string | undefined) {
    this.#name = name;
    if (name) this.#graph?.model?.names._claim(name);
  }
  get graph(): Graph | null {
    return this.#graph;
  }
  get inputs(): readonly (Value | null)[] {
    return this.#inputs;
  }
  get outputs(): readonly (Value | null)[] {
    return this.#outputs;
  }

  /** Name for messages: `graph/node` with a fallback to the op and first output. */
  get where(): string {
    const g = this.#graph?.name || 'main';
    return `${g}/${this.name || `${this.opType}(${this.#outputs[0]?.name ?? '?'})`}`;
  }

  setInput(index: number, v: Value | null): void {
    if (index < 0 || index >= this.#inputs.length) throw new CompilerError('IR_INVALID', `input index ${index} out of range for ${this.where}`);
    const old = this.#inputUses[index];
    if (old) this.#inputs[index]!._removeUse(old);
    this.#inputs[index] = v;
    this.#graph?._touch();
    if (v) {
      const u = { node: this, index };
      this.#inputUses[index] = u;
      v._addUse(u);
    } else this.#inputUses[index] = null;
  }

  appendInput(v: Value | null): void {
    this.#inputs.push(null);
    this.#inputUses.push(null);
    this.setInput(this.#inputs.length - 1, v);
  }

  /** Removes inputs from `index` on (trailing optional inputs). */
  truncateInputs(count: number): void {
    while (this.#inputs.length > count) {
      this.setInput(this.#inputs.length - 1, null);
      this.#inputs.pop();
      this.#inputUses.pop();
    }
    this.#graph?._touch();
  }

  /** Replaces the whole input list, keeping use lists right. */
  setInputs(vs: readonly (Value | null)[]): void {
    this.truncateInputs(0);
    for (const v of vs) this.appendInput(v);
  }

  appendOutput(v: Value | null): void {
    if (v) {
      if (v.producer) throw new CompilerError('IR_INVALID', `value "${v.name}" already has a producer (${v.producer.where})`);
      v._setProducer(this, this.#outputs.length);
      if (this.#graph) v._setGraph(this.#graph);
    }
    this.#outputs.push(v);
    this.#graph?._touch();
  }

  /** Replaces output `index` by a fresh value (the old one loses its producer). */
  setOutput(index: number, v: Value | null): void {
    const old = this.#outputs[index];
    if (old) {
      old._setProducer(null, -1);
      old._setGraph(null);
    }
    if (v) {
      if (v.producer) throw new CompilerError('IR_INVALID', `value "${v.name}" already has a producer (${v.producer.where})`);
      v._setProducer(this, index);
      if (this.#graph) v._setGraph(this.#graph);
    }
    this.#outputs[index] = v;
    this.#graph?._touch();
  }

  // --- attributes --------------------------------------------------------------------

  attr(name: string): Attribute | undefined {
    return this.attributes.find((a) => a.name === name);
  }
  hasAttr(name: string): boolean {
    return this.attr(name) !== undefined;
  }

  setAttr(a: Attribute): void {
    const i = this.attributes.findIndex((x) => x.name === a.name);
    if (i >= 0) this.attributes[i] = a;
    else this.attributes.push(a);
    this.#graph?._touch();
    if (this.#graph && (a.v.type === 5 || a.v.type === 10)) this.#graph._adoptSubgraphs(this);
  }

  removeAttr(name: string): void {
    this.attributes = this.attributes.filter((a) => a.name !== name);
    this.#graph?._touch();
  }

  attrInt(name: string, dflt: number): number;
  attrInt(name: string): number | undefined;
  attrInt(name: string, dflt?: number): number | undefined {
    const a = this.attr(name);
    return a && a.v.type === 2 ? Number(a.v.value) : dflt;
  }

  attrInts(name: string, dflt: number[]): number[];
  attrInts(name: string): number[] | undefined;
  attrInts(name: string, dflt?: number[]): number[] | undefined {
    const a = this.attr(name);
    return a && a.v.type === 7 ? a.v.value.map(Number) : dflt;
  }

  attrFloat(name: string, dflt: number): number;
  attrFloat(name: string): number | undefined;
  attrFloat(name: string, dflt?: number): number | undefined {
    const a = this.attr(name);
    return a && a.v.type === 1 ? a.v.value : dflt;
  }

  attrFloats(name: string): number[] | undefined {
    const a = this.attr(name);
    return a && a.v.type === 6 ? a.v.value : undefined;
  }

  attrString(name: string, dflt: string): string;
  attrString(name: string): string | undefined;
  attrString(name: string, dflt?: string): string | undefined {
    const a = this.attr(name);
    return a && a.v.type === 3 ? bytesToString(a.v.value) : dflt;
  }

  attrTensor(name: string): Tensor | undefined {
    const a = this.attr(name);
    return a && a.v.type === 4 ? a.v.value : undefined;
  }

  /** Every subgraph held by this node's attributes, in attribute order. */
  subgraphs(): Graph[] {
    const out: Graph[] = [];
    for (const a of this.attributes) {
      if (a.v.type === 5) out.push(a.v.value);
      else if (a.v.type === 10) out.push(...a.v.value);
    }
    return out;
  }

  /** @internal */ _setGraph(g: Graph | null): void {
    this.#graph = g;
    if (this.#name) g?.model?.names._claim(this.#name);
    for (const o of this.#outputs) if (o) o._setGraph(g);
  }
}

export class Graph {
  name: string | undefined;
  docString?: string;
  metadataProps?: KeyValue[];
  /** TensorAnnotation records, passed through. */
  quantizationAnnotation?: { tensorName?: string; quantParameterTensorNames: KeyValue[] }[];
  /** The enclosing graph, for subgraphs. */
  parent: Graph | null = null;
  /** The node whose attribute holds this graph. */
  owner: Node | null = null;
  #model: Model | null = null;
  readonly #nodes: Node[] = [];
  // Tracked containers: changed only through the methods below, which keep each value's
  // input/output/initializer membership (O(1) queries) and the name authority right.
  readonly #inputs: Value[] = [];
  readonly #outputs: Value[] = [];
  readonly #initializers: Value[] = [];
  readonly #sparseInitializers: Value[] = [];
  readonly #valueInfos: Value[] = [];

  constructor(name?: string) {
    this.name = name;
  }

  get nodes(): readonly Node[] {
    return this.#nodes;
  }
  // Read access hands out frozen snapshots, cached until the next change: iterating one
  // while mutating is safe, and a raw push() throws instead of corrupting the graph.
  #views: { inputs?: readonly Value[]; outputs?: readonly Value[]; initializers?: readonly Value[]; sparse?: readonly Value[]; valueInfos?: readonly Value[] } =
    {};

  /** Graph inputs, in order (ONNX before IR 4 also lists initializers here). */
  get inputs(): readonly Value[] {
    return (this.#views.inputs ??= Object.freeze([...this.#inputs]));
  }
  /** Graph outputs, in order: the model's interface. No value appears twice. */
  get outputs(): readonly Value[] {
    return (this.#views.outputs ??= Object.freeze([...this.#outputs]));
  }
  /** Initializers, in file order; each has `initializer` set. */
  get initializers(): readonly Value[] {
    return (this.#views.initializers ??= Object.freeze([...this.#initializers]));
  }
  get sparseInitializers(): readonly Value[] {
    return (this.#views.sparse ??= Object.freeze([...this.#sparseInitializers]));
  }
  /** Values that carry a value_info record, in file order. */
  get valueInfos(): readonly Value[] {
    return (this.#views.valueInfos ??= Object.freeze([...this.#valueInfos]));
  }
  get model(): Model | null {
    return this.#model ?? this.parent?.model ?? null;
  }
  /** @internal */ _setModel(m: Model | null): void {
    this.#model = m;
  }
  /** @internal Records a mutation: bumps the owning model's revision (analyses cached for the old one go stale). */
  _touch(): void {
    this.model?._bump();
  }

  // --- inputs ------------------------------------------------------------------------

  /** Adds a graph input (or claims an existing unowned value as one), at `index` or last. */
  addInput(v: Value, index = this.#inputs.length): Value {
    if (this.#inputs.includes(v))
      throw new CompilerError('DUPLICATE_VALUE', `"${v.name}" is already an input of graph "${this.name || 'main'}"`, { where: v.name });
    v._setGraph(this);
    this.#inputs.splice(index, 0, v);
    this.#views.inputs = undefined;
    this._touch();
    v._countInput(1);
    return v;
  }

  /** Removes `v` from the input list (the value itself stays, e.g. as an initializer). O(inputs). */
  removeInput(v: Value): void {
    const i = this.#inputs.indexOf(v);
    if (i < 0) throw new CompilerError('MISSING_VALUE', `"${v.name}" is not an input of graph "${this.name || 'main'}"`, { where: v.name });
    if (!v.isInitializer() && v.useCount > 0)
      throw new CompilerError('IN_USE', `graph input "${v.name}" is still read by ${v.useCount} node input(s)`, { where: v.name });
    this.#inputs.splice(i, 1);
    this.#views.inputs = undefined;
    this._touch();
    v._countInput(-1);
  }

  // --- outputs -----------------------------------------------------------------------

  /**
   * Lists `v` as a graph output, at `index` or last.
   * @throws DUPLICATE_OUTPUT when `v`, or another value with its name, is already an output
   */
  addOutput(v: Value, index = this.#outputs.length): Value {
    const clash = this.#outputs.find((o) => o === v || o.name === v.name);
    if (clash)
      throw new CompilerError('DUPLICATE_OUTPUT', `graph "${this.name || 'main'}" already has an output named "${v.name}"`, {
        where: `${this.name || 'main'}/${v.name}`,
        hint: 'read the value through an Identity node with a fresh name',
      });
    if (!v.graph) v._setGraph(this);
    this.#outputs.splice(index, 0, v);
    this.#views.outputs = undefined;
    this._touch();
    v._countOutput(1);
    return v;
  }

  /** Removes `v` from the output list; the value and its producer stay. O(outputs). */
  removeOutput(v: Value): void {
    const i = this.#outputs.indexOf(v);
    if (i < 0) throw new CompilerError('MISSING_VALUE', `"${v.name}" is not an output of graph "${this.name || 'main'}"`, { where: v.name });
    this.#outputs.splice(i, 1);
    this.#views.outputs = undefined;
    this._touch();
    v._countOutput(-1);
  }

  /** Puts `v` in output slot `index` (the old value stays in the graph, unlisted). */
  setOutput(index: number, v: Value): void {
    const old = this.#outputs[index];
    if (!old) throw new CompilerError('IR_INVALID', `output index ${index} out of range for graph "${this.name || 'main'}"`);
    if (old === v) return;
    const clash = this.#outputs.find((o, i) => i !== index && (o === v || o.name === v.name));
    if (clash)
      throw new CompilerError('DUPLICATE_OUTPUT', `graph "${this.name || 'main'}" already has an output named "${v.name}"`, {
        where: `${this.name || 'main'}/${v.name}`,
      });
    old._countOutput(-1);
    this.#outputs[index] = v;
    this.#views.outputs = undefined;
    this._touch();
    v._countOutput(1);
  }

  // --- initializers ------------------------------------------------------------------

  /** Adds a constant value; its tensor is stored under the value's name. */
  addInitializer(v: Value, t: Tensor): Value {
    if (v.isInitializer()) throw new CompilerError('DUPLICATE_VALUE', `"${v.name}" is already an initializer`, { where: v.name });
    v.initializer = t;
    v._setGraph(this);
    this.#initializers.push(v);
    this.#views.initializers = undefined;
    this._touch();
    v._markInitializer(true);
    return v;
  }

  /** Removes an unused initializer (and its graph-input and value_info entries, if any). */
  removeInitializer(v: Value): void {
    if (v.useCount > 0 || v.isGraphOutput()) {
      throw new CompilerError('IN_USE', `initializer "${v.name}" is still used`, { where: v.name });
    }
    const i = this.#initializers.indexOf(v);
    if (i < 0) throw new CompilerError('MISSING_VALUE', `"${v.name}" is not an initializer of graph "${this.name || 'main'}"`, { where: v.name });
    this.#initializers.splice(i, 1);
    this.#views.initializers = undefined;
    this._touch();
    v._markInitializer(false);
    const j = this.#inputs.indexOf(v);
    if (j >= 0) {
      this.#inputs.splice(j, 1);
      this.#views.inputs = undefined;
      this._touch();
      v._countInput(-1);
    }
    this.#dropValueInfo((x) => x === v);
    v.initializer = undefined;
    v._setGraph(null);
    this._touch();
  }

  /** Adds a sparse constant value. */
  addSparseInitializer(v: Value, s: SparseTensor): Value {
    v.sparseInitializer = s;
    v._setGraph(this);
    this.#sparseInitializers.push(v);
    this.#views.sparse = undefined;
    this._touch();
    return v;
  }

  // --- value_info --------------------------------------------------------------------

  /** Records that `v` carries a value_info entry (written back in this order). */
  addValueInfo(v: Value): Value {
    if (!v.graph) v._setGraph(this);
    this.#valueInfos.push(v);
    this.#views.valueInfos = undefined;
    this._touch();
    return v;
  }

  /** Drops the value_info entries of every value for which `drop` is true. */
  removeValueInfos(drop: (v: Value) => boolean): void {
    this.#dropValueInfo(drop);
  }

  #dropValueInfo(drop: (v: Value) => boolean): void {
    for (let i = this.#valueInfos.length - 1; i >= 0; i--) if (drop(this.#valueInfos[i]!)) this.#valueInfos.splice(i, 1);
    this.#views.valueInfos = undefined;
    this._touch();
  }

  // --- nodes -------------------------------------------------------------------------

  appendNode(n: Node): Node {
    return this.insertNodeAt(this.#nodes.length, n);
  }

  insertBefore(ref: Node, n: Node): Node {
    return this.insertNodeAt(this.indexOf(ref), n);
  }

  insertAfter(ref: Node, n: Node): Node {
    return this.insertNodeAt(this.indexOf(ref) + 1, n);
  }

  insertNodeAt(index: number, n: Node): Node {
    if (n.graph) throw new CompilerError('IR_INVALID', `node ${n.where} already belongs to a graph`);
    this.#nodes.splice(index, 0, n);
    n._setGraph(this);
    this._adoptSubgraphs(n);
    this._touch();
    return n;
  }

  /** @internal Makes `n`'s subgraphs children of this graph and registers their names. */
  _adoptSubgraphs(n: Node): void {
    const names = this.model?.names;
    for (const g of n.subgraphs()) {
      g.parent = this;
      g.owner = n;
      if (names) names._claimGraph(g);
    }
  }

  indexOf(n: Node): number {
    const i = this.#nodes.indexOf(n);
    if (i < 0) throw new CompilerError('IR_INVALID', `node ${n.where} is not in graph "${this.name ?? 'main'}"`);
    return i;
  }

  /**
   * Removes a node. Checks first, then mutates: its outputs must be unused (unless
   * `force`), and it drops its own input uses. O(nodes).
   */
  removeNode(n: Node, force = false): void {
    const i = this.indexOf(n);
    if (!force) {
      for (const o of n.outputs) {
        if (!o) continue;
        if (o.useCount > 0)
          throw new CompilerError('IN_USE', `cannot remove ${n.where}: output "${o.name}" still has ${o.useCount} use(s)`, { where: n.where });
        if (o.isGraphOutput()) throw new CompilerError('IN_USE', `cannot remove ${n.where}: output "${o.name}" is a graph output`, { where: n.where });
      }
    }
    n.truncateInputs(0);
    for (const sg of n.subgraphs()) detachUses(sg);
    this.#nodes.splice(i, 1);
    n._setGraph(null);
    this.#dropValueInfo((v) => v.producer === n);
    this._touch();
  }

  /** Reorders nodes (used by the topological sort); `order` must be a permutation. */
  reorder(order: readonly Node[]): void {
    if (order.length !== this.#nodes.length) throw new CompilerError('IR_INVALID', 'reorder: not a permutation');
    this.#nodes.splice(0, this.#nodes.length, ...order);
    this._touch();
  }

  /**
   * Replaces `old` by `next` everywhere in this graph: node uses (subgraphs included) and
   * graph outputs. Output names are the model's interface, so an output slot of `old`
   * keeps its name:
   *  - `next` is a plain value of this graph: `next` takes the name; `old` gets a fresh one.
   *  - `next` is already a graph output or input, or lives in another graph (renaming it
   *    would change another interface, or yield two outputs with one name): a new
   *    `Identity(next)` carrying the old name fills the slot.
   * Never produces duplicate or lost outputs. O(uses + outputs).
   */
  replaceValue(old: Value, next: Value): void {
    if (old === next) return;
    old.replaceAllUsesWith(next);
    const slot = this.#outputs.indexOf(old);
    if (slot < 0) return;
    const name = old.name;
    const info = old.info;
    const fresh = (base: string) => this.model?.names.fresh(base) ?? base;
    const canRename = next.graph === this && !next.isGraphOutput() && !next.isGraphInput();
    let filler: Value;
    if (canRename) {
      filler = next;
    } else {
      filler = new Value(fresh(`${name}_identity`));
      this.appendNode(new Node({ opType: 'Identity', name: fresh(`${name}_identity`), inputs: [next], outputs: [filler] }));
    }
    this.setOutput(slot, filler);
    old.name = fresh(`${name}_old`);
    filler.name = name;
    if (!filler.info.type && info.type) filler.info = { ...info, type: structuredClone(info.type) };
  }

  /** Every node of this graph and its subgraphs, depth-first, parents before children. */
  *allNodes(): Generator<Node> {
    for (const n of this.#nodes) {
      yield n;
      for (const g of n.subgraphs()) yield* g.allNodes();
    }
  }

  /** Finds a value defined in this graph (not in enclosing ones) by name. O(nodes). */
  findValue(name: string): Value | undefined {
    for (const v of this.#inputs) if (v.name === name) return v;
    for (const v of this.#initializers) if (v.name === name) return v;
    for (const n of this.#nodes) for (const o of n.outputs) if (o && o.name === name) return o;
    return undefined;
  }

  findNode(name: string): Node | undefined {
    return this.#nodes.find((n) => n.name === name);
  }
}

function detachUses(g: Graph): void {
  for (const n of g.nodes) {
    n.truncateInputs(0);
    for (const sg of n.subgraphs()) detachUses(sg);
  }
}

export interface OpsetId {
  domain: string;
  version: Int;
  /** False when the producer left the domain field out. */ domainWritten?: boolean;
}

export class Model {
  irVersion: Int | undefined;
  opsetImports: OpsetId[] = [];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: Int;
  docString?: string;
  metadataProps?: KeyValue[];
  /** Fields the IR does not model, passed through as decoded: functions, training_info, configuration. */
  extra: { functions?: unknown[]; trainingInfo?: unknown[]; configuration?: unknown[] } = {};
  /** Folder the model was read from; external data resolves against it. */
  baseDir?: string;
  readonly names: NameAuthority = new NameAuthority(this);
  #graph!: Graph;
  #revision = 0;

  constructor(graph: Graph) {
    this.graph = graph;
  }

  get graph(): Graph {
    return this.#graph;
  }
  set graph(g: Graph) {
    this.#graph = g;
    g._setModel(this);
    this.names._forget();
    this.#revision++;
  }

  /**
   * Counts mutations: every IR method that changes the model (node inputs/outputs and
   * attributes, nodes added/removed/reordered, graph inputs/outputs, initializers, value
   * names and types) bumps it. Analyses are cached per revision (src/analysis/manager.ts).
   */
  get revision(): number {
    return this.#revision;
  }
  /** @internal Records a mutation (the IR's own methods call it). */
  _bump(): void {
    this.#revision++;
  }

  /** The opset version imported for a domain ('' and 'ai.onnx' are the same). */
  opset(domain = ''): number | undefined {
    const d = domain === 'ai.onnx' ? '' : domain;
    const o = this.opsetImports.find((x) => (x.domain === 'ai.onnx' ? '' : x.domain) === d);
    return o === undefined ? undefined : Number(o.version);
  }
}

/**
 * Hands out names that are unique in the whole model (values and nodes share the
 * check), deterministic for the same sequence of requests so printed IR is stable.
 * Every name is registered as it appears: a value or node that joins a graph of the
 * model, or is renamed there, is claimed at once, so a hand-made name is never handed
 * out again (no snapshot to go stale, nothing to reset). Names are never released.
 */
export class NameAuthority {
  readonly #model: Model;
  #taken: Set<string> | null = null;
  readonly #next = new Map<string, number>();
  constructor(model: Model) {
    this.#model = model;
  }

  #collect(): Set<string> {
    const s = new Set<string>();
    const walk = (g: Graph): void => {
      for (const v of g.inputs) s.add(v.name);
      for (const v of g.initializers) s.add(v.name);
      for (const v of g.sparseInitializers) s.add(v.name);
      for (const v of g.valueInfos) s.add(v.name);
      for (const v of g.outputs) s.add(v.name);
      for (const n of g.nodes) {
        if (n.name) s.add(n.name);
        for (const o of n.outputs) if (o) s.add(o.name);
        for (const sg of n.subgraphs()) walk(sg);
      }
    };
    walk(this.#model.graph);
    return s;
  }

  /** `base` if free, else `base_1`, `base_2`, ... */
  fresh(base: string): string {
    this.#taken ??= this.#collect();
    let name = base;
    // Counting on from the last suffix handed out keeps n calls with one base O(n), not O(n²).
    let i = this.#next.get(base) ?? 1;
    for (; this.#taken.has(name); i++) name = `${base}_${i}`;
    this.#next.set(base, i);
    this.#taken.add(name);
    return name;
  }

  /** Whether `name` is held by a value or node of the model. O(1) after the first call. */
  isTaken(name: string): boolean {
    this.#taken ??= this.#collect();
    return this.#taken.has(name);
  }

  /** @internal Called by the IR when a name appears in the model. */
  _claim(name: string): void {
    this.#taken?.add(name);
  }

  /** @internal Claims every name in a subgraph that joins the model. */
  _claimGraph(g: Graph): void {
    if (!this.#taken) return;
    for (const v of g.inputs) this.#taken.add(v.name);
    for (const v of g.initializers) this.#taken.add(v.name);
    for (const v of g.outputs) this.#taken.add(v.name);
    for (const n of g.nodes) {
      if (n.name) this.#taken.add(n.name);
      for (const o of n.outputs) if (o) this.#taken.add(o.name);
      for (const sg of n.subgraphs()) this._claimGraph(sg);
    }
  }

  /** @internal The model's graph was replaced: collect again on next use. */
  _forget(): void {
    this.#taken = null;
  }
}

export type { Attribute, AttrValue, StaticDim };
