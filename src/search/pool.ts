/**
 * Evaluating many genomes at once: `workers` threads, each with its own onnxruntime
 * session (onnxruntime-node runs a session on the calling thread, so parallel sessions
 * need threads), or the calling thread alone with `workers: 0`. Results come back in the
 * order the genomes were given, and each is a pure function of its genome (1 intra-op
 * thread per session), so the search is the same whatever the worker count. Memory is
 * bounded by the sessions, not by the population.
 */
import { Worker } from 'node:worker_threads';
import { CompilerError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { Scorer } from './scorer.js';
import type { ScorerInit } from './scorer.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class ScorerPool {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  #local: Scorer | undefined;
  #next = 0;
  /** Genomes scored so far (teacher summary included). */
  evaluations = 0;

  private constructor(readonly size: number) {}

  /** Opens `workers` sessions (0 = one in this thread). @throws RUNTIME_FAILED */
  static async open(init: ScorerInit, workers: number): Promise<ScorerPool> {
    const pool = new ScorerPool(workers);
    if (workers <= 0) {
      pool.#local = await Scorer.open(init);
      return pool;
    }
    for (let i = 0; i < workers; i++) {
      const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
      w.on('message', (m: { id: number; error?: { message: string; code?: string; where?: string; hint?: string } }) => {
        const p = pool.#pending.get(m.id);
        if (!p) return;
        pool.#pending.delete(m.id);
        if (m.error)
          p.reject(
            m.error.code
              ? new CompilerError(m.error.code as ErrorCode, m.error.message, { where: m.error.where, hint: m.error.hint })
              : new Error(m.error.message),
          );
        else p.resolve(m);
      });
      w.on('error', (e) => {
        for (const p of pool.#pending.values()) p.reject(e);
        pool.#pending.clear();
      });
      pool.#workers.push(w);
    }
    return pool;
  }

  #ask(w: Worker, msg: Record<string, unknown>): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      w.postMessage({ ...msg, id });
    });
  }

  /** The teacher's summary (the all-ones genome), sent to every session. */
  async setTeacherFrom(allOnes: Uint8Array): Promise<Float64Array> {
    this.evaluations++;
    if (this.#local) {
      const t = await this.#local.summary(allOnes);
      this.#local.setTeacher(t);
      return t;
    }
    const r = (await this.#ask(this.#workers[0]!, { kind: 'summary', genome: allOnes })) as { summary: Float64Array };
    for (const w of this.#workers) w.postMessage({ kind: 'teacher', teacher: r.summary });
    return r.summary;
  }

  /** Every session scores stage `index` on its cut network from now on (`Scorer.useStage`); undefined: the full network. Returns whether they do. */
  async useStage(index: number | undefined, held: Uint8Array): Promise<boolean> {
    if (this.#local) return this.#local.useStage(index, held);
    const r = await Promise.all(this.#workers.map((w) => this.#ask(w, { kind: 'stage', index, genome: held }) as Promise<{ cut: boolean }>));
    return r.every((x) => x.cut);
  }

  /** Fitness of every genome, in order. */
  async fitness(genomes: readonly Uint8Array[]): Promise<number[]> {
    const out = new Array<number>(genomes.length);
    this.evaluations += genomes.length;
    if (this.#local) {
      for (let i = 0; i < genomes.length; i++) out[i] = await this.#local.fitness(genomes[i]!);
      return out;
    }
    let nextIndex = 0;
    await Promise.all(
      this.#workers.map(async (w) => {
        while (nextIndex < genomes.length) {
          const i = nextIndex++;
          const r = (await this.#ask(w, { kind: 'fitness', genome: genomes[i] })) as { fitness: number };
          out[i] = r.fitness;
        }
      }),
    );
    return out;
  }

  async close(): Promise<void> {
    await this.#local?.release();
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
