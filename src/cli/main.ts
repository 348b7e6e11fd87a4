#!/usr/bin/env node
/**
 * The `sculpt` command line: a thin layer over the library (src/index.ts).
 * Exit codes: 0 success, 1 error (a CompilerError, printed with its code), 2 usage error,
 * 3 a quality gate failed (validate).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { formatError, isCompilerError } from '../errors.js';
import { commands } from './commands/index.js';
import { EXIT } from './exit.js';

export async function main(argv: string[]): Promise<number> {
  let usageError: string | null = null;
  const parser = yargs(argv)
    .scriptName('sculpt')
    .usage('sculpt <command> [options]\n\nCompress ONNX models: TissueNet units, one-step pruning-recovery, GWCS channel search.\nEvery command takes --help; data-producing commands take --json.')
    .strict()
    .demandCommand(1, 'name a command (see the list above)')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      usageError = msg;
    });
  for (const c of commands) parser.command(c);
  try {
    await parser.parseAsync();
  } catch (e) {
    if (isCompilerError(e)) {
      process.stderr.write(`${formatError(e)}\n`);
      return EXIT.ERROR;
    }
    if (e && typeof e === 'object' && 'exitCode' in e && typeof (e as { exitCode: unknown }).exitCode === 'number') {
      return (e as { exitCode: number }).exitCode;
    }
    process.stderr.write(`${formatError(e)}\n`);
    if (process.env.SCULPT_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return EXIT.ERROR;
  }
  if (usageError !== null) {
    process.stderr.write(`\nusage error: ${usageError}\n`);
    return EXIT.USAGE;
  }
  return process.exitCode === undefined ? EXIT.OK : Number(process.exitCode);
}

main(hideBin(process.argv)).then((code) => {
  process.exitCode = code;
});
