/**
 * Cost analysis against arithmetic done by hand: MACs (Conv per output element
 * C_in/group·kH·kW, ConvTranspose per input element C_out/group·kH·kW, Gemm/MatMul M·N·K),
 * params (weights, biases, BN scale/shift; not BN running statistics), bytes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnalysisManager, DataType, GraphBuilder, attrFloat, attrInt, attrInts, computeCost, nodeCost, runPass, shapeOf, tensorType } from '../../src/index.js';
import { inferShapesPass } from '../../passes/infer-shapes.js';
import type { CostReport, NodeCost } from '../../src/index.js';
import { buildModel } from '../../models/index.js';

const zeros = (b: GraphBuilder, name: string, dims: number[]) => b.floats(name, dims, new Float32Array(dims.reduce((a, c) => a * c, 1)));

function layer(r: CostReport, name: string): NodeCost {
  const c = r.nodes.find((n) => n.name === name);
  assert.ok(c, `layer ${name}`);
  return c;
}

describe('reference models, by hand', () => {
  it('MLP 784-500-300-10', () => {
    const r = computeCost(buildModel('mlp'));
    // MACs: 784·500 + 500·300 + 300·10 = 392,000 + 150,000 + 3,000
    assert.equal(r.total.macs, 392_000 + 150_000 + 3_000);
    assert.equal(r.total.macs, 545_000);
    assert.equal(r.total.flops, 1_090_000);
    // Params: (784·500 + 500) + (500·300 + 300) + (300·10 + 10) = 392,500 + 150,300 + 3,010
    assert.equal(r.total.params, 392_500 + 150_300 + 3_010);
    assert.equal(r.total.weightBytes, 545_810 * 4);
    // Activations at batch 1: fc1 500 + relu 500 + fc2 300 + relu 300 + fc3 10 floats
    assert.equal(r.total.activationBytes, (500 + 500 + 300 + 300 + 10) * 4);
    assert.deepEqual([layer(r, 'fc1').inChannels, layer(r, 'fc1').outChannels, layer(r, 'fc1').macs], [784, 500, 392_000]);
  });

  it('LeNet-5 at 28x28x1', () => {
    const r = computeCost(buildModel('lenet5'));
    // conv1 5x5, pad 2: 28x28x6 outputs, each 1·5·5 MACs      = 6·784·25    = 117,600
    // pool → 14x14; conv2 5x5, no pad: 10x10x16, each 6·25     = 16·100·150  = 240,000
    // pool → 5x5; fc1 400→120 = 48,000; fc2 120→84 = 10,080; fc3 84→10 = 840
    assert.equal(layer(r, 'conv1').macs, 117_600);
    assert.equal(layer(r, 'conv2').macs, 240_000);
    assert.equal(layer(r, 'fc1').macs, 48_000);
    assert.equal(r.total.macs, 117_600 + 240_000 + 48_000 + 10_080 + 840);
    // params: conv1 6·25+6 = 156; conv2 16·6·25+16 = 2,416; fc1 400·120+120 = 48,120;
    //         fc2 120·84+84 = 10,164; fc3 84·10+10 = 850
    assert.equal(r.total.params, 156 + 2_416 + 48_120 + 10_164 + 850);
    assert.deepEqual(layer(r, 'conv2').kernel, [5, 5]);
    assert.deepEqual(layer(r, 'pool1').stride, [2, 2]);
    assert.equal(layer(r, 'pool1').macs, 0);
  });

  it('ResNet-20 at 32x32x3', () => {
    const r = computeCost(buildModel('resnet20'));
    const conv = (cout: number, hw: number, cin: number, k: number) => cout * hw * hw * cin * k * k;
    const stage1 = 6 * conv(16, 32, 16, 3); // 6 · 2,359,296
    const stage2 = conv(32, 16, 16, 3) + 5 * conv(32, 16, 32, 3) + conv(32, 16, 16, 1);
    const stage3 = conv(64, 8, 32, 3) + 5 * conv(64, 8, 64, 3) + conv(64, 8, 32, 1);
    const expected = conv(16, 32, 3, 3) + stage1 + stage2 + stage3 + 64 * 10;
    // 442,368 + 14,155,776 + (1,179,648 + 11,796,480 + 131,072) + (1,179,648 + 11,796,480 + 131,072) + 640
    assert.equal(expected, 40_813_184);
    assert.equal(r.total.macs, expected);
    // conv weights: 432 + 6·2,304 + (4,608 + 5·9,216 + 512) + (18,432 + 5·36,864 + 2,048) = 270,256
    const convParams = 432 + 6 * 2_304 + (4_608 + 5 * 9_216 + 512) + (18_432 + 5 * 36_864 + 2_048);
    // BN channels: 16 + 6·16 + (6·32 + 32) + (6·64 + 64) = 784, two params each; fc 64·10+10
    const bnChannels = 16 + 6 * 16 + (6 * 32 + 32) + (6 * 64 + 64);
    assert.equal(r.total.params, convParams + 2 * bnChannels + 650);
    assert.equal(r.total.params, 272_474);
    // weight bytes also hold the 2·784 running statistics
    assert.equal(r.total.weightBytes, (272_474 + 2 * bnChannels) * 4);
    const ds = layer(r, 'layer2.0.downsample.0');
    assert.deepEqual([ds.inChannels, ds.outChannels, ds.kernel, ds.stride, ds.groups, ds.macs, ds.params], [16, 32, [1, 1], [2, 2], 1, 131_072, 512]);
    assert.deepEqual(ds.outputShape, ['N', 32, 16, 16]);
    assert.equal(layer(r, 'layer2.0.downsample.1').params, 64);
    assert.equal(layer(r, 'layer2.0.downsample.1').weightBytes, 4 * 32 * 4);
  });

  it('ResNet-50 at 224x224: 4.09 G MACs, 25.6 M params (torchvision: 25,557,032)', () => {
    const r = computeCost(buildModel('resnet50'));
    assert.ok(Math.abs(r.total.macs / 4.09e9 - 1) < 0.005, `MACs ${r.total.macs}`);
    assert.ok(Math.abs(r.total.params / 25.6e6 - 1) < 0.005, `params ${r.total.params}`);
    assert.equal(r.total.params, 25_557_032);
    // conv1: 64·112·112 outputs, each 3·7·7 = 118,013,952 MACs
    assert.equal(layer(r, 'conv1').macs, 64 * 112 * 112 * 147);
    assert.equal(layer(r, 'fc').macs, 2048 * 1000);
  });

  it('MobileNetV2: depthwise convs count C_in/group = 1 per tap', () => {
    const r = computeCost(buildModel('mobilenetv2'));
    const dw = r.nodes.filter((n) => n.op === 'Conv' && n.groups! > 1);
    assert.ok(dw.length > 10);
    for (const c of dw) {
      assert.equal(c.groups, c.inChannels);
      const [, ch, h, w] = c.outputShape as number[];
      assert.equal(c.macs, ch! * h! * w! * 9);
      assert.equal(c.params, ch! * 9);
    }
    // Clip bounds are shared scalar initializers: not parameters
    assert.equal(
      r.nodes.filter((n) => n.op === 'Clip').reduce((a, n) => a + n.params, 0),
      0,
    );
  });
});

describe('op conventions', () => {
  it('ConvTranspose, batched MatMul, Gemm with transA, MatMul + bias Add', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', [1, 8, 5, 5]);
    b.op('ConvTranspose', [x, zeros(b, 'wt', [8, 4, 3, 3])], [attrInts('strides', [2, 2])], 'up');
    b.op('MatMul', [b.input('a', [2, 3, 4, 5]), zeros(b, 'wm', [5, 6])], [], 'mm');
    b.op('Gemm', [b.input('g', [7, 3]), zeros(b, 'wg', [7, 2])], [attrInt('transA', 1)], 'gemm');
    b.op('Add', [b.op('MatMul', [b.input('v', [4, 16]), zeros(b, 'w2', [16, 8])], [], 'lin'), zeros(b, 'bias', [8])], [], 'lin_bias');
    const r = computeCost(b.model);
    // every input element scatters into C_out/group·kH·kW = 4·9 outputs: 8·25 · 36
    assert.deepEqual([layer(r, 'up').macs, layer(r, 'up').inChannels, layer(r, 'up').outChannels], [8 * 25 * 36, 8, 4]);
    assert.equal(layer(r, 'mm').macs, 2 * 3 * 4 * 6 * 5);
    assert.equal(layer(r, 'gemm').macs, 3 * 2 * 7);
    assert.equal(layer(r, 'lin').macs, 4 * 8 * 16);
    assert.equal(layer(r, 'lin_bias').params, 8);
    assert.equal(layer(r, 'lin_bias').macs, 0);
    assert.equal(r.total.params, 8 * 4 * 9 + 30 + 14 + 128 + 8);
  });

  it('a shared weight counts once in the total; scalar constants of elementwise ops are not params', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', [1, 4, 6, 6]);
    const w = zeros(b, 'w', [4, 4, 1, 1]);
    const y = b.op('Conv', [b.op('Conv', [x, w], [], 'c1'), w], [], 'c2');
    // HardSwish as exporters once wrote it: x · Clip(x + 3, 0, 6) / 6
    const three = b.floats('three', [], [3]);
    const six = b.floats('six', [], [6]);
    const clip = b.op('Clip', [b.op('Add', [y, three]), b.floats('zero', [], [0]), six]);
    b.op('Div', [b.op('Mul', [y, clip]), six]);
    const r = computeCost(b.model);
    assert.equal(layer(r, 'c1').params, 16);
    assert.equal(layer(r, 'c2').params, 16);
    assert.equal(r.total.params, 16);
    assert.equal(r.total.weightBytes, 64);
    assert.equal(r.total.macs, 2 * 4 * 36 * 4);
  });

  it('symbolic batch counts as opts.batch; activation bytes use the element size', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', ['N', 3, 8, 8]);
    const y = b.op('Conv', [x, zeros(b, 'w', [2, 3, 3, 3])], [attrInts('pads', [1, 1, 1, 1])], 'conv');
    b.op('Shape', [y], [], 'shape');
    const one = computeCost(b.model);
    const four = computeCost(b.model, { batch: 4 });
    assert.equal(one.total.macs, 2 * 64 * 27);
    assert.equal(four.total.macs, 4 * one.total.macs);
    assert.equal(layer(four, 'conv').activationBytes, 4 * 2 * 64 * 4);
    assert.equal(layer(four, 'shape').activationBytes, 4 * 8);
    assert.equal(four.total.flops, 2 * four.total.macs);
    assert.throws(() => computeCost(b.model, { batch: 0 }), /batch/);
  });

  it('BatchNormalization: 0 MACs, scale and shift are params, running statistics are weight bytes only', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', [1, 5, 2, 2]);
    const n = b.op(
      'BatchNormalization',
      [x, zeros(b, 's', [5]), zeros(b, 'b', [5]), zeros(b, 'm', [5]), zeros(b, 'v', [5])],
      [attrFloat('epsilon', 1e-5)],
      'bn',
    );
    const c = nodeCost(n.producer!);
    assert.equal(c.macs, 0);
    assert.equal(c.params, 10);
    assert.equal(c.weightBytes, 20 * 4);
  });

  it('a node with unknown shapes says its cost is a lower bound (never 0 for a conv)', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    b.model.opsetImports.push({ domain: 'com.example', version: 1 });
    const x = b.input('x', [1, 3, 8, 8]);
    const y = b.node('Custom', [x], [], { domain: 'com.example' })[0]!;
    b.op('Conv', [y, zeros(b, 'w', [2, 3, 1, 1])], [], 'conv');
    const r = computeCost(b.model);
    // Never 0 for a conv: its 2 filters of 3×1×1 count once (one output position) as a lower bound.
    assert.equal(layer(r, 'conv').macs, 6);
    assert.equal(r.exact, false);
    assert.deepEqual(r.unknownDims, ['?']);
    assert.match(layer(r, 'conv').incomplete ?? '', /unknown/);
    assert.equal(layer(r, 'conv').params, 6);
    assert.equal(r.nodes[0]!.activationBytes, 0);
    assert.equal(y.elemType, undefined);
  });
});

describe('a graph output that names the batch dim differently from the input (tf2onnx: unk__12 in, unk__13 out)', () => {
  it('the cost is exact at the default batch, and infer-shapes writes the output back with its declared name', () => {
    const m = buildModel('mlp'); // input [N,784], output [N,10]
    const out = m.graph.outputs[0]!;
    out.type = tensorType(DataType.FLOAT, ['unk__13', 10]);
    const r = computeCost(m);
    assert.equal(r.exact, true, `unknown dims: ${r.unknownDims.join(', ')}`);
    assert.equal(r.total.macs, 545_000);
    const am = new AnalysisManager(m);
    runPass(m, inferShapesPass({ scope: 'interface' }), { analyses: am });
    assert.deepEqual(shapeOf(out.type), ['unk__13', 10], 'the interface keeps its names');
    assert.equal(computeCost(m).exact, true);
  });
});
