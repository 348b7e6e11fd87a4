/**
 * `sculpt run <recipe>`: a whole compression pipeline from one declarative file (JSON or YAML):
 * input model, data, then steps (prune / onestep / search / tissue / train / validate / diff),
 * each with exactly that command's options. Every step runs as its own `sculpt` process in a
 * folder of its own under --out-dir; a manifest records hashes, options, timings and results,
 * and a rerun resumes after the last step whose inputs are unchanged.
 */
import { spawn } from 'node:child_process';
import { basename, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { readRecipe, STEP_COMMANDS } from '../../run/recipe.js';
import { runRecipe } from '../../run/runner.js';
import type { ExecResult, RunManifest } from '../../run/runner.js';
import { humanCount } from '../../report/text.js';
import { toolVersion } from '../../util/version.js';
import { formatError, isCompilerError } from '../../errors.js';
import { EXIT, ExitWith } from '../exit.js';
import { printJson } from '../output.js';

interface RunArgs {
  recipe: string;
  'out-dir'?: string;
  fresh: boolean;
  json: boolean;
}

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

function exec(argv: string[]): Promise<ExecResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [MAIN, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 + 15 : 1), stdout: Buffer.concat(chunks).toString('utf8') }));
  });
}

/** Parses a command line with the CLI's own parser in a child that runs no handler. */
function check(argv: string[]): Promise<string | null> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [MAIN, ...argv], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SCULPT_CHECK_ARGS: '1' } });
    const chunks: Buffer[] = [];
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      const text = Buffer.concat(chunks)
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim() && !l.startsWith('(see sculpt'))
        .map((l) => l.trim())
        .join(' ');
      resolvePromise(code === 0 ? null : text.replace(/^usage error: /, '') || `exit ${code}`);
    });
  });
}

function pct(x: number | null): string {
  return x === null ? 'unknown' : `${(x * 100).toFixed(2)}%`;
}

function num(x: number | null): string {
  return x === null ? 'unknown' : humanCount(x);
}

function ratio(a: number | null, b: number | null): string {
  return a && b !== null ? `${((b / a) * 100).toFixed(1)}%` : '';
}

function renderSummary(m: RunManifest, outDir: string): string {
  const s = m.summary!;
  const lines = [
    '',
    `sculpt run ${m.recipe.name}: ${m.status === 'done' ? 'done' : 'a quality gate FAILED'} in ${s.seconds.toFixed(0)} s (${m.steps.filter((x) => x.status === 'skipped').length} of ${m.steps.length} steps unchanged and skipped)`,
    '',
    '                 before          after           after/before',
    `  params         ${num(s.before.params).padEnd(16)}${num(s.after.params).padEnd(16)}${ratio(s.before.params, s.after.params)}`,
    `  FLOPs          ${num(s.before.flops).padEnd(16)}${num(s.after.flops).padEnd(16)}${ratio(s.before.flops, s.after.flops)}`,
  ];
  if (s.before.top1 !== null || s.after.top1 !== null) {
    const d = s.before.top1 !== null && s.after.top1 !== null ? `${((s.after.top1 - s.before.top1) * 100).toFixed(2)} points` : '';
    lines.push(`  top-1          ${pct(s.before.top1).padEnd(16)}${pct(s.after.top1).padEnd(16)}${d}`);
  }
  if (s.before.latencyMs !== null && s.after.latencyMs !== null) {
    lines.push(
      `  latency (b=1)  ${`${s.before.latencyMs.toFixed(3)} ms`.padEnd(16)}${`${s.after.latencyMs.toFixed(3)} ms`.padEnd(16)}speed-up ${(s.before.latencyMs / s.after.latencyMs).toFixed(2)}x`,
    );
  }
  for (const g of s.gates) lines.push(`  gate ${g.gate}: ${g.passed ? 'passed' : 'FAILED'} (${g.message})`);
  lines.push('', `  model:    ${relative(process.cwd(), s.final) || s.final}`);
  if (s.review.html) lines.push(`  review:   ${relative(process.cwd(), join(outDir, s.review.html))}`);
  if (s.review.markdown) lines.push(`  summary:  ${relative(process.cwd(), join(outDir, s.review.markdown))} (for a pull-request comment)`);
  lines.push(`  manifest: ${relative(process.cwd(), join(outDir, 'manifest.json'))}`, '');
  return lines.join('\n');
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <recipe>',
  describe: 'run a whole pipeline from a recipe (JSON or YAML): model, data, then prune/onestep/search/tissue/train/validate/diff steps; resumable',
  builder: (y) =>
    y
      .positional('recipe', { type: 'string', demandOption: true, describe: 'the recipe file (.json, .yaml or .yml; docs/recipes.md)' })
      .option('out-dir', { type: 'string', describe: 'the run folder: one sub-folder per step, manifest.json (default runs/<recipe name>)' })
      .option('fresh', { type: 'boolean', default: false, describe: 'redo every step instead of resuming after the last unchanged one' })
      .option('json', { type: 'boolean', default: false, describe: 'print the manifest (with its summary) as JSON on stdout' })
      .example('$0 run recipe.yaml', 'run it; a rerun skips the steps whose inputs did not change')
      .example('$0 run recipes/default.json --out-dir runs/try1 --json', 'for a pipeline: the manifest on stdout, exit 3 if a gate failed')
      .epilogue(
        [
          'A recipe:',
          '  model: resnet.onnx            # or { builtin: lenet5, seed: 1, train: { epochs: 1 } }',
          '  data: mnist',
          '  steps:',
          '    - prune: { flops-target: 0.5 }',
          '    - train: { teacher: $original, loss: kd, epochs: 1 }',
          '    - validate: { max-drop: 1.5 }',
          '    - diff: {}',
          "Step options are the command's own long options; $original is the input model.",
          'Exit codes: 0 done, 1 a step failed (the finished ones are kept), 2 usage or a bad recipe option, 3 a gate failed.',
        ].join('\n'),
      ),
  handler: async (a) => {
    let recipe;
    try {
      recipe = readRecipe(a.recipe, STEP_COMMANDS);
    } catch (e) {
      // A recipe is the pipeline's command line: a bad field is a usage error (exit 2).
      if (isCompilerError(e) && e.code === 'RECIPE_INVALID') {
        process.stderr.write(`${formatError(e)}\n`);
        throw new ExitWith(EXIT.USAGE, e.message);
      }
      throw e;
    }
    const name = recipe.name !== 'run' ? recipe.name : basename(a.recipe, extname(a.recipe));
    const outDir = a['out-dir'] ?? join('runs', name);
    let manifest: RunManifest;
    try {
      manifest = await runRecipe(
        { ...recipe, name },
        {
          exec,
          check: async (argv) => check(argv),
          log: (line) => process.stderr.write(`${line}\n`),
        },
        { outDir, fresh: a.fresh, toolVersion: toolVersion() },
      );
    } catch (e) {
      if (isCompilerError(e) && e.code === 'RECIPE_INVALID') {
        process.stderr.write(`${formatError(e)}\n`);
        throw new ExitWith(EXIT.USAGE, e.message);
      }
      throw e;
    }
    if (a.json) printJson(manifest);
    else process.stdout.write(`${renderSummary(manifest, outDir)}\n`);
    if (manifest.status === 'gate-failed') throw new ExitWith(EXIT.GATE_FAILED, 'a quality gate failed');
  },
};
