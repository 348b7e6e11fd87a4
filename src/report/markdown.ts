/**
 * The pull-request rendering of a ModelDiff: a short GitHub-flavoured Markdown summary fit for
 * a review comment. Totals are printed as exact integers (with a short form beside them) so a
 * reader, or a test, finds the same numbers as in the JSON rendering.
 *
 *   ### sculpt diff: resnet20.onnx → pruned.onnx
 *   | | before | after | after / before |
 *   |---|---:|---:|---:|
 *   | params | 272,474 (272K) | 136,116 (136K) | 0.4996 |
 *
 * Then the counts of unchanged / changed / added / removed / replaced nodes, and one table row
 * per node whose weights, channels or kernel changed (at most `maxRows`; the rest are counted).
 */
import type { DiffEntry, LayerInfo, ModelDiff } from './diff.js';
import type { ValidationReport } from '../validate/validate.js';
import { humanCount } from './text.js';

export interface MarkdownOptions {
  /** Most layer rows listed (default 40). */
  maxRows?: number;
  /** Accuracy/latency of b against a, from `sculpt validate --json`. */
  validation?: ValidationReport;
}

/** `|` and newlines would break a table cell. */
function cell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function exact(x: number): string {
  return `${x.toLocaleString('en-US')} (${humanCount(x)})`;
}

function ratio(r: number | null): string {
  return r === null ? 'n/a' : r.toFixed(4);
}

function channels(l: LayerInfo | undefined): string {
  if (!l || (l.inChannels === null && l.outChannels === null)) return '';
  return `${l.inChannels ?? '?'}→${l.outChannels ?? '?'}`;
}

function pair(a: string, b: string): string {
  return a === b ? a : `${a} → ${b}`;
}

function entryName(e: DiffEntry): string {
  const l = e.after[0] ?? e.before[0];
  return l ? l.name : '?';
}

function entryOp(e: DiffEntry): string {
  const a = e.before.map((l) => l.op).join('+');
  const b = e.after.map((l) => l.op).join('+');
  return pair(a || '—', b || '—');
}

const STATUS_WORD: Record<DiffEntry['status'], string> = {
  same: 'same',
  changed: 'changed',
  added: 'added',
  removed: 'removed',
  replaced: 'replaced',
};

/** Renders the diff as Markdown (trailing newline). */
export function renderDiffMarkdown(d: ModelDiff, opts: MarkdownOptions = {}): string {
  const maxRows = opts.maxRows ?? 40;
  const out: string[] = [];
  out.push(`### sculpt diff: \`${cell(d.a.label)}\` → \`${cell(d.b.label)}\``, '');
  out.push('| | before | after | after / before |', '|---|---:|---:|---:|');
  out.push(`| params | ${exact(d.a.params)} | ${exact(d.b.params)} | ${ratio(d.ratios.params)} |`);
  // Lower bounds (dims left symbolic) read "≥" and get no ratio (it is null in the JSON too).
  const lb = (side: ModelDiff['a']) => (side.costExact === false ? '≥ ' : '');
  const unknownNote = d.a.costExact === false || d.b.costExact === false ? 'unknown: give --input-shape' : '';
  out.push(`| MACs | ${lb(d.a)}${exact(d.a.macs)} | ${lb(d.b)}${exact(d.b.macs)} | ${unknownNote || ratio(d.ratios.macs)} |`);
  out.push(`| FLOPs | ${lb(d.a)}${exact(d.a.flops)} | ${lb(d.b)}${exact(d.b.flops)} | ${unknownNote || ratio(d.ratios.flops)} |`);
  out.push(`| nodes | ${d.a.nodes} | ${d.b.nodes} | |`);
  const v = opts.validation;
  if (v?.baseline?.accuracy && v.model.accuracy) {
    out.push(
      `| top-1 accuracy | ${(v.baseline.accuracy.top1 * 100).toFixed(2)}% | ${(v.model.accuracy.top1 * 100).toFixed(2)}% | ${v.comparison?.top1DeltaPoints === null || v.comparison === null ? '' : `${v.comparison.top1DeltaPoints >= 0 ? '+' : ''}${v.comparison.top1DeltaPoints.toFixed(2)} points`} |`,
    );
  }
  if (v?.baseline?.latency && v.model.latency) {
    const sp = v.comparison?.speedup.batch1;
    out.push(
      `| latency, batch 1 (median) | ${v.baseline.latency.batch1.medianMs.toFixed(3)} ms | ${v.model.latency.batch1.medianMs.toFixed(3)} ms | ${sp ? `speed-up ${sp.toFixed(2)}×` : ''} |`,
    );
  }
  out.push('');
  const c = d.counts;
  out.push(
    d.identical
      ? 'The models are identical node for node.'
      : `Nodes: ${c.same} unchanged, ${c.changed} changed, ${c.added} added, ${c.removed} removed, ${c.replaced} replaced.`,
  );
  const rows = d.entries.filter((e) => e.status !== 'same');
  if (rows.length) {
    out.push('', '| | layer | op | channels in→out | params | MACs | what changed |', '|---|---|---|---|---:|---:|---|');
    for (const e of rows.slice(0, maxRows)) {
      const b = e.before[0];
      const a = e.after[0];
      const ch = e.before.length <= 1 && e.after.length <= 1 ? pair(channels(b), channels(a)) : '';
      out.push(
        `| ${STATUS_WORD[e.status]} | ${cell(entryName(e))} | ${cell(entryOp(e))} | ${cell(ch)} | ${pair(humanCount(e.params.before), humanCount(e.params.after))} | ${pair(humanCount(e.macs.before), humanCount(e.macs.after))} | ${cell(e.changes.join(', '))} |`,
      );
    }
    if (rows.length > maxRows) out.push('', `…and ${rows.length - maxRows} more changed nodes (see the JSON or HTML diff).`);
  }
  out.push('');
  return `${out.join('\n')}\n`;
}
