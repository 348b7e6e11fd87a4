/** Shared output helpers for commands: JSON to stdout, human text, progress to stderr. */
import { createRequire } from 'node:module';

// cli-progress loads only when a bar is drawn on a TTY: start-up stays fast (issue 13).
const require = createRequire(import.meta.url);
const cliProgress = (): typeof import('cli-progress') => require('cli-progress') as typeof import('cli-progress');

export function printJson(x: unknown): void {
  process.stdout.write(`${JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
}

export function say(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export interface Progress {
  update(done: number, info?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A progress bar on a TTY; plain, throttled lines on stderr otherwise (CI logs), and
 * silent with `quiet` (used by --json so stdout stays machine-readable).
 */
export function progress(label: string, total: number, opts: { quiet?: boolean; format?: string } = {}): Progress {
  if (opts.quiet) return { update() {}, stop() {} };
  if (process.stderr.isTTY) {
    const { SingleBar, Presets } = cliProgress();
    const bar = new SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}${opts.format ? ` | ${opts.format}` : ''}`,
        stream: process.stderr,
        hideCursor: true,
      },
      Presets.shades_classic,
    );
    // Custom tokens in `format` ({loss}, {acc}, ...) would show raw until the first update.
    const blank = Object.fromEntries([...(opts.format ?? '').matchAll(/\{(\w+)\}/g)].map((m) => [m[1]!, '-']));
    bar.start(total, 0, blank);
    return { update: (d, info) => bar.update(d, info), stop: () => bar.stop() };
  }
  let last = 0;
  const t0 = Date.now();
  return {
    update(done, info) {
      const now = Date.now();
      if (now - last < 2000 && done < total) return;
      last = now;
      const extra = info
        ? ' ' +
          Object.entries(info)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')
        : '';
      const eta = done > 0 ? (((now - t0) / done) * (total - done)) / 1000 : 0;
      process.stderr.write(`${label} ${done}/${total} (${Math.round((100 * done) / Math.max(1, total))}%) eta ${eta.toFixed(0)}s${extra}\n`);
    },
    stop() {},
  };
}

/** A training loss for a progress bar: with an L1 penalty, the part of it that is the penalty. */
export function lossText(p: { loss: number; penalty?: number }): string {
  if (!Number.isFinite(p.loss)) return '-';
  const l = p.loss.toFixed(4);
  return p.penalty !== undefined && Number.isFinite(p.penalty) ? `${l} (L1 ${p.penalty.toFixed(4)})` : l;
}
