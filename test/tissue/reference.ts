/**
 * Test helpers for TissueNet: an independent reading of a rewritten model.
 *
 * `checkAgainstUnits` rebuilds every stacked layer from its definition — Split the layer
 * input into the units' n1 pieces, run each unit on its own (Conv n1→n2 k1 → act → Conv
 * n2→n3 k2, or dense n1→n2 → act → n2→n3, all ungrouped), Concat — with the weights sliced
 * out of the emitted initializers per position, and compares it in onnxruntime with the
 * rewritten model's own value. `countedParams` counts the initializer elements the layer's
 * weight nodes read, independently of computeCost.
 */
import { DataType, GraphBuilder, attrFloat, attrInt, attrInts, constantData, runModel } from '../../src/index.js';
import type { HostTensor, Model, Node, Value } from '../../src/index.js';
import type { TissueLayerReport, TissueReport } from '../../passes/tissue.js';

export interface UnitDims {
  n1: number;
  n2: number;
  n3: number;
  k1: number[];
  k2: number[];
}

export function parseRunUnit(text: string): UnitDims {
  const p = text.split(':');
  const k = (s: string | undefined): number[] => (s ? s.split('x').map(Number) : []);
  return { n1: Number(p[0]), n2: Number(p[1]), n3: Number(p[2]), k1: k(p[3]), k2: k(p[4]) };
}

function node(model: Model, name: string): Node {
  const n = model.graph.findNode(name);
  if (!n) throw new Error(`no node ${name}`);
  return n;
}

function init(model: Model, l: TissueLayerReport, suffix: string): Float32Array | null {
  const name = l.initializers.find((n) => n === `${l.name}.tissue.${suffix}` || n.startsWith(`${l.name}.tissue.${suffix}_`));
  if (!name) return null;
  // An initializer or a Constant node's output (the stacked layer keeps the original's weight form).
  return constantData(model.graph.findValue(name)!)!.toFloat32();
}

/** The value a stacked layer's units read (after a shuffle, if any) and the value it writes. */
export function layerIo(model: Model, l: TissueLayerReport): { x: Value; y: Value } {
  const nodes = l.nodes.map((n) => node(model, n));
  const restore = nodes.find((n) => n.name === `${l.name}.tissue.shuffle.restore`);
  const first = nodes.find((n) => !n.name!.startsWith(`${l.name}.tissue.shuffle.`))!;
  return { x: restore ? restore.outputs[0]! : first.inputs[0]!, y: nodes[nodes.length - 1]!.outputs[0]! };
}

function act(b: GraphBuilder, x: Value, kind: string): Value {
  switch (kind) {
    case 'relu':
      return b.op('Relu', [x]);
    case 'tanh':
      return b.op('Tanh', [x]);
    case 'sigmoid':
      return b.op('Sigmoid', [x]);
    case 'leaky-relu':
      return b.op('LeakyRelu', [x], [attrFloat('alpha', 0.01)]);
    case 'relu6':
      return b.op('Clip', [x, b.floats('lo', [], [0]), b.floats('hi', [], [6])]);
    default:
      return x;
  }
}

function slice(a: Float32Array, start: number, len: number): Float32Array {
  return a.slice(start, start + len);
}

/**
 * Builds the unit-by-unit reference of one stacked layer for an input of shape `xDims`.
 * Conv geometry (strides, dilations, pads) comes from the emitted first conv of each run,
 * which the planner derived from the original layer.
 */
export function referenceModel(model: Model, report: TissueReport, l: TissueLayerReport, xDims: number[]): Model {
  const b = GraphBuilder.newModel({ opset: 17 });
  const x = b.input('x', xDims);
  const positions: { u: UnitDims; run: number; q: number; count: number }[] = [];
  l.runs.forEach((r, j) => {
    for (let q = 0; q < r.count; q++) positions.push({ u: parseRunUnit(r.unit), run: j, q, count: r.count });
  });
  const axis = l.kind === 'conv' ? 1 : xDims.length - 1;
  const pieces =
    positions.length === 1
      ? [x]
      : b.node(
          'Split',
          [
            x,
            b.int64s(
              'sizes',
              [positions.length],
              positions.map((p) => p.u.n1),
            ),
          ],
          [attrInt('axis', axis)],
          { outputs: positions.length },
        );
  const outs = positions.map((p, i) => {
    const tag = l.runs.length === 1 ? '' : `u${p.run}.`;
    const { n1, n2, n3, k1, k2 } = p.u;
    const K1 = k1.reduce((a, c) => a * c, 1);
    const K2 = k2.reduce((a, c) => a * c, 1);
    const w1 = init(model, l, `${tag}w1`)!;
    const b1 = init(model, l, `${tag}b1`)!;
    const w2 = init(model, l, `${tag}w2`)!;
    const b2 = init(model, l, `${tag}b2`);
    const xi = pieces[i]!;
    if (l.kind === 'conv') {
      const c1 = node(model, `${l.name}.tissue.${tag}conv1`);
      const geo = [attrInts('strides', c1.attrInts('strides')!), attrInts('dilations', c1.attrInts('dilations')!)];
      const pads1 = c1.attrInts('pads');
      const a1 = [attrInts('kernel_shape', k1), ...geo, ...(pads1 ? [attrInts('pads', pads1)] : [])];
      if (!pads1) a1.push({ name: 'auto_pad', v: { type: 3, value: new TextEncoder().encode(c1.attrString('auto_pad')!) } });
      const h = b.op(
        'Conv',
        [xi, b.floats('w1', [n2, n1, ...k1], slice(w1, p.q * n2 * n1 * K1, n2 * n1 * K1)), b.floats('b1', [n2], slice(b1, p.q * n2, n2))],
        a1,
      );
      const c2 = node(model, `${l.name}.tissue.${tag}conv2`);
      const ins = [act(b, h, report.activation), b.floats('w2', [n3, n2, ...k2], slice(w2, p.q * n3 * n2 * K2, n3 * n2 * K2))];
      if (b2) ins.push(b.floats('b2', [n3], slice(b2, p.q * n3, n3)));
      return b.op('Conv', ins, [attrInts('kernel_shape', k2), attrInts('pads', c2.attrInts('pads')!)]);
    }
    // Dense unit q of a run: the emitted weights are [count, n1, n2] (or [n1, n2]); unit q's
    // own matrices are slice q, used as MatMul operands on its piece alone.
    let h = b.op('MatMul', [xi, b.floats('w1', [n1, n2], slice(w1, p.q * n1 * n2, n1 * n2))]);
    h = b.op('Add', [h, b.floats('b1', [n2], slice(b1, p.q * n2, n2))]);
    let o = b.op('MatMul', [act(b, h, report.activation), b.floats('w2', [n2, n3], slice(w2, p.q * n2 * n3, n2 * n3))]);
    if (b2) o = b.op('Add', [o, b.floats('b2', [n3], slice(b2, p.q * n3, n3))]);
    return o;
  });
  const y = outs.length === 1 ? outs[0]! : b.op('Concat', outs, [attrInt('axis', axis)]);
  b.output(y, 'y');
  return b.model;
}

export interface LayerCheck {
  name: string;
  maxAbs: number;
  scale: number;
}

/** Runs the rewritten model once and every stacked layer's unit-by-unit reference; returns the differences. */
export async function checkAgainstUnits(model: Model, report: TissueReport, feeds: Record<string, HostTensor>): Promise<LayerCheck[]> {
  const ios = report.layers.map((l) => layerIo(model, l));
  const names = [...new Set(ios.flatMap(({ x, y }) => [x.name, y.name]))];
  const got = await runModel(model, feeds, names);
  const out: LayerCheck[] = [];
  for (let i = 0; i < report.layers.length; i++) {
    const l = report.layers[i]!;
    const { x, y } = ios[i]!;
    const xv = got[x.name]!;
    const ref = referenceModel(model, report, l, xv.dims);
    const r = await runModel(ref, { [ref.graph.inputs[0]!.name]: xv });
    const want = r[ref.graph.outputs[0]!.name]!;
    const have = got[y.name]!;
    if (want.data.length !== have.data.length) throw new Error(`${l.name}: reference has ${want.data.length} elements, the model ${have.data.length}`);
    let maxAbs = 0;
    let scale = 0;
    for (let k = 0; k < want.data.length; k++) {
      maxAbs = Math.max(maxAbs, Math.abs(Number(want.data[k]) - Number(have.data[k])));
      scale = Math.max(scale, Math.abs(Number(want.data[k])));
    }
    out.push({ name: l.name, maxAbs, scale });
  }
  return out;
}

/**
 * Elements of the float initializers the layer's emitted nodes read as weights and biases:
 * int64 shape constants and Clip bounds are not parameters.
 */
export function countedParams(model: Model, l: TissueLayerReport): number {
  const seen = new Set<Value>();
  let n = 0;
  for (const name of l.nodes) {
    const nd = node(model, name);
    nd.inputs.forEach((v, i) => {
      const t = v ? constantData(v) : undefined;
      if (!v || !t || seen.has(v)) return;
      if (t.dataType !== DataType.FLOAT || (nd.opType === 'Clip' && i > 0)) return;
      seen.add(v);
      n += t.size;
    });
  }
  return n;
}
