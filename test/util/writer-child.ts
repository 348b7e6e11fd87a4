/**
 * A separate process for the write-protocol tests: saves a seeded model to an output, with a
 * fault (SIGKILL or SIGTERM) at a named step, or many times in a row (racing another writer).
 * Usage: node writer-child.js <out> <seed> <mode> [step|count]
 *   mode kill:<step>     SIGKILL itself at that step of the save
 *   mode loop <count>    save <count> times (seeds alternate seed, seed+1000)
 *   mode hold-temp       leave a tracked temp file and wait for a signal
 */
import { join } from 'node:path';
import { saveModel } from '../../src/serde/write.js';
import { setWriteFaultHook, writeTemp } from '../../src/util/write-protocol.js';
import type { WriteStep } from '../../src/util/write-protocol.js';
import { seededPairModel } from './pair-model.js';

const [out, seedText, mode, arg] = process.argv.slice(2);
const seed = Number(seedText);
if (mode === 'kill') {
  setWriteFaultHook((s: WriteStep) => {
    if (s === arg) process.kill(process.pid, 'SIGKILL');
  });
  saveModel(seededPairModel(seed), out!, { externalData: 'always' });
} else if (mode === 'loop') {
  for (let i = 0; i < Number(arg); i++) saveModel(seededPairModel(i % 2 ? seed + 1000 : seed), out!, { externalData: 'always' });
} else if (mode === 'hold-temp') {
  writeTemp(join(out!), [new Uint8Array(1024)]);
  process.stdout.write('ready\n');
  setInterval(() => {}, 1000);
}
