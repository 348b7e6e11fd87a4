#!/usr/bin/env node
/**
 * The `sculpt` command line: a thin layer over the library (src/index.ts).
 * Exit codes: 0 success, 1 error (a CompilerError, printed with its code), 2 usage error
 * (yargs' own, or a command's check of its options: a CliUsageError, printed with its code),
 * 3 a quality gate failed (validate).
 */
import { createRequire } from 'node:module';
import type yargsType from 'yargs';
import type { Argv } from 'yargs';
import { formatError, isCompilerError } from '../errors.js';
import { commands, commandsFor } from './commands/index.js';
import { EXIT, ExitWith } from './exit.js';
import { OptionRangeError, checkOptionRanges } from './option-ranges.js';
import { CliUsageError } from './usage.js';
import { writeSync } from 'node:fs';
import { toolVersion } from '../util/version.js';

// yargs' ESM build lays help out with a wrapper that splits words mid-way; its CommonJS
// build uses wrap-ansi and breaks lines between words.
const require = createRequire(import.meta.url);
const yargs = require('yargs') as typeof yargsType;
const hideBin = (argv: string[]) => argv.slice(2);

class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  const parser = yargs(argv)
    .scriptName('sculpt')
    .usage(
      [
        'sculpt <command> [options]',
        '',
        'Compress ONNX models: TissueNet units, one-step',
        'pruning-recovery, GWCS channel search; validate and diff.',
        'Every command takes --help; commands that report data take --json.',
        'Exit codes: 0 ok, 1 error (code on stderr), 2 usage, 3 gate failed.',
      ].join('\n'),
    )
    .strict()
    .demandCommand(1, 'name a command (see the list above)')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(toolVersion())
    // Ranges of numeric options, before any command reads a file (option-ranges.ts).
    .middleware((args) => {
      try {
        checkOptionRanges(args as Record<string, unknown>, argv);
      } catch (e) {
        if (e instanceof OptionRangeError) throw new UsageError(e.message);
        throw e;
      }
    })
    .wrap(Math.min(100, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      // A `.check()` that returns a message hands it over as `err` too (a string): usage.
      if (err && typeof err !== 'string') throw err;
      throw new UsageError(msg);
    });
  // SCULPT_CHECK_ARGS=1: parse and validate only, run nothing (`sculpt run` checks a recipe's
  // steps this way before doing any work). The stop is a middleware appended to each
  // command's builder: it runs after yargs' validation and the command's own `.check` of
  // its options, and before any handler (a parent's middleware also runs before a nested
  // command's handler).
  const checkOnly = process.env.SCULPT_CHECK_ARGS === '1';
  for (const c of await commandsFor(argv)) {
    if (!checkOnly) {
      parser.command(c);
      continue;
    }
    const build = c.builder;
    parser.command({
      ...c,
      builder: (y: Argv) => {
        const built = typeof build === 'function' ? (build(y) as Argv) : build ? y.options(build) : y;
        return built.middleware(() => {
          throw new ExitWith(EXIT.OK, 'arguments checked');
        }, false);
      },
    });
  }
  try {
    await parser.parseAsync();
  } catch (e) {
    // The help page to point at: the command's, when the command line names a known one.
    const cmd = argv.find((x) => !x.startsWith('-'));
    const known = cmd !== undefined && commands.some((c) => c.name === cmd);
    const help = known ? `sculpt ${cmd} --help` : 'sculpt <command> --help';
    if (e instanceof UsageError) {
      process.stderr.write(`usage error: ${e.message}\n(see ${known ? help : 'sculpt --help, or sculpt <command> --help'})\n`);
      return EXIT.USAGE;
    }
    if (e instanceof CliUsageError) {
      const shown = e.hint ? e : new CliUsageError(e.code, e.message, { where: e.where, hint: `see ${help}`, cause: e.cause });
      process.stderr.write(`${formatError(shown)}\n${e.hint ? `(see ${help})\n` : ''}`);
      return EXIT.USAGE;
    }
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
  return process.exitCode === undefined ? EXIT.OK : Number(process.exitCode);
}

// `sculpt diff a b | head` closes stdout early: that is the reader's choice, not an error.
// Any other failure to write stdout (`> /dev/full`: ENOSPC) ends the run with exit 1 and a
// one-line note, never a stack trace; a broken stderr ends it silently.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    if (stream === process.stdout) {
      try {
        writeSync(2, `error FILE_WRITE_FAILED: cannot write to stdout (${e.code ?? e.message})\n  hint: check where stdout goes (a full disk?)\n`);
      } catch {
        /* stderr is gone too */
      }
    }
    process.exit(EXIT.ERROR);
  });
}

main(hideBin(process.argv)).then((code) => {
  process.exitCode = code;
});
