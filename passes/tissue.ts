/**
 * tissue: replaces chosen Conv / Gemm / MatMul layers by TissueNet stacked layers — m small
 * independent units side by side, each `n1 → n2 → n3` with an activation between its two
 * weight layers (METHODS.md §1). The planner (src/tissue) decides which layers and which
 * units; this pass writes the nodes.
 *
 * Cases:
 *  1. Conv, equal units → two grouped convs (group = m): the first with kernel k1, the
 *     original strides/dilations and pads adjusted so the output size is unchanged; the
 *     second with kernel k2, stride 1, 'same' pads.
 *  2. Conv, hybrid units → Split (channels) → one grouped conv pair per run of equal
 *     consecutive units (a run of c units is exactly c units side by side) → Concat.
 *  3. Gemm / MatMul, equal units → grouped dense as batched MatMul:
 *     Reshape [.., m, n1] → Transpose (m first) → MatMul [m, n1, n2] → Add → act →
 *     MatMul [m, n2, n3] → (Add) → Transpose back → Reshape [.., C_out].
 *     Why this form: measured with onnxruntime-node 1.x CPU, 1 thread (784→500, m=4, n2=20;
 *     500→300; 512→512 m=8 and m=32), it was within ~1.5x of the best form everywhere:
 *     batch 1: 0.025 ms vs 0.021 for grouped 1x1 Conv on [N, C, 1, 1] and 0.024 for
 *     Split → Gemm per unit → Concat; batch 128: 0.19 ms vs 0.37 (Conv: one GEMV per image
 *     and group) and 0.19 (Split; but 0.08 ms at batch 1 with m=32: a node per unit).
 *  4. dense, hybrid units → Split (last axis) → per run: case 3 with m = run length, or
 *     MatMul → Add → act → MatMul → (Add) for a single unit → Concat.
 *  5. a stacked layer reading a stacked layer, with `shuffle` → channel shuffle on its input
 *     (Reshape [.., g, C/g, ..] → Transpose → Reshape to the input's own Shape).
 *  6. a layer the strategy skips, or whose channels the spec does not fit → left alone, remark
 *     (an error instead when the layer was named explicitly: TISSUE_SPEC_INVALID).
 * The original output value keeps its name and uses; the old weights go when unused.
 *
 *   before:  %y = Conv[k=3, pads=1](%x[64ch], %W[64,64,3,3], %b)
 *   after:   %h = Conv[group=4, k=3, pads=1](%x, %W1[4·n2,16,3,3], %b1)   (units 16:n2:16)
 *            %a = Relu(%h)
 *            %y = Conv[group=4, k=1](%a, %W2[64,n2,1,1], %b2)
 *
 *   before:  %y = Gemm[transB=1](%x[N,784], %W[500,784], %b)
 *   after:   %r = Reshape(%x, [0,4,196])  %t = Transpose[1,0,2](%r)
 *            %h = Add(MatMul(%t, %W1[4,196,n2]), %b1[4,1,n2])  %a = Relu(%h)
 *            %o = Add(MatMul(%a, %W2[4,n2,125]), %b2[4,1,125])
 *            %y = Reshape(Transpose[1,0,2](%o), [0,500])
 */
import {
  DataType,
  GraphBuilder,
  Rng,
  Tensor,
  addConstant,
  attrFloat,
  attrInt,
  attrInts,
  attrString,
  AnalysisManager,
  costAnalysis,
  costContext,
  dropIfUnused,
  initStackedLayer,
  nodeCost,
  originalWeights,
  parseLayerSpec,
  parseUnit,
  parseUnitList,
  passOption,
  planTissue,
  resolveWeight,
  shapesAnalysis,
  TISSUE_ACTIVATIONS,
  TISSUE_INITS,
} from '../src/core.js';
import type {
  AutoChoice,
  CostContext,
  LayerCost,
  LayerPlan,
  LayerSpec,
  Model,
  Node,
  Pass,
  PassContext,
  PassDefinition,
  PassOption,
  PassResult,
  SkippedLayer,
  TissueActivation,
  TissueOptions,
  TissuePlan,
  UnitRun,
  UnitWeights,
  Value,
  WeightForm,
} from '../src/core.js';

/** What the pass did to one layer. */
export interface TissueLayerReport {
  name: string;
  op: string;
  kind: 'conv' | 'dense';
  cIn: number;
  cOut: number;
  kernel: number[];
  /** The spec the layer was planned from (`g4`, `16:32:16`, `4:8:4,8:8:8`). */
  spec: string;
  /** Number of units (positions). */
  groups: number;
  equal: boolean;
  /** Runs of equal consecutive units, in channel order: `n1:n2:n3[:k1:k2]` and count. */
  runs: { unit: string; count: number }[];
  shuffleGroups?: number;
  /** `original` init: relative Frobenius error of the starting linear map. */
  fitError?: number;
  original: LayerCost;
  /** METHODS.md's formulas. */
  stacked: LayerCost;
  denseEquivalent: LayerCost;
  /** computeCost over the emitted nodes (params: distinct initializer elements). */
  counted: { params: number; macs: number };
  /** Analytic and counted agree. */
  matches: boolean;
  /** Names of the emitted nodes and initializers. */
  nodes: string[];
  initializers: string[];
}

export interface TissueReport {
  strategy: string;
  activation: TissueActivation;
  init: string;
  seed: number;
  shuffle: boolean;
  layers: TissueLayerReport[];
  skipped: SkippedLayer[];
  notes: { where: string; message: string }[];
  auto?: AutoChoice;
  /** Model totals at batch 1, counted by computeCost before and after. */
  before: { macs: number; flops: number; params: number };
  after: { macs: number; flops: number; params: number };
  /** The planner's analytic model totals after the rewrite. */
  planned: { macs: number; params: number };
}

/** Options of the pass: the planner's options (src/tissue/plan.ts), and a progress hook. */
export interface TissuePassOptions extends TissueOptions {
  /** Called after each stacked layer is initialised and written (progress). */
  onLayer?: (done: number, total: number) => void;
}

class Emitter {
  readonly b: GraphBuilder;
  readonly nodes: string[] = [];
  readonly inits: string[] = [];
  readonly opset: number;
  /** Clip's bounds, shared by every unit run of the layer. */
  clipBounds?: [Value, Value];

  constructor(
    readonly model: Model,
    readonly at: Node,
    readonly base: string,
    readonly plan: TissuePlan,
    readonly form: WeightForm,
  ) {
    this.b = new GraphBuilder(model);
    this.b.insertBefore = at;
    this.opset = model.opset('') ?? 21;
  }

  op(type: string, inputs: (Value | null)[], attrs: ReturnType<typeof attrInt>[], name: string): Value {
    const v = this.b.op(type, inputs, attrs, `${this.base}.tissue.${name}`);
    this.nodes.push(v.producer!.name!);
    return v;
  }

  /** A float weight, in the form the original layer's weight came in (initializer or Constant node). */
  floats(name: string, dims: number[], data: Float32Array): Value {
    const base = `${this.base}.tissue.${name}`;
    const v =
      this.plan.canonicalize || this.form === 'initializer'
        ? this.b.floats(base, dims, data)
        : addConstant(this.model, this.at.graph!, 'constant', base, Tensor.fromFloat32(undefined, dims, data), this.at);
    v.setTensorType(DataType.FLOAT, dims);
    this.inits.push(v.name);
    return v;
  }

  int64s(name: string, data: number[]): Value {
    const v = this.b.int64s(`${this.base}.tissue.${name}`, [data.length], data);
    v.setTensorType(DataType.INT64, [data.length]);
    this.inits.push(v.name);
    return v;
  }

  activation(x: Value, name: string): Value {
    switch (this.plan.activation) {
      case 'relu':
        return this.op('Relu', [x], [], name);
      case 'leaky-relu':
        return this.op('LeakyRelu', [x], [attrFloat('alpha', this.plan.leakyAlpha)], name);
      case 'tanh':
        return this.op('Tanh', [x], [], name);
      case 'sigmoid':
        return this.op('Sigmoid', [x], [], name);
      case 'relu6':
        if (this.opset < 11) return this.op('Clip', [x], [attrFloat('max', 6), attrFloat('min', 0)], name);
        this.clipBounds ??= [this.floats('relu6.min', [], Float32Array.of(0)), this.floats('relu6.max', [], Float32Array.of(6))];
        return this.op('Clip', [x, ...this.clipBounds], [], name);
      case 'none':
        return x;
    }
  }

  split(x: Value, axis: number, sizes: number[]): Value[] {
    const attrs = [attrInt('axis', axis)];
    const inputs: Value[] = [x];
    if (this.opset >= 13) inputs.push(this.int64s('split_sizes', sizes));
    else attrs.push(attrInts('split', sizes));
    const outs = this.b.node('Split', inputs, attrs, { name: `${this.base}.tissue.split`, outputs: sizes.length });
    this.nodes.push(outs[0]!.producer!.name!);
    return outs;
  }

  /** Channel shuffle with g groups on axis `axis` of a rank-`rank` value with C channels. */
  shuffle(x: Value, axis: number, rank: number, c: number, g: number): Value {
    const tail = axis < rank - 1;
    const target = [...new Array<number>(axis).fill(0), g, c / g, ...(tail ? [-1] : [])];
    const r = this.op('Reshape', [x, this.int64s('shuffle_shape', target)], [], 'shuffle.reshape');
    const perm = target.map((_, i) => (i === axis ? axis + 1 : i === axis + 1 ? axis : i));
    const t = this.op('Transpose', [r], [attrInts('perm', perm)], 'shuffle.transpose');
    const s = this.op('Shape', [x], [], 'shuffle.shape');
    return this.op('Reshape', [t, s], [], 'shuffle.restore');
  }
}

function concatUnits(ws: readonly UnitWeights[], pick: (u: UnitWeights) => Float32Array): Float32Array {
  const total = ws.reduce((a, u) => a + pick(u).length, 0);
  const out = new Float32Array(total);
  let off = 0;
  for (const u of ws) {
    out.set(pick(u), off);
    off += pick(u).length;
  }
  return out;
}

/** [rows, cols] row-major → [cols, rows], for each unit, concatenated. */
function transposedUnits(ws: readonly UnitWeights[], pick: (u: UnitWeights) => Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(ws.length * rows * cols);
  ws.forEach((u, j) => {
    const m = pick(u);
    const off = j * rows * cols;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[off + c * rows + r] = m[r * cols + c]!;
  });
  return out;
}

function convRun(e: Emitter, x: Value, lp: LayerPlan, run: UnitRun, ws: readonly UnitWeights[], tag: string): Value {
  const u = run.unit;
  const layer = lp.layer;
  const c = run.count;
  const sd = layer.kernel.length;
  const w1 = e.floats(
    `${tag}w1`,
    [c * u.n2, u.n1, ...u.k1],
    concatUnits(ws, (w) => w.w1),
  );
  const b1 = e.floats(
    `${tag}b1`,
    [c * u.n2],
    concatUnits(ws, (w) => w.b1),
  );
  const a1 = [attrInt('group', c), attrInts('kernel_shape', [...u.k1]), attrInts('strides', [...layer.strides]), attrInts('dilations', [...layer.dilations])];
  if (run.pads1) a1.push(attrInts('pads', [...run.pads1]));
  else a1.push(attrString('auto_pad', run.autoPad1));
  const h = e.op('Conv', [x, w1, b1], a1, `${tag}conv1`);
  const a = e.activation(h, `${tag}act`);
  const w2 = e.floats(
    `${tag}w2`,
    [c * u.n3, u.n2, ...u.k2],
    concatUnits(ws, (w) => w.w2),
  );
  const inputs: Value[] = [a, w2];
  if (lp.bias2)
    inputs.push(
      e.floats(
        `${tag}b2`,
        [c * u.n3],
        concatUnits(ws, (w) => w.b2!),
      ),
    );
  const a2 = [
    attrInt('group', c),
    attrInts('kernel_shape', [...u.k2]),
    attrInts('strides', new Array<number>(sd).fill(1)),
    attrInts('dilations', new Array<number>(sd).fill(1)),
    attrInts('pads', [...run.pads2]),
  ];
  return e.op('Conv', inputs, a2, `${tag}conv2`);
}

function denseRun(e: Emitter, x: Value, lp: LayerPlan, run: UnitRun, ws: readonly UnitWeights[], tag: string): Value {
  const u = run.unit;
  const c = run.count;
  const R = lp.layer.rank;
  if (c === 1) {
    const w1 = e.floats(
      `${tag}w1`,
      [u.n1, u.n2],
      transposedUnits(ws, (w) => w.w1, u.n2, u.n1),
    );
    let h = e.op('MatMul', [x, w1], [], `${tag}matmul1`);
    h = e.op(
      'Add',
      [
        h,
        e.floats(
          `${tag}b1`,
          [u.n2],
          concatUnits(ws, (w) => w.b1),
        ),
      ],
      [],
      `${tag}add1`,
    );
    const a = e.activation(h, `${tag}act`);
    let o = e.op(
      'MatMul',
      [
        a,
        e.floats(
          `${tag}w2`,
          [u.n2, u.n3],
          transposedUnits(ws, (w) => w.w2, u.n3, u.n2),
        ),
      ],
      [],
      `${tag}matmul2`,
    );
    if (lp.bias2)
      o = e.op(
        'Add',
        [
          o,
          e.floats(
            `${tag}b2`,
            [u.n3],
            concatUnits(ws, (w) => w.b2!),
          ),
        ],
        [],
        `${tag}add2`,
      );
    return o;
  }
  const lead = new Array<number>(R - 1).fill(0);
  const ones = (n: number): number[] => new Array<number>(n).fill(1);
  const r = e.op('Reshape', [x, e.int64s(`${tag}split_shape`, [...lead, c, u.n1])], [], `${tag}reshape_in`);
  const fwd = [R - 1, ...Array.from({ length: R - 1 }, (_, i) => i), R];
  const t = e.op('Transpose', [r], [attrInts('perm', fwd)], `${tag}units_first`);
  const w1 = e.floats(
    `${tag}w1`,
    [c, ...ones(R - 2), u.n1, u.n2],
    transposedUnits(ws, (w) => w.w1, u.n2, u.n1),
  );
  let h = e.op('MatMul', [t, w1], [], `${tag}matmul1`);
  h = e.op(
    'Add',
    [
      h,
      e.floats(
        `${tag}b1`,
        [c, ...ones(R - 1), u.n2],
        concatUnits(ws, (w) => w.b1),
      ),
    ],
    [],
    `${tag}add1`,
  );
  const a = e.activation(h, `${tag}act`);
  const w2 = e.floats(
    `${tag}w2`,
    [c, ...ones(R - 2), u.n2, u.n3],
    transposedUnits(ws, (w) => w.w2, u.n3, u.n2),
  );
  let o = e.op('MatMul', [a, w2], [], `${tag}matmul2`);
  if (lp.bias2)
    o = e.op(
      'Add',
      [
        o,
        e.floats(
          `${tag}b2`,
          [c, ...ones(R - 1), u.n3],
          concatUnits(ws, (w) => w.b2!),
        ),
      ],
      [],
      `${tag}add2`,
    );
  const back = [...Array.from({ length: R - 1 }, (_, i) => i + 1), 0, R];
  const tb = e.op('Transpose', [o], [attrInts('perm', back)], `${tag}units_back`);
  return e.op('Reshape', [tb, e.int64s(`${tag}merge_shape`, [...lead, c * u.n3])], [], `${tag}reshape_out`);
}

function emitLayer(model: Model, plan: TissuePlan, lp: LayerPlan, ws: readonly UnitWeights[]): { nodes: string[]; inits: string[] } {
  const n = lp.layer.node;
  const g = n.graph!;
  const e = new Emitter(model, n, lp.layer.name, plan, lp.layer.weightForm);
  const dense = lp.layer.kind === 'dense';
  const axis = dense ? lp.layer.rank - 1 : 1;
  let x = n.inputs[0]!;
  if (lp.shuffleGroups) x = e.shuffle(x, axis, lp.layer.rank, lp.layer.cIn, lp.shuffleGroups);
  const emitRun = dense ? denseRun : convRun;
  let out: Value;
  if (lp.runs.length === 1) {
    out = emitRun(e, x, lp, lp.runs[0]!, ws, '');
  } else {
    const pieces = e.split(
      x,
      axis,
      lp.runs.map((r) => r.count * r.unit.n1),
    );
    const outs = lp.runs.map((r, j) => emitRun(e, pieces[j]!, lp, r, ws.slice(r.position, r.position + r.count), `u${j}.`));
    out = e.op('Concat', outs, [attrInt('axis', axis)], 'concat');
  }
  // The last emitted node takes over the original output value: its name, type and uses stay.
  const y = n.outputs[0]!;
  const last = out.producer!;
  const old = [...n.inputs];
  n.setOutput(0, null);
  g.removeNode(n, true);
  last.setOutput(out.producerIndex, y);
  // The old weights go when nothing else reads them (with the Identity chain they were read through).
  for (const v of old.slice(1)) if (v?.graph === g) dropIfUnused(v);
  return { nodes: e.nodes, inits: e.inits };
}

function countLayer(model: Model, nodes: readonly string[], ctx: CostContext): { params: number; macs: number } {
  let macs = 0;
  let params = 0;
  const seen = new Set<Value>();
  for (const name of nodes) {
    const nd = model.graph.findNode(name);
    if (!nd) continue;
    macs += nodeCost(nd, ctx).macs;
    nd.inputs.forEach((v, i) => {
      const r = resolveWeight(v);
      if (!r || seen.has(r.source) || r.tensor.dataType !== DataType.FLOAT || (nd.opType === 'Clip' && i > 0)) return;
      seen.add(r.source);
      params += r.tensor.size;
    });
  }
  return { params, macs };
}

/**
 * Plans and applies a TissueNet rewrite; returns what it did (see TissueReport). The IR is
 * left topologically sorted by the pass manager, not here. O(nodes + weights).
 * @throws the planner's errors: INVALID_OPTION, TISSUE_SPEC_INVALID, TISSUE_NO_LAYERS,
 *   TISSUE_NOT_REPLACEABLE
 */
export function applyTissue(
  model: Model,
  options: TissueOptions & { onLayer?: (done: number, total: number) => void } = {},
  analyses: AnalysisManager = new AnalysisManager(model),
): TissueReport {
  const plan = planTissue(model, options, analyses);
  const before = analyses.get(costAnalysis).total;
  const emitted: { lp: LayerPlan; nodes: string[]; inits: string[]; fitError?: number }[] = [];
  for (const [i, lp] of plan.layers.entries()) {
    const rng = new Rng(plan.seed * 104729 + lp.layer.index + 3);
    const original = plan.init === 'original' ? originalWeights(lp.layer) : undefined;
    const sw = initStackedLayer(lp, plan.init, plan.activation, rng, original, plan.leakyAlpha);
    const { nodes, inits } = emitLayer(model, plan, lp, sw.units);
    emitted.push({ lp, nodes, inits, fitError: sw.fitError });
    options.onLayer?.(i + 1, plan.layers.length);
  }
  const after = analyses.get(costAnalysis).total;
  const afterCtx = costContext(model, analyses.get(shapesAnalysis).shapes);
  const layers = emitted.map(({ lp, nodes, inits, fitError }): TissueLayerReport => {
    const counted = countLayer(model, nodes, afterCtx);
    const runs = lp.runs.map((r) => ({ unit: unitText(r), count: r.count }));
    return {
      name: lp.layer.name,
      op: lp.layer.op,
      kind: lp.layer.kind,
      cIn: lp.layer.cIn,
      cOut: lp.layer.cOut,
      kernel: [...lp.layer.kernel],
      spec: lp.spec,
      groups: lp.units.length,
      equal: lp.equal,
      runs,
      shuffleGroups: lp.shuffleGroups,
      fitError,
      original: lp.original,
      stacked: lp.stacked,
      denseEquivalent: lp.denseEquivalent,
      counted,
      matches: counted.params === lp.stacked.params && counted.macs === lp.stacked.macs,
      nodes,
      initializers: inits,
    };
  });
  return {
    strategy: plan.strategy,
    activation: plan.activation,
    init: plan.init,
    seed: plan.seed,
    shuffle: plan.shuffle,
    layers,
    skipped: [...plan.skipped],
    notes: [...plan.notes],
    auto: plan.auto,
    before: { macs: before.macs, flops: before.flops, params: before.params },
    after: { macs: after.macs, flops: after.flops, params: after.params },
    planned: plan.after,
  };
}

function unitText(r: UnitRun): string {
  const u = r.unit;
  return u.k1.length ? `${u.n1}:${u.n2}:${u.n3}:${u.k1.join('x')}:${u.k2.join('x')}` : `${u.n1}:${u.n2}:${u.n3}`;
}

function runWith(opts: TissuePassOptions, model: Model, ctx: PassContext): PassResult<TissueReport> {
  const report = applyTissue(model, opts, ctx.analyses);
  for (const sk of report.skipped) ctx.remark(sk.name, sk.reason);
  for (const n of report.notes) ctx.remark(n.where, n.message);
  return {
    changed: report.layers.length > 0,
    report,
    stats: {
      stacked: report.layers.length,
      skipped: report.skipped.length,
      macsBefore: report.before.macs,
      macsAfter: report.after.macs,
      paramsBefore: report.before.params,
      paramsAfter: report.after.params,
    },
  };
}

const SUMMARY = 'replace Conv/Gemm/MatMul layers by TissueNet stacked layers of small independent units';

/**
 * The `tissue` pass with typed options; its result's `report` is the TissueReport.
 * Called without options it reads the old bag (`ctx.options.tissue`, with `onReport`) —
 * an adapter for callers written before typed passes; pass options instead.
 * @throws TISSUE_SPEC_INVALID, TISSUE_NO_LAYERS
 */
export function tissuePass(options?: TissuePassOptions): Pass<TissueReport> {
  return {
    name: 'tissue',
    summary: SUMMARY,
    run(model, ctx) {
      if (options) return runWith(options, model, ctx);
      const legacy = (ctx.options['tissue'] ?? {}) as TissuePassOptions & { onReport?: (r: TissueReport) => void };
      const r = runWith(legacy, model, ctx);
      legacy.onReport?.(r.report!);
      return r;
    },
  };
}

function specOption(describe: string, parse: (text: string) => LayerSpec): PassOption<TissuePassOptions> {
  return {
    describe,
    set: (d, text) => {
      d.spec = parse(text);
    },
  };
}

/** `sculpt transform --passes tissue --pass-option tissue.groups=4 ...` */
export const tissue: PassDefinition<TissuePassOptions, TissueReport> = {
  name: 'tissue',
  summary: SUMMARY,
  cli: {
    strategy: passOption.choice<TissuePassOptions>('strategy', ['all', 'r', 'select'], 'which layers'),
    select: passOption.list<TissuePassOptions>('select', 'exactly these layers: names or globs'),
    exclude: passOption.list<TissuePassOptions>('exclude', 'layers never replaced: names or globs'),
    unit: specOption('equal units n1:n2:n3[:k1:k2]', (t) => ({ kind: 'units', units: [parseUnit(t)] })),
    hybrid: specOption('hybrid units: a comma-separated unit list', (t) => ({ kind: 'units', units: parseUnitList(t) })),
    groups: specOption('m equal units sized from each layer (gM or gMhN: M groups, N hidden), or auto', (t) =>
      t === 'auto' ? { kind: 'groups', groups: 'auto' } : parseLayerSpec(/^\d+$/.test(t) ? `g${t}` : t),
    ),
    activation: passOption.choice<TissuePassOptions>('activation', TISSUE_ACTIVATIONS, "between a unit's two weight layers"),
    init: passOption.choice<TissuePassOptions>('init', TISSUE_INITS, 'he: from scratch (seeded); original: fitted to the original layer'),
    shuffle: passOption.boolean<TissuePassOptions>('shuffle', 'channel shuffle between consecutive stacked layers'),
    seed: passOption.number<TissuePassOptions>('seed', 'seed of hybrid draws and random weights', { integer: true, min: 0 }),
    'flops-target': passOption.number<TissuePassOptions>('flopsTarget', 'groups=auto: fraction of the FLOPs to keep', { min: 0, max: 1 }),
    'min-group-channels': passOption.number<TissuePassOptions>('minGroupChannels', 'groups=auto: least channels per group', { integer: true, min: 1 }),
  },
  create: (o) => tissuePass(o),
};
