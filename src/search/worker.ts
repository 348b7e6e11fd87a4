/** A worker thread of the search: one onnxruntime session; scores the genomes it is sent. */
import { parentPort, workerData } from 'node:worker_threads';
import { Scorer } from './scorer.js';
import type { ScorerInit } from './scorer.js';

type Msg =
  | { kind: 'teacher'; teacher: Float64Array }
  | { kind: 'stage'; id: number; index: number | undefined; genome: Uint8Array }
  | { kind: 'fitness'; id: number; genome: Uint8Array }
  | { kind: 'summary'; id: number; genome: Uint8Array };

const port = parentPort!;
const ready = Scorer.open(workerData as ScorerInit);
port.on('message', (m: Msg) => {
  void (async () => {
    try {
      const s = await ready;
      if (m.kind === 'teacher') {
        s.setTeacher(m.teacher);
        return;
      }
      if (m.kind === 'stage') {
        port.postMessage({ id: m.id, cut: await s.useStage(m.index, m.genome) });
        return;
      }
      if (m.kind === 'summary') {
        port.postMessage({ id: m.id, summary: await s.summary(m.genome) });
        return;
      }
      port.postMessage({ id: m.id, fitness: await s.fitness(m.genome) });
    } catch (e) {
      const err = e as Error & { code?: string; where?: string; hint?: string };
      port.postMessage({ id: (m as { id?: number }).id ?? -1, error: { message: err.message, code: err.code, where: err.where, hint: err.hint } });
    }
  })();
});
