/**
 * Picking the TensorFlow.js backend the trainer runs on, best first:
 * `tfjs-node-gpu` (libtensorflow with CUDA) → `tfjs-node` (libtensorflow, CPU) → `wasm`
 * (XNNPACK, with our gradient kernels) → `cpu` (plain JS, slow but always there).
 *
 * The native packages download libtensorflow at install time and cannot install offline,
 * so they are optional: each is loaded with a dynamic import inside try/catch, and a
 * package that loads into a different copy of tfjs-core than ours (version skew) is
 * reported and skipped rather than half-used.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CompilerError } from '../errors.js';
import { registerSculptKernels } from './kernels/index.js';
import { installNativeKernels } from './native.js';

/**
 * Installs sculpt's gradient table and kernels (idempotent). selectBackend and
 * TfExecutor.create call it; call it yourself before `tf.grad` when using neither:
 * tfjs-core alone ships no gradients.
 */
export { registerSculptKernels };

export type BackendName = 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu';

/** Every backend name, best first. */
export const BACKEND_NAMES: readonly BackendName[] = ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'];

/** The tfjs-core registry name of each backend. */
const TF_NAME: Record<BackendName, string> = { 'tfjs-node-gpu': 'tensorflow', 'tfjs-node': 'tensorflow', wasm: 'wasm', cpu: 'cpu' };

export function isBackendName(s: string): s is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(s);
}

async function tryNative(pkg: 'tfjs-node-gpu' | 'tfjs-node'): Promise<string | null> {
  const spec = `@tensorflow/${pkg}`;
  try {
    await import(spec);
  } catch (e) {
    // The package itself missing is the common case: say so plainly. Anything else (a
    // native library that fails to load) keeps its first line.
    const missing = (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && firstLine(e).includes(`'${spec}'`);
    return missing ? `${spec} is not installed` : `${spec} did not load (${firstLine(e)})`;
  }
  if (!tf.findBackendFactory('tensorflow')) {
    return `${spec} loaded, but registered its backend in another copy of @tensorflow/tfjs-core (install the same version as @tensorflow/tfjs-core ${tf.version_core})`;
  }
  return null;
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]!.slice(0, 160);
}

async function activate(name: BackendName): Promise<string | null> {
  if (name === 'tfjs-node-gpu' || name === 'tfjs-node') {
    const why = await tryNative(name);
    if (why) return why;
  }
  try {
    const ok = await tf.setBackend(TF_NAME[name]);
    if (!ok) return `the ${name} backend failed to initialise`;
    await tf.ready();
    if (TF_NAME[name] === 'tensorflow') installNativeKernels();
    return null;
  } catch (e) {
    return `the ${name} backend failed to initialise (${firstLine(e)})`;
  }
}

/**
 * Selects, initialises and returns the tfjs backend. With `pref` 'auto' (default) the first
 * that works in the order tfjs-node-gpu → tfjs-node → wasm → cpu; with a name, exactly that
 * one. Says which it picked (and why better ones were skipped) through `log`. Also installs
 * sculpt's gradients and kernels and sets tfjs' PROD flag (silences its console banners).
 * @throws INVALID_OPTION for an unknown name; RUNTIME_FAILED when a forced backend cannot start.
 */
export async function selectBackend(
  pref: BackendName | 'auto' = 'auto',
  log: (m: string) => void = () => {},
): Promise<{ name: BackendName; tf: typeof import('@tensorflow/tfjs-core') }> {
  // The cpu backend's one-time "install tfjs-node" banner is noise next to our own line.
  tf.env().set('PROD', true);
  registerSculptKernels();
  if (pref !== 'auto' && !isBackendName(pref)) {
    throw new CompilerError('INVALID_OPTION', `unknown backend "${String(pref)}"`, { hint: `choose one of: auto, ${BACKEND_NAMES.join(', ')}` });
  }
  const order = pref === 'auto' ? BACKEND_NAMES : [pref];
  const skipped: string[] = [];
  for (const name of order) {
    const why = await activate(name);
    if (why === null) {
      selected = name;
      const note = skipped.length ? ` (skipped: ${skipped.join('; ')})` : '';
      const line = `backend: ${name}${name === 'tfjs-node-gpu' ? ' (uses the GPU where CUDA is available)' : ''}${note}`;
      // Said once per process per log: a pipeline's phases (score, recover, ...) select again.
      if (announced.get(log) !== line) log(line);
      announced.set(log, line);
      return { name, tf };
    }
    if (pref !== 'auto') {
      throw new CompilerError('RUNTIME_FAILED', `cannot use the ${name} backend: ${why}`, {
        hint: name.startsWith('tfjs-node')
          ? `install @tensorflow/${name}@${tf.version_core} (it downloads libtensorflow), or use --backend wasm`
          : 'use --backend auto',
      });
    }
    skipped.push(why);
  }
  throw new CompilerError('RUNTIME_FAILED', `no TensorFlow.js backend could start: ${skipped.join('; ')}`);
}

/** The last line each log was told, so a repeated selection is not announced again. */
const announced = new WeakMap<(m: string) => void, string>();

/** The backend selectBackend picked last, so `currentBackend` can tell tfjs-node-gpu from tfjs-node. */
let selected: BackendName | undefined;

/** The backend tfjs is on now, in our names (undefined when it is none of ours). */
export function currentBackend(): BackendName | undefined {
  const n = tf.getBackend();
  if (n === 'wasm' || n === 'cpu') return n;
  if (n === 'tensorflow') return selected === 'tfjs-node-gpu' ? selected : 'tfjs-node';
  return undefined;
}

/**
 * Training speed of the native backend against the others, from `npm run bench -- train` on
 * this project's 2-core machines (docs/benchmarks.md): process CPU time per step, tfjs-node vs
 * wasm vs cpu in the same run (wall time favours tfjs-node more: it uses both cores).
 * Update both together when the bench is rerun with tfjs-node.
 */
export const MEASURED_NATIVE_SPEEDUP = {
  source: 'npm run bench -- train, CPU time per step, 2-core machine, 2026-11-30',
  // Two runs' CPU ms per step summed: ResNet-20 423 + 423 on wasm, 157 + 160 on tfjs-node; the MLP 20 + 21 and 8 + 7.
  wasm: { 'ResNet-20 (batch 32)': 846 / 317, 'MLP (batch 128)': 41 / 15 },
  cpu: { 'MLP (batch 128)': 484 / 9 },
} as const;

let advised = false;

/**
 * Once per process, for training on wasm or cpu: how much faster the native backend trained
 * here, and the command that installs it (on a machine with internet access: the packages
 * download libtensorflow at install time). Undefined on a native backend or after the first call.
 */
export function nativeBackendAdvice(name: BackendName): string | undefined {
  if (advised || (name !== 'wasm' && name !== 'cpu')) return undefined;
  advised = true;
  const speed = Object.entries(MEASURED_NATIVE_SPEEDUP[name])
    .map(([net, x]) => `${x.toFixed(1)}x on ${net}`)
    .join(', ');
  return (
    `training on ${name}: the native backend (@tensorflow/tfjs-node) trains faster here: ${speed} (${MEASURED_NATIVE_SPEEDUP.source}). ` +
    `Install it where there is internet access: npm install @tensorflow/tfjs-node@${tf.version_core} ` +
    `(NVIDIA GPU with CUDA: npm install @tensorflow/tfjs-node-gpu@${tf.version_core}); sculpt picks it up by itself.`
  );
}
