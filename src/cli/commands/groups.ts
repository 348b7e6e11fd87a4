/** `sculpt groups <model>`: the coupled channel groups of a model, prunable or frozen and why. */
import type { CommandModule } from 'yargs';
import { describeGroups, formatGroups } from '../../analysis/channel-groups.js';
import { AnalysisManager, channelGroupsAnalysis } from '../../analysis/manager.js';
import { verifyModel } from '../../ir/verify.js';
import { untieSharedConstants } from '../../prune/untie.js';
import { readModel } from '../../serde/read.js';
import { printJson, say } from '../output.js';
import { inputShapesFor, withInputShape } from '../options/input-shape.js';
import type { InputShapeArgs } from '../options/input-shape.js';

interface GroupsArgs extends InputShapeArgs {
  model: string;
  json: boolean;
  explain: boolean;
  untie: boolean;
}

export const groupsCommand: CommandModule<object, GroupsArgs> = {
  command: 'groups <model>',
  describe: 'list the channel groups: channels that must be pruned together, prunable or frozen and why',
  builder: (y) =>
    withInputShape(y)
      .positional('model', { type: 'string', demandOption: true, describe: 'input .onnx file' })
      .option('explain', { type: 'boolean', default: false, describe: 'list every tensor of every group and every reason a group is frozen' })
      .option('untie', {
        type: 'boolean',
        default: true,
        describe: 'give each reader of a shared constant its own copy first, as `sculpt prune` does (--no-untie to see the raw coupling)',
      })
      .option('json', {
        type: 'boolean',
        default: false,
        describe: 'JSON on stdout: groups with members {name, axis, channels, per, kind, roles}, frozen reasons, summary',
      })
      .epilogue(
        [
          "A group is a set of (tensor, axis) slots that must lose the same channels: a conv's filters,",
          "its bias and BatchNorm parameters, the next layers' input axes, and everything a residual",
          'Add or a Concat ties to them. "per" > 1 means one channel spans several positions of that',
          'tensor (H×W columns after a Flatten, a depthwise multiplier). Names in the output can be',
          'used in `sculpt prune --mask` and `--scores` files.',
        ].join('\n'),
      )
      .example('$0 groups resnet20.onnx', 'one line per group, frozen ones with the first reason')
      .example('$0 groups model.onnx --explain', 'members of every group and why frozen groups are frozen')
      .example('$0 groups model.onnx --json > groups.json', 'machine-readable groups'),
  handler: (a) => {
    const model = readModel(a.model);
    verifyModel(model, 'input model');
    const am = new AnalysisManager(model, { inputShapes: inputShapesFor(a, model) });
    if (a.untie) untieSharedConstants(model);
    const an = am.get(channelGroupsAnalysis);
    if (a.json) {
      printJson(describeGroups(an));
      return;
    }
    say(formatGroups(an, a.explain));
  },
};
