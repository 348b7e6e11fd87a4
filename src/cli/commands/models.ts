/**
 * `sculpt models list` and `sculpt models build <name> -o <file>`: the reference networks
 * (models/) written as ONNX with seeded weights, as starting points for training, pruning
 * and the benchmarks.
 */
import type { Argv, CommandModule } from 'yargs';
import { shapeOf } from '../../ir/types.js';
import { saveModel } from '../../serde/write.js';
import { verifyModel } from '../../ir/verify.js';
import { buildModel, MODEL_CATALOG, resolveModelOptions, isModelName, MIN_OPSET, MAX_OPSET } from '../../../models/index.js';
import type { BuildOptions } from '../../../models/index.js';
import { CompilerError } from '../../errors.js';
import { guardOutputs } from '../../util/output-guard.js';
import { printJson, say } from '../output.js';

interface ListArgs {
  json: boolean;
}

interface BuildArgs {
  name: string;
  output: string;
  seed: number;
  size?: number;
  channels?: number;
  classes?: number;
  width: number;
  batch: string;
  opset: number;
  json: boolean;
}

const listCommand: CommandModule<object, ListArgs> = {
  command: 'list',
  describe: 'list the reference models with their default inputs',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'JSON list on stdout' })
      .example('$0 models list', 'names, summaries and default input shapes'),
  handler: (a) => {
    if (a.json) {
      printJson(MODEL_CATALOG);
      return;
    }
    for (const m of MODEL_CATALOG) say(`${m.name.padEnd(12)} ${m.input.padEnd(14)} ${m.summary}`);
  },
};

const buildCommand: CommandModule<object, BuildArgs> = {
  command: 'build <name>',
  describe: 'write a reference model with seeded weights (float NCHW input `input` in [0,1], output `logits`)',
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: `model name: ${MODEL_CATALOG.map((m) => m.name).join(', ')}` })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'output .onnx file (written atomically)' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of every random weight; the same seed gives a byte-identical file' })
      .option('size', { type: 'number', describe: 'input height = width (default per model: 28, 32 or 224)' })
      .option('channels', { type: 'number', describe: 'input channels (default per model: 1 or 3)' })
      .option('classes', { type: 'number', describe: 'number of classes, the length of `logits` (default 10; 1000 for resnet50)' })
      .option('width', { type: 'number', default: 1, describe: 'width multiplier on hidden channels/units (0.5 = a half-width student)' })
      .option('batch', { type: 'string', default: 'N', describe: 'batch dimension: a number, or a name for a symbolic dimension' })
      .option('opset', { type: 'number', default: 17, describe: `default-domain opset, ${MIN_OPSET} to ${MAX_OPSET}` })
      .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary on stdout' })
      .example('$0 models build mlp -o mlp.onnx', 'MLP 784-500-300-10 with input [N,784]')
      .example('$0 models build lenet5 -o lenet5-cifar.onnx --size 32 --channels 3', 'LeNet-5 for 32x32x3 pixels')
      .example('$0 models build resnet20 -o student.onnx --width 0.5 --seed 7', 'a half-width ResNet-20')
      .example('$0 models build resnet50 -o r50.onnx --batch 1 --json', 'torchvision ResNet-50 at 224x224, batch fixed to 1'),
  handler: (a) => {
    if (!isModelName(a.name)) {
      throw new CompilerError('UNKNOWN_MODEL', `no reference model named "${a.name}"`, {
        where: a.name,
        hint: `choose one of: ${MODEL_CATALOG.map((m) => m.name).join(', ')} (sculpt models list)`,
      });
    }
    guardOutputs({ inputs: [], outputs: [{ path: a.output, what: '-o', kind: 'model' }] });
    const opts: BuildOptions = {
      seed: a.seed,
      size: a.size,
      channels: a.channels,
      numClasses: a.classes,
      width: a.width,
      opset: a.opset,
      batch: /^\d+$/.test(a.batch) ? Number(a.batch) : a.batch,
    };
    const resolved = resolveModelOptions(a.name, opts);
    const model = buildModel(a.name, resolved);
    verifyModel(model, a.name);
    const saved = saveModel(model, a.output);
    let params = 0;
    for (const v of model.graph.initializers) params += v.initializer?.size ?? 0;
    const input = model.graph.inputs[0]!;
    const output = model.graph.outputs[0]!;
    const summary = {
      name: a.name,
      output: saved.path,
      bytes: saved.bytes,
      params,
      options: resolved,
      input: { name: input.name, shape: shapeOf(input.type) },
      logits: { name: output.name, shape: shapeOf(output.type) },
    };
    if (a.json) {
      printJson(summary);
      return;
    }
    const fmt = (s: unknown): string => `[${(s as unknown[]).join(',')}]`;
    say(`wrote ${a.name} to ${saved.path} (${saved.bytes} bytes, ${params.toLocaleString('en-US')} parameters incl. BN statistics)`);
    say(
      `  input ${fmt(summary.input.shape)} float in [0,1] -> logits ${fmt(summary.logits.shape)}; opset ${resolved.opset}, seed ${resolved.seed}, width ${resolved.width}`,
    );
  },
};

export const modelsCommand: CommandModule<object, object> = {
  command: 'models',
  describe: 'list or build the reference models (MLP, LeNet-5, VGG, ResNet-20, MobileNetV2, ResNet-50)',
  builder: (y: Argv) =>
    y
      .command(listCommand)
      .command(buildCommand)
      .demandCommand(1, 'name a subcommand: list or build')
      .example('$0 models list', 'what can be built')
      .example('$0 models build vgg -o vgg.onnx --seed 1', 'a VGG-style CNN for 28x28x1 inputs'),
  handler: () => {},
};
