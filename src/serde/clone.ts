/** A deep copy of a model, by a round trip through its bytes (external data read from the same folder). */
import type { Model } from '../ir/core.js';
import { decodeModel } from './read.js';
import { encodeModel } from './write.js';

export function cloneModel(m: Model): Model {
  return decodeModel(encodeModel(m), { baseDir: m.baseDir });
}
