/** Every `sculpt` command, in the order `--help` lists them. One file per command. */
import type { CommandModule } from 'yargs';
import { passesCommand, transformCommand } from './transform.js';
import { modelsCommand } from './models.js';
import { inspectCommand } from './inspect.js';
import { validateCommand } from './validate.js';
import { diffCommand } from './diff.js';
import { trainCommand } from './train.js';
import { groupsCommand } from './groups.js';
import { pruneCommand } from './prune.js';
import { tissueCommand } from './tissue.js';
import { scoreCommand } from './score.js';
import { onestepCommand } from './onestep.js';
import { searchCommand } from './search.js';
import { runCommand } from './run.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  inspectCommand,
  transformCommand,
  passesCommand,
  modelsCommand,
  validateCommand,
  diffCommand,
  trainCommand,
  groupsCommand,
  pruneCommand,
  tissueCommand,
  scoreCommand,
  onestepCommand,
  searchCommand,
  runCommand,
];
