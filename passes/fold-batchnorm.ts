/**
 * fold-batchnorm: Conv → BatchNormalization (inference) becomes one Conv.
 *
 *   s = gamma / sqrt(var + eps)            (per output channel)
 *   W'[o] = W[o] · s[o]                    b'[o] = (b[o] − mean[o]) · s[o] + beta[o]
 *
 * Cases:
 *  1. Conv with constant W (and b, or none) feeding only a BN with constant params → folded
 *  2. the BN output is a graph output                   → folded; the Conv output takes its name
 *  3. W shared with another node                        → folded into a fresh copy of W
 *  4. BN in training mode / with extra outputs used     → left alone (remark)
 *  5. Conv output read by anything besides the BN       → left alone (remark)
 *  6. non-float32 weights or non-constant BN parameters → left alone (remark)
 *
 *   before:  %c = Conv(%x, %w, %b)   %y = BatchNormalization(%c, %g, %beta, %m, %v)
 *   after:   %y = Conv(%x, %w', %b')
 */
import { DataType, Tensor, Value } from '../src/core.js';
import type { Model, Node, Pass, PassDefinition, PassContext, PassResult } from '../src/core.js';

function constF32(v: Value | null | undefined): Float32Array | undefined {
  if (!v?.initializer) return undefined;
  const t = v.initializer;
  if (t.dataType !== DataType.FLOAT) return undefined;
  return t.toFloat32();
}

function tryFold(model: Model, bn: Node, ctx: PassContext): boolean {
  const g = bn.graph!;
  const x = bn.inputs[0];
  const conv = x?.producer;
  if (!x || !conv || conv.opType !== 'Conv' || conv.domain !== '' || conv.graph !== g) return false;
  if (bn.attrInt('training_mode', 0) !== 0 || bn.outputs.slice(1).some((o) => o && (o.useCount > 0 || g.outputs.includes(o)))) {
    ctx.remark(bn.where, 'BatchNormalization in training mode (or its statistics outputs are used): not folded');
    return false;
  }
  if (x.useCount !== 1 || g.outputs.includes(x)) {
    ctx.remark(bn.where, `conv output "${x.name}" has other readers: not folded`);
    return false;
  }
  const wv = conv.inputs[1];
  const w = constF32(wv);
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => constF32(bn.inputs[i]));
  if (!w || !gamma || !beta || !mean || !variance || !wv) {
    ctx.remark(bn.where, 'weights or BatchNormalization parameters are not float32 constants: not folded');
    return false;
  }
  const bv = conv.inputs[2] ?? null;
  const b = bv ? constF32(bv) : undefined;
  if (bv && !b) {
    ctx.remark(bn.where, 'conv bias is not a float32 constant: not folded');
    return false;
  }
  const cout = Number(wv.initializer!.dims[0]);
  if (gamma.length !== cout || beta.length !== cout || mean.length !== cout || variance.length !== cout) {
    ctx.remark(bn.where, `BatchNormalization has ${gamma.length} channels, the conv ${cout}: not folded`);
    return false;
  }
  const eps = bn.attrFloat('epsilon', 1e-5);
  const per = w.length / cout;
  const w2 = new Float32Array(w.length);
  const b2 = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    // Accumulate in float64: the folded model should match the original to float32 rounding.
    const s = gamma[o]! / Math.sqrt(variance[o]! + eps);
    for (let i = 0; i < per; i++) w2[o * per + i] = w[o * per + i]! * s;
    b2[o] = ((b ? b[o]! : 0) - mean[o]!) * s + beta[o]!;
  }
  const wNew = new Value(model.names.fresh(`${wv.name}_bnfold`));
  g.addInitializer(wNew, Tensor.fromFloat32(wNew.name, [...wv.initializer!.dims], w2));
  wNew.setTensorType(DataType.FLOAT, wv.initializer!.shape);
  const bNew = new Value(model.names.fresh(`${bv?.name ?? `${conv.name || 'conv'}_bias`}_bnfold`));
  g.addInitializer(bNew, Tensor.fromFloat32(bNew.name, [cout], b2));
  bNew.setTensorType(DataType.FLOAT, [cout]);
  conv.setInput(1, wNew);
  if (conv.inputs.length > 2) conv.setInput(2, bNew);
  else conv.appendInput(bNew);
  const bnParams = bn.inputs.slice(1);
  const y = bn.outputs[0]!;
  g.replaceValue(y, x);
  if (y.type && !x.type) x.info.type = y.type;
  g.removeNode(bn, true);
  for (const old of [wv, bv, ...bnParams]) {
    if (old && old.initializer && old.useCount === 0 && !g.outputs.includes(old) && old.graph === g) g.removeInitializer(old);
  }
  return true;
}

function run(model: Model, ctx: PassContext): PassResult {
  let folded = 0;
  for (const n of [...model.graph.allNodes()]) {
    if (n.opType === 'BatchNormalization' && n.domain === '' && n.graph && tryFold(model, n, ctx)) folded++;
  }
  return { changed: folded > 0, stats: { folded } };
}

export function foldBatchNormPass(): Pass {
  return { name: 'fold-batchnorm', summary: 'fold inference BatchNormalization into the preceding Conv', run };
}

/** No options. */
export const foldBatchNorm: PassDefinition<Record<string, never>> = {
  name: 'fold-batchnorm',
  summary: foldBatchNormPass().summary,
  cli: {},
  create: () => foldBatchNormPass(),
};
