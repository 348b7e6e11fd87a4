/**
 * Every `sculpt` command, in the order `--help` lists them. One file per command, loaded
 * only when that command runs: `sculpt --version`, `--help` and `inspect` never load
 * TensorFlow.js or onnxruntime. The name and one-line description live here so `--help`
 * can list every command without loading any (a test checks they match the modules).
 */
import type { CommandModule } from 'yargs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCommand = CommandModule<any, any>;

export interface LazyCommand {
  /** The first word of `command`. */
  readonly name: string;
  readonly command: string;
  readonly describe: string;
  readonly load: () => Promise<AnyCommand>;
}

export const commands: readonly LazyCommand[] = [
  {
    name: 'inspect',
    command: 'inspect <model>',
    describe: "show a model's interface, opsets and cost (params, MACs, FLOPs, bytes), per layer with --layers",
    load: async () => (await import('./inspect.js')).inspectCommand,
  },
  {
    name: 'transform',
    command: 'transform <model>',
    describe: 'read a model, run passes, verify, write it (no passes: a lossless rewrite)',
    load: async () => (await import('./transform.js')).transformCommand,
  },
  {
    name: 'passes',
    command: 'passes',
    describe: 'list the passes `transform --passes` accepts',
    load: async () => (await import('./transform.js')).passesCommand,
  },
  {
    name: 'models',
    command: 'models',
    describe: 'list or build the reference models (MLP, LeNet-5, VGG, ResNet-20, MobileNetV2, ResNet-50)',
    load: async () => (await import('./models.js')).modelsCommand,
  },
  {
    name: 'validate',
    command: 'validate <model>',
    describe: 'measure accuracy, latency and size in onnxruntime; compare with the original (CE, SE, speed-up); enforce gates',
    load: async () => (await import('./validate.js')).validateCommand,
  },
  {
    name: 'diff',
    command: 'diff <a> <b>',
    describe: 'compare two models layer by layer: channels, kernels/groups, params and MACs; added, removed and replaced nodes',
    load: async () => (await import('./diff.js')).diffCommand,
  },
  {
    name: 'train',
    command: 'train <model>',
    describe: 'train, fine-tune or distil a model in TensorFlow.js and write the weights back into the ONNX file',
    load: async () => (await import('./train.js')).trainCommand,
  },
  {
    name: 'groups',
    command: 'groups <model>',
    describe: 'list the channel groups: channels that must be pruned together, prunable or frozen and why',
    load: async () => (await import('./groups.js')).groupsCommand,
  },
  {
    name: 'prune',
    command: 'prune <model>',
    describe: 'remove channels (coupled groups) from a CNN: a smaller model that computes what the masked original computes',
    load: async () => (await import('./prune.js')).pruneCommand,
  },
  {
    name: 'tissue',
    command: 'tissue <model>',
    describe: 'TissueNet: replace layers by stacked layers of small independent units; optionally train/distil; validate',
    load: async () => (await import('./tissue.js')).tissueCommand,
  },
  {
    name: 'score',
    command: 'score <model>',
    describe: 'learn a channel-importance vector β per prunable layer (weights frozen) and write scores.json (one-step pruning, step 1)',
    load: async () => (await import('./score.js')).scoreCommand,
  },
  {
    name: 'onestep',
    command: 'onestep <model>',
    describe: 'one-step pruning-recovery: learn β, prune globally to a target with crucial layers kept, recover by mimicking them, fine-tune, validate',
    load: async () => (await import('./onestep.js')).onestepCommand,
  },
  {
    name: 'search',
    command: 'search <model>',
    describe: 'GWCS: genetic wavelet channel search for which channels to keep, then prune, distil and validate',
    load: async () => (await import('./search.js')).searchCommand,
  },
  {
    name: 'run',
    command: 'run <recipe>',
    describe: 'run a whole pipeline from a recipe (JSON or YAML): model, data, then prune/onestep/search/tissue/train/validate/diff steps; resumable',
    load: async () => (await import('./run.js')).runCommand,
  },
];

/**
 * The commands to register for `argv`: the one being run fully loaded, every other as a
 * name and description only (enough for `--help` and for yargs to reject unknown ones).
 */
export async function commandsFor(argv: readonly string[]): Promise<AnyCommand[]> {
  const first = argv.find((a) => !a.startsWith('-'));
  return Promise.all(commands.map(async (c) => (c.name === first ? c.load() : { command: c.command, describe: c.describe, handler: () => {} })));
}
