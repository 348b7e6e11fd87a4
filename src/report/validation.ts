/**
 * Terminal rendering of a ValidationReport (the JSON form is the report itself).
 *
 *   model     pruned.onnx   1.1 MiB  135.3K params  20.4M MACs  40.8M FLOPs
 *   baseline  resnet20.onnx 1.1 MiB  272.5K params  40.8M MACs  81.6M FLOPs
 *   accuracy on mnist:test (10000 samples)   baseline    model   change
 *     top-1                                    91.23%   90.50%   -0.73 pts
 */
import type { LatencyStats } from '../runtime/latency.js';
import type { ModelMeasurement, ValidationReport } from '../validate/validate.js';
import { humanBytes, humanCount } from './text.js';

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}
function pts(x: number | null): string {
  return x === null ? '' : `${x >= 0 ? '+' : ''}${x.toFixed(2)} pts`;
}

function sizeLine(label: string, m: ModelMeasurement): string {
  const size = m.fileBytes === null ? 'in memory' : humanBytes(m.fileBytes);
  return `${label.padEnd(10)}${(m.path ?? '').padEnd(28)} ${size.padStart(10)}  ${humanCount(m.params).padStart(7)} params  ${m.costExact === false ? '>=' : ''}${humanCount(m.macs).padStart(7)} MACs  ${m.costExact === false ? '>=' : ''}${humanCount(m.flops).padStart(7)} FLOPs${m.costExact === false ? ` (unknown dims ${m.unknownDims.join(', ')}: give --input-shape)` : ''}`;
}

function lat(s: LatencyStats | null | undefined): string {
  if (!s) return '–';
  return `${s.medianMs.toFixed(3)} / ${s.p90Ms.toFixed(3)} / ${s.minMs.toFixed(3)} ms, ${s.runs} runs${s.stable ? '' : ` (${s.stopReason})`}`;
}

/** Renders the report for a terminal. */
export function renderValidationText(r: ValidationReport): string {
  const out: string[] = [];
  const m = r.model;
  const b = r.baseline;
  out.push(sizeLine('model', m));
  if (b) out.push(sizeLine('baseline', b));
  if (m.accuracy) {
    const acc = m.accuracy;
    out.push('');
    out.push(`accuracy on ${acc.dataset} (${acc.samples} samples)`);
    const row = (k: string, f: (x: ModelMeasurement) => number | undefined, d: number | null) => {
      const mv = f(m);
      const bv = b ? f(b) : undefined;
      out.push(
        `  ${k.padEnd(8)}${b ? (bv === undefined ? '' : pct(bv)).padStart(10) : ''}${(mv === undefined ? '' : pct(mv)).padStart(10)}${b ? pts(d).padStart(13) : ''}`,
      );
    };
    out.push(`  ${''.padEnd(8)}${b ? 'baseline'.padStart(10) : ''}${'model'.padStart(10)}${b ? 'change'.padStart(13) : ''}`);
    row('top-1', (x) => x.accuracy?.top1, r.comparison?.top1DeltaPoints ?? null);
    row(`top-${acc.k}`, (x) => x.accuracy?.topK, r.comparison?.topKDeltaPoints ?? null);
    if (acc.perClass.length <= 20) {
      out.push('  per class (top-1): ' + acc.perClass.map((c) => `${c.name ?? c.label} ${(c.accuracy * 100).toFixed(1)}`).join(', '));
    }
  }
  if (m.latency) {
    out.push('');
    out.push(
      `latency (${r.provider}${r.provider !== r.requestedProvider ? `, asked for ${r.requestedProvider}` : ''}, ${r.threads} thread${r.threads === 1 ? '' : 's'}; median / p90 / min)`,
    );
    out.push(`  batch 1    model     ${lat(m.latency.batch1)}`);
    if (b?.latency) out.push(`             baseline  ${lat(b.latency.batch1)}`);
    if (m.latency.batch) {
      out.push(`  batch ${String(m.latency.batchSize).padEnd(4)} model     ${lat(m.latency.batch)}`);
      if (b?.latency?.batch) out.push(`             baseline  ${lat(b.latency.batch)}`);
    }
    const s = r.comparison?.speedup;
    if (s && s.batch1 !== null)
      out.push(`  speed-up   ${s.batch1.toFixed(2)}x at batch 1${s.batch !== null ? `, ${s.batch.toFixed(2)}x at batch ${m.latency.batchSize}` : ''}`);
  }
  if (r.comparison) {
    const c = r.comparison;
    out.push('');
    out.push(
      `params ${c.params.ratio === null ? '–' : `${(c.params.ratio * 100).toFixed(1)}%`} of baseline, FLOPs ${c.flops.ratio === null ? '–' : `${(c.flops.ratio * 100).toFixed(1)}%`}` +
        (c.ce !== null ? `; CE ${c.ce.toFixed(3)}, SE ${c.se === null ? '–' : c.se.toFixed(3)}` : ''),
    );
  }
  if (r.gates.length) {
    out.push('');
    out.push('gates');
    for (const g of r.gates) out.push(`  ${g.passed ? 'pass' : 'FAIL'} ${g.gate}: ${g.message}`);
  }
  return `${out.join('\n')}\n`;
}
