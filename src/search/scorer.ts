/**
 * Scores genomes in one onnxruntime session of the masked network (the model with one
 * mask graph input per searched group and the fitness feature as a graph output): feed
 * the calibration batch and a genome's masks, read the feature, summarise it, compare it
 * with the teacher's summary. Used in-process and inside each worker thread.
 */
import { CompilerError } from '../errors.js';
import { openSession, runSession } from '../runtime/session.js';
import type { HostTensor, Session } from '../runtime/session.js';
import { cosine, summarize } from './fitness.js';
import type { FitnessKind } from './fitness.js';
import type { StageNet } from './stage-cut.js';

/** Everything a scorer needs; plain data, so it can be sent to a worker thread. */
export interface ScorerInit {
  /** The encoded masked network. */
  readonly model: Uint8Array;
  readonly dataInput: string;
  /** Calibration batch, [N, ...sample]. */
  readonly x: Float32Array;
  readonly xDims: readonly number[];
  readonly feature: string;
  /** An output holding the summary [N, C, 1, 1] computed in the graph (`appendSummary`); else the feature is summarised in JS. */
  readonly summaryOutput?: string;
  /** Mask inputs in genome order: name, first genome bit, length. */
  readonly masks: readonly { name: string; offset: number; size: number }[];
  readonly fitness: FitnessKind;
  /** Mask inputs held at all ones (groups left out of the search). */
  readonly ones?: readonly { name: string; size: number }[];
  /** onnxruntime intra-op threads of this session (default 1). */
  readonly threads?: number;
  /** Per search stage, the stage cut of the network (`cutForStage`), or undefined where none helps. */
  readonly stages?: readonly (StageNet | undefined)[];
}

/** The cut network of the stage being searched, and its frontier values for the held genome. */
interface ActiveStage {
  readonly session: Session;
  readonly frontier: Record<string, HostTensor>;
}

export class Scorer {
  #teacher: Float64Array | undefined;
  #stage: ActiveStage | undefined;
  private constructor(
    readonly init: ScorerInit,
    readonly session: Session,
  ) {}

  static async open(init: ScorerInit): Promise<Scorer> {
    const { session } = await openSession(init.model, { threads: init.threads ?? 1 });
    return new Scorer(init, session);
  }

  /** The full network's inputs for a genome: the calibration batch and one 0/1 mask per group. */
  feeds(genome: Uint8Array): Record<string, HostTensor> {
    const feeds: Record<string, HostTensor> = { [this.init.dataInput]: { data: this.init.x, dims: [...this.init.xDims] } };
    for (const m of this.init.ones ?? []) feeds[m.name] = { data: new Float32Array(m.size).fill(1), dims: [m.size] };
    for (const m of this.init.masks) {
      const a = new Float32Array(m.size);
      for (let i = 0; i < m.size; i++) a[i] = genome[m.offset + i]!;
      feeds[m.name] = { data: a, dims: [m.size] };
    }
    return feeds;
  }

  /** Only the feeds a session reads (a cut network reads the frontier and some masks). */
  static #only(s: Session, feeds: Record<string, HostTensor>): Record<string, HostTensor> {
    const out: Record<string, HostTensor> = {};
    for (const k of s.inputNames) {
      const v = feeds[k];
      if (!v) throw new CompilerError('INTERNAL', `no feed for the scorer session's input "${k}"`);
      out[k] = v;
    }
    return out;
  }

  /**
   * Scores the genomes of search stage `index` on its cut network (genomes that differ from
   * `held` only in that stage's bits): runs the prefix once with `held` to get the frontier,
   * then every genome runs only the cut. `undefined` (or a stage without a cut) goes back to
   * the full network. The results equal the full network's up to float rounding (the
   * optimiser fuses differently at the frontier), so a search gives them no weight: each
   * stage scores all its genomes on one network. Returns whether the cut is in use (`cutActive`).
   */
  async useStage(index: number | undefined, held: Uint8Array): Promise<boolean> {
    if (this.#stage) {
      await this.#stage.session.release();
      this.#stage = undefined;
    }
    const net = index === undefined ? undefined : this.init.stages?.[index];
    if (!net) return false;
    // A cut made with some masks at all ones is valid only while the held genome keeps them so.
    for (const name of net.ones) {
      const m = this.init.masks.find((x) => x.name === name);
      if (m && !held.subarray(m.offset, m.offset + m.size).every((b) => b === 1)) return false;
    }
    const threads = this.init.threads ?? 1;
    const all = this.feeds(held);
    let frontier: Record<string, HostTensor> = {};
    if (net.prefix) {
      const prefix = (await openSession(net.prefix, { threads })).session;
      try {
        frontier = await runSession(prefix, Scorer.#only(prefix, all), net.frontier);
      } finally {
        await prefix.release();
      }
    }
    const { session } = await openSession(net.cut, { threads });
    this.#stage = { session, frontier };
    return true;
  }

  /** Whether a stage's cut network is in use (`useStage`). */
  get cutActive(): boolean {
    return this.#stage !== undefined;
  }

  /** Runs the network for a genome: the stage's cut when one is active, else the full one. */
  async #run(genome: Uint8Array, output: string): Promise<HostTensor | undefined> {
    const st = this.#stage;
    if (!st) return (await runSession(this.session, this.feeds(genome), [output]))[output];
    const feeds = { ...this.feeds(genome), ...st.frontier };
    return (await runSession(st.session, Scorer.#only(st.session, feeds), [output]))[output];
  }

  /** The feature map for a genome (one 0/1 per bit). */
  async feature(genome: Uint8Array): Promise<HostTensor> {
    const f = await this.#run(genome, this.init.feature);
    if (!f) throw new CompilerError('INTERNAL', `the masked network gave no "${this.init.feature}"`);
    return f;
  }

  async summary(genome: Uint8Array): Promise<Float64Array> {
    if (this.init.summaryOutput) {
      const out = await this.#run(genome, this.init.summaryOutput);
      return Float64Array.from(out!.data as Float32Array);
    }
    const f = await this.feature(genome);
    return summarize(this.init.fitness, f.data as Float32Array, f.dims);
  }

  setTeacher(t: Float64Array): void {
    this.#teacher = t;
  }

  /** Cosine similarity of the genome's summary with the teacher's. */
  async fitness(genome: Uint8Array): Promise<number> {
    if (!this.#teacher) throw new CompilerError('INTERNAL', 'the scorer has no teacher summary yet');
    return cosine(this.#teacher, await this.summary(genome));
  }

  async release(): Promise<void> {
    await this.#stage?.session.release();
    await this.session.release();
  }
}
