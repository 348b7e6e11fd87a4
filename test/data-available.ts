/**
 * Tests that need a Debian data package skip, naming the package, where it is missing on a
 * developer machine. CI installs every package (.ci/run) and sets CI, so there nothing skips:
 * a missing package fails the run instead of hiding tests.
 */
import { CompilerError } from '../src/errors.js';
import { loadDataset } from '../src/data/loader.js';

const PACKAGE: Record<string, string> = {
  digits: 'python3-sklearn',
  'fashion-mnist': 'dataset-fashion-mnist',
};

/** `false` when the data set loads, else the reason to skip (`{ skip: needData('digits') }`). */
export function needData(name: 'digits' | 'fashion-mnist'): string | false {
  if (process.env.CI) return false;
  try {
    loadDataset(name, { split: 'test', limit: 1 }).close();
    return false;
  } catch (e) {
    if (e instanceof CompilerError && e.code === 'DATA_UNAVAILABLE') return `${name} data is not installed: apt-get install ${PACKAGE[name]}`;
    throw e;
  }
}
