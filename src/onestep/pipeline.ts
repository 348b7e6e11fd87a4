/**
 * `sculpt onestep` as a library: score → prune → recover → fine-tune → validate, every
 * artifact kept in a work folder, resumable.
 *
 * Work folder (`workDir`):
 *   scores.json     phase score (docs/scores-schema.md); given with `scores`, copied in
 *   pruned.onnx     phase prune (the prune report beside it: prune.json)
 *   recovered.onnx  phase recover
 *   finetuned.onnx  phase finetune (only with finetune epochs > 0)
 *   report.json     phase validate: the validation report plus the phase records
 *   state.json      which phases finished, with a key of everything they depended on
 * A rerun with the same folder skips every phase whose key is unchanged and whose artifact
 * is there; a changed option reruns its phase and every later one. All checks that can fail
 * on bad input (model, data, crucial names, a scores file for another model) run before
 * anything is written.
 */
import { cloneModel } from '../serde/clone.js';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CompilerError } from '../errors.js';
import { computeCost } from '../analysis/cost.js';
import { resolveRoundTo } from '../prune/round-to.js';
import type { RoundToOption } from '../prune/round-to.js';
import type { Dataset } from '../data/dataset.js';
import { checkModelFitsData } from '../data/fit.js';
import type { Model } from '../ir/core.js';
import { verifyModel } from '../ir/verify.js';
import { readModel } from '../serde/read.js';
import { atomicWrite, saveModel } from '../serde/write.js';
import type { BackendPreference, TrainProgress, TrainResult } from '../train/loop.js';
import type { MimicKind } from '../train/losses.js';
import type { GateLimits } from '../validate/gates.js';
import { validateModel } from '../validate/validate.js';
import type { ValidationReport } from '../validate/validate.js';
import { insertBeta } from './beta.js';
import { globalPrune } from './prune.js';
import { finetuneModel, recoverModel } from './recover.js';
import { lastConvLayer, scoreModel } from './score.js';
import { checkScoresFit, chooseCrucial, readScoresDoc, withCrucial } from './scores.js';
import type { CrucialSpec, LayerScoreKind, ScoresDoc } from './scores.js';

export type Phase = 'score' | 'prune' | 'recover' | 'finetune' | 'validate';
export const PHASES: readonly Phase[] = ['score', 'prune', 'recover', 'finetune', 'validate'];

export interface OnestepOptions {
  /** The original model file. */
  input: string;
  /** Where the final model goes. */
  output: string;
  workDir: string;
  /** Training split and evaluation split. */
  data: Dataset;
  evalData?: Dataset;
  /** Identifies the data for resuming (spec, limits, seed); default the data set names and sizes. */
  dataKey?: string;
  /** Use this scores file instead of scoring. */
  scores?: string;
  score?: { lambda?: number; lr?: number; epochs?: number; teacher?: string; unlabeled?: boolean; layerScore?: LayerScoreKind };
  /** Default: auto when scoring, the scores file's own choice with `scores`. */
  crucial?: CrucialSpec;
  prune: { flopsTarget?: number; ratio?: number; roundTo?: RoundToOption; maxRatio?: number };
  recover?: { mimicLoss?: MimicKind; epochs?: number; lr?: number; decayEvery?: number };
  finetune?: { epochs?: number; lr?: number };
  validate?: { gates?: GateLimits; latency?: boolean; threads?: number };
  batchSize?: number;
  seed?: number;
  backend?: BackendPreference;
  /** Allow `output` to be the input file. */
  overwrite?: boolean;
  log?: (m: string) => void;
  /** A phase starts (`skipped`: resumed from the work folder). */
  onPhase?: (phase: Phase, event: 'start' | 'done' | 'skipped', seconds?: number) => void;
  onProgress?: (phase: Phase, p: TrainProgress) => void;
}

export interface PhaseRecord {
  phase: Phase;
  status: 'ran' | 'skipped' | 'not needed';
  seconds: number;
  artifact?: string;
  train?: Pick<TrainResult, 'steps' | 'epochs' | 'finalLoss' | 'backend' | 'imagesPerSec'>;
}

export interface OnestepResult {
  readonly output: string;
  readonly workDir: string;
  readonly phases: PhaseRecord[];
  readonly crucial: string[];
  readonly mimic: string[];
  readonly prune: { flopsRatio: number; paramsRatio: number; channelsRemoved: number; layers: { name: string; kept: number; size: number }[] };
  readonly validation: ValidationReport;
  readonly passed: boolean;
}

interface State {
  version: 1;
  phases: Partial<Record<Phase, { key: string; seconds: number; artifact?: string; train?: PhaseRecord['train']; extra?: unknown }>>;
}

function hash(x: unknown): string {
  return createHash('sha256').update(JSON.stringify(x)).digest('hex').slice(0, 16);
}

function writeJson(path: string, x: unknown): void {
  atomicWrite(path, [new TextEncoder().encode(`${JSON.stringify(x, null, 2)}\n`)]);
}

function readState(dir: string): State {
  const p = join(dir, 'state.json');
  if (!existsSync(p)) return { version: 1, phases: {} };
  try {
    const s = JSON.parse(readFileSync(p, 'utf8')) as State;
    return s.version === 1 && s.phases ? s : { version: 1, phases: {} };
  } catch {
    return { version: 1, phases: {} };
  }
}

function trainSummary(r: TrainResult): PhaseRecord['train'] {
  return { steps: r.steps, epochs: r.epochs, finalLoss: r.finalLoss, backend: r.backend, imagesPerSec: r.imagesPerSec };
}

/**
 * Checks everything bad input can break, before anything is written: the model reads and
 * verifies, the data fits it, it has a prunable layer, the crucial names exist, a given
 * scores file belongs to it, the target options are sane. Returns the model.
 * @throws the codes of readModel, DATA_SHAPE_MISMATCH, NO_PRUNABLE_GROUP,
 *   CRUCIAL_LAYER_NOT_FOUND, SCORES_MODEL_MISMATCH, INVALID_OPTION, OUTPUT_IS_INPUT
 */
export function preflightOnestep(o: OnestepOptions): Model {
  if ((o.prune.flopsTarget === undefined) === (o.prune.ratio === undefined)) {
    throw new CompilerError('INVALID_OPTION', 'give exactly one of --flops-target and --ratio', { hint: 'e.g. --flops-target 0.5 keeps half of the FLOPs' });
  }
  if (!o.overwrite && existsSync(o.output) && resolve(o.output) === resolve(o.input)) {
    throw new CompilerError('OUTPUT_IS_INPUT', `refusing to write over the input model ${o.input}`, { where: o.output, hint: 'name another output file' });
  }
  const model = readModel(o.input);
  verifyModel(model, 'input model');
  checkModelFitsData(model, o.data);
  if (o.evalData) checkModelFitsData(model, o.evalData);
  const probe = cloneModel(model);
  const { records } = insertBeta(probe);
  const last = lastConvLayer(model, records);
  if (Array.isArray(o.crucial))
    chooseCrucial(
      records.map((r) => ({ name: r.group, layers: r.layers, sites: r.sites, score: 1, junction: r.junction })),
      o.crucial,
      last,
    );
  if (o.scores) checkScoresFit(readScoresDoc(o.scores), model, o.scores);
  return model;
}

/**
 * Runs (or resumes) the whole method. The returned `passed` is false when a validation
 * gate failed; the output and report are written either way.
 * @throws the codes of preflightOnestep, TARGET_UNREACHABLE, and the trainer's
 */
export async function runOnestep(o: OnestepOptions): Promise<OnestepResult> {
  const log = o.log ?? (() => {});
  const original = preflightOnestep(o);
  const dir = resolve(o.workDir);
  mkdirSync(dir, { recursive: true });
  const state = readState(dir);
  const seed = o.seed ?? 1;
  const batch = o.batchSize ?? 64;
  const dataKey = o.dataKey ?? `${o.data.name}:${o.data.size}|${o.evalData?.name ?? '-'}:${o.evalData?.size ?? 0}`;
  const inputKey = hash([readFileSync(o.input).length, createHash('sha256').update(readFileSync(o.input)).digest('hex')]);
  const records: PhaseRecord[] = [];
  const art = (f: string) => join(dir, f);
  const saveState = () => writeJson(art('state.json'), state);

  /** Runs a phase unless its key matches a finished run whose artifact exists. */
  const phase = async <T>(
    name: Phase,
    key: string,
    artifact: string | undefined,
    run: () => Promise<{ train?: TrainResult; extra?: T }>,
  ): Promise<{ ran: boolean; extra?: T }> => {
    const prev = state.phases[name];
    if (prev && prev.key === key && (!artifact || existsSync(art(artifact)))) {
      o.onPhase?.(name, 'skipped', prev.seconds);
      records.push({ phase: name, status: 'skipped', seconds: prev.seconds, artifact: artifact ? art(artifact) : undefined, train: prev.train });
      return { ran: false, extra: prev.extra as T };
    }
    // This phase and every later one are stale now.
    for (const p of PHASES.slice(PHASES.indexOf(name))) delete state.phases[p];
    saveState();
    o.onPhase?.(name, 'start');
    const t0 = Date.now();
    const r = await run();
    const seconds = (Date.now() - t0) / 1000;
    state.phases[name] = { key, seconds, artifact, train: r.train ? trainSummary(r.train) : undefined, extra: r.extra };
    saveState();
    o.onPhase?.(name, 'done', seconds);
    records.push({ phase: name, status: 'ran', seconds, artifact: artifact ? art(artifact) : undefined, train: r.train ? trainSummary(r.train) : undefined });
    return { ran: true, extra: r.extra };
  };

  // 1. score
  const sc = o.score ?? {};
  const scoreKey = hash(['score', inputKey, o.scores ? hash(readFileSync(o.scores, 'utf8')) : [dataKey, sc, batch, seed]]);
  await phase('score', scoreKey, 'scores.json', async () => {
    if (o.scores) {
      copyFileSync(o.scores, art('scores.json'));
      return {};
    }
    const teacher = sc.teacher ? readModel(sc.teacher) : undefined;
    const r = await scoreModel(original, {
      data: o.data,
      lambda: sc.lambda,
      lr: sc.lr,
      epochs: sc.epochs,
      batchSize: batch,
      teacher,
      unlabeled: sc.unlabeled,
      layerScore: sc.layerScore,
      crucial: o.crucial,
      seed,
      backend: o.backend,
      path: o.input,
      log,
      onProgress: (p) => o.onProgress?.('score', p),
    });
    writeJson(art('scores.json'), r.scores);
    return { train: r.train };
  });
  const scored = readScoresDoc(art('scores.json'));
  checkScoresFit(scored, original, art('scores.json'));
  const lastLayer = (() => {
    const probe = cloneModel(original);
    return lastConvLayer(original, insertBeta(probe).records);
  })();
  // Without a crucial spec, a given scores file's own crucial layers stand.
  const doc: ScoresDoc = withCrucial(scored, o.crucial ?? [...scored.crucial], lastLayer, sc.layerScore ?? scored.layerScore);
  const mimic = doc.layers.filter((l) => l.crucial).map((l) => l.mimic);
  const kind = o.recover?.mimicLoss ?? 'kl';
  if ((kind === 'kl' || kind === 'js') && mimic.length < 2) {
    throw new CompilerError(
      'INVALID_OPTION',
      `--mimic ${kind} needs at least two crucial layers (docs/methods.md §2.6); the crucial set is ${doc.crucial.join(', ')}`,
      { hint: 'ask for more crucial layers (--crucial 3) or use --mimic mse' },
    );
  }

  // 2. prune
  // `auto` becomes this machine's number first: the run folder's key and prune.json name it.
  const pruneOpts = { ...o.prune, roundTo: resolveRoundTo(o.prune.roundTo ?? 'auto').value };
  const pruneKey = hash(['prune', scoreKey, doc.crucial, pruneOpts]);
  const pruned = await phase<OnestepResult['prune']>('prune', pruneKey, 'pruned.onnx', async () => {
    const m = cloneModel(original);
    const out = globalPrune(m, doc, { ...pruneOpts, source: art('scores.json') });
    saveModel(m, art('pruned.onnx'));
    writeJson(art('prune.json'), out.report);
    const extra = {
      flopsRatio: out.after.total.flops / Math.max(1, out.before.total.flops),
      paramsRatio: out.after.total.params / Math.max(1, out.before.total.params),
      channelsRemoved: out.applied.channelsRemoved,
      layers: out.plan.groups.map((g) => ({ name: g.name, kept: g.keptWidth, size: g.width })),
    };
    return { extra };
  });

  // 3. recover
  const rc = o.recover ?? {};
  const recoverKey = hash(['recover', pruneKey, dataKey, rc, mimic, batch, seed]);
  await phase('recover', recoverKey, 'recovered.onnx', async () => {
    const student = readModel(art('pruned.onnx'));
    const r = await recoverModel(student, {
      data: o.data,
      teacher: original,
      mimic,
      mimicLoss: rc.mimicLoss,
      epochs: rc.epochs,
      lr: rc.lr,
      decayEvery: rc.decayEvery,
      batchSize: batch,
      seed,
      backend: o.backend,
      log,
      onProgress: (p) => o.onProgress?.('recover', p),
    });
    saveModel(student, art('recovered.onnx'));
    return { train: r };
  });

  // 4. fine-tune
  const ft = o.finetune ?? {};
  const ftEpochs = ft.epochs ?? 0;
  const finetuneKey = hash(['finetune', recoverKey, dataKey, ft, batch, seed]);
  let finalFile = 'recovered.onnx';
  if (ftEpochs > 0) {
    await phase('finetune', finetuneKey, 'finetuned.onnx', async () => {
      const m = readModel(art('recovered.onnx'));
      const r = await finetuneModel(m, {
        data: o.data,
        epochs: ftEpochs,
        lr: ft.lr,
        batchSize: batch,
        seed,
        backend: o.backend,
        log,
        onProgress: (p) => o.onProgress?.('finetune', p),
      });
      saveModel(m, art('finetuned.onnx'));
      return { train: r };
    });
    finalFile = 'finetuned.onnx';
  } else {
    records.push({ phase: 'finetune', status: 'not needed', seconds: 0 });
  }

  // 5. validate (always runs: it is cheap and its gates decide the exit code)
  o.onPhase?.('validate', 'start');
  const t0 = Date.now();
  const finalModel = readModel(art(finalFile));
  const v = o.validate ?? {};
  const validation = await validateModel(finalModel, {
    data: o.evalData,
    baseline: original,
    gates: v.gates,
    latency: v.latency,
    threads: v.threads,
    warn: log,
  });
  const seconds = (Date.now() - t0) / 1000;
  o.onPhase?.('validate', 'done', seconds);
  records.push({ phase: 'validate', status: 'ran', seconds, artifact: art('report.json') });
  const saved = saveModel(finalModel, o.output, { inputPath: o.input, overwrite: o.overwrite });
  const pruneExtra =
    pruned.extra ??
    (() => {
      const a = computeCost(readModel(art('pruned.onnx')));
      const b = computeCost(original);
      return { flopsRatio: a.total.flops / b.total.flops, paramsRatio: a.total.params / b.total.params, channelsRemoved: 0, layers: [] };
    })();
  const result: OnestepResult = {
    output: saved.path,
    workDir: dir,
    phases: records,
    crucial: [...doc.crucial],
    mimic,
    prune: pruneExtra,
    validation,
    passed: validation.passed,
  };
  writeJson(art('report.json'), { kind: 'sculpt-onestep', version: 1, ...result });
  return result;
}
