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
}

export class Scorer {
  #teacher: Float64Array | undefined;
  private constructor(readonly init: ScorerInit, readonly session: Session) {}

  static async open(init: ScorerInit): Promise<Scorer> {
    const { session } = await openSession(init.model, { threads: init.threads ?? 1 });
    return new Scorer(init, session);
  }

  /** The session's inputs for a genome: the calibration batch and one 0/1 mask per group. */
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

  /** The feature map for a genome (one 0/1 per bit). */
  async feature(genome: Uint8Array): Promise<HostTensor> {
    const out = await runSession(this.session, this.feeds(genome), [this.init.feature]);
    const f = out[this.init.feature];
    if (!f) throw new CompilerError('INTERNAL', `the masked network gave no "${this.init.feature}"`);
    return f;
  }

  async summary(genome: Uint8Array): Promise<Float64Array> {
    if (this.init.summaryOutput) {
      const out = await runSession(this.session, this.feeds(genome), [this.init.summaryOutput]);
      return Float64Array.from(out[this.init.summaryOutput]!.data as Float32Array);
    }
    const f = await this.feature(genome);
    return summarize(this.init.fitness, f.data as Float32Array, f.dims);
  }

  setTeacher(t: Float64Array): void { this.#teacher = t; }

  /** Cosine similarity of the genome's summary with the teacher's. */
  async fitness(genome: Uint8Array): Promise<number> {
    if (!this.#teacher) throw new CompilerError('INTERNAL', 'the scorer has no teacher summary yet');
    return cosine(this.#teacher, await this.summary(genome));
  }

  async release(): Promise<void> { await this.session.release(); }
}
