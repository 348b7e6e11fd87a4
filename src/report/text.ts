/**
 * The terminal / code-review rendering of a ModelDiff: a summary, then one row per entry in
 * the diff's stable order, every line at most 100 columns.
 *
 *   st layer                    op            ch in     ch out    k/groups  params        MACs
 *   ~  layer1.0.conv1           Conv          16        16→8      3x3       2.30K→1.15K   2.36M→1.18M
 *
 * Status marks: `=` same, `~` changed, `+` added, `-` removed, `R` replaced (the new nodes of
 * a replacement follow on indented `>` lines). Parameter-free nodes that did not change are
 * hidden unless `all` is set (their count is printed).
 */
import type { DiffEntry, LayerInfo, ModelDiff } from './diff.js';
import { humanCount } from '../util/format.js';

export const TEXT_WIDTH = 100;

const MARK: Record<DiffEntry['status'], string> = { same: '=', changed: '~', added: '+', removed: '-', replaced: 'R' };

export { humanBytes, humanCount } from '../util/format.js';

/** Signed percent change b vs a ("-50.0%"); "" when equal, "new" from 0. */
export function percentChange(a: number, b: number): string {
  if (a === b) return '';
  if (!a) return 'new';
  const p = ((b - a) / a) * 100;
  return `${p > 0 ? '+' : ''}${p.toFixed(1)}%`;
}

/** Fits `s` into `w` columns, cutting the middle (names keep their informative ends). */
export function fit(s: string, w: number): string {
  if (s.length <= w) return s.padEnd(w);
  if (w <= 1) return s.slice(0, w);
  const head = Math.ceil((w - 1) / 2);
  return `${s.slice(0, head)}…${s.slice(s.length - (w - 1 - head))}`;
}

const SHORT_OPS: Record<string, string> = {
  BatchNormalization: 'BatchNorm',
  InstanceNormalization: 'InstanceNorm',
  GlobalAveragePool: 'GlobalAvgPool',
  GlobalMaxPool: 'GlobalMaxPool',
  ConvTranspose: 'ConvTranspose',
  LayerNormalization: 'LayerNorm',
};

function opName(l: LayerInfo): string {
  const op = SHORT_OPS[l.op] ?? l.op;
  return l.domain && l.domain !== 'ai.onnx' ? `${l.domain}.${op}` : op;
}

function pair(a: string, b: string): string {
  return a === b ? a : `${a}→${b}`;
}

function optNum(x: number | null): string {
  return x === null ? '' : String(x);
}

function kg(l: LayerInfo | undefined): string {
  if (!l) return '';
  const k = l.kernel ? l.kernel.join('x') : '';
  const g = l.groups !== null && l.groups !== 1 ? `g${l.groups}` : '';
  return [k, g].filter(Boolean).join(' ');
}

const COLS = { mark: 2, name: 24, op: 13, cin: 9, cout: 9, kg: 9, params: 13, macs: 13 } as const;

function row(cells: { mark: string; name: string; op: string; cin: string; cout: string; kg: string; params: string; macs: string }): string {
  const parts = [
    fit(cells.mark, COLS.mark),
    fit(cells.name, COLS.name),
    fit(cells.op, COLS.op),
    fit(cells.cin, COLS.cin),
    fit(cells.cout, COLS.cout),
    fit(cells.kg, COLS.kg),
    fit(cells.params, COLS.params),
    fit(cells.macs, COLS.macs),
  ];
  return parts.join(' ').trimEnd();
}

function side(l: LayerInfo | undefined, f: (l: LayerInfo) => string): string {
  return l ? f(l) : '';
}

function entryRows(e: DiffEntry): string[] {
  const a = e.before[0];
  const b = e.after[0];
  const name = (b ?? a)!.name;
  const params =
    e.status === 'added'
      ? humanCount(e.params.after)
      : e.status === 'removed'
        ? humanCount(e.params.before)
        : pair(humanCount(e.params.before), humanCount(e.params.after));
  const macs =
    e.status === 'added'
      ? humanCount(e.macs.after)
      : e.status === 'removed'
        ? humanCount(e.macs.before)
        : pair(humanCount(e.macs.before), humanCount(e.macs.after));
  if (e.status === 'replaced' && (e.before.length > 1 || e.after.length > 1)) {
    // The group keeps the interface of what it replaced: the header row shows the original's
    // channels and kernel; the new nodes follow, named relative to it where they share its prefix.
    const firstA = e.before[0]!;
    const lastA = e.before[e.before.length - 1]!;
    const parent = firstA.name;
    const ops = `${e.before.length > 1 ? `[${e.before.length}]` : opName(firstA)}→[${e.after.length}]`;
    const rows = [
      row({
        mark: MARK.replaced,
        name: parent,
        op: ops,
        cin: optNum(firstA.inChannels),
        cout: optNum(lastA.outChannels),
        kg: kg(firstA),
        params,
        macs,
      }),
    ];
    for (const l of e.after) {
      const rel = l.name.startsWith(`${parent}.`) && l.name.length > parent.length + 1 ? `…${l.name.slice(parent.length)}` : l.name;
      rows.push(
        row({
          mark: '',
          name: `> ${rel}`,
          op: opName(l),
          cin: optNum(l.inChannels),
          cout: optNum(l.outChannels),
          kg: kg(l),
          params: humanCount(l.params),
          macs: humanCount(l.macs),
        }),
      );
    }
    return rows;
  }
  return [
    row({
      mark: MARK[e.status],
      name,
      op: a && b ? pair(opName(a), opName(b)) : opName((a ?? b)!),
      cin: a && b ? pair(optNum(a.inChannels), optNum(b.inChannels)) : side(a ?? b, (l) => optNum(l.inChannels)),
      cout: a && b ? pair(optNum(a.outChannels), optNum(b.outChannels)) : side(a ?? b, (l) => optNum(l.outChannels)),
      kg: a && b ? pair(kg(a), kg(b)) : kg(a ?? b),
      params,
      macs,
    }),
  ];
}

export interface TextOptions {
  /** Show unchanged parameter-free nodes too. */
  all?: boolean;
}

/** Renders a diff for terminals; every line ≤ TEXT_WIDTH columns, stable order. */
export function renderDiffText(d: ModelDiff, opts: TextOptions = {}): string {
  const out: string[] = [];
  const c = d.counts;
  out.push(`sculpt diff`);
  out.push(`  a: ${fit(d.a.label, TEXT_WIDTH - 5).trimEnd()}`);
  out.push(`  b: ${fit(d.b.label, TEXT_WIDTH - 5).trimEnd()}`);
  const tot = (label: string, x: number, y: number) => `  ${label.padEnd(8)}${pair(humanCount(x), humanCount(y)).padEnd(24)}${percentChange(x, y)}`;
  out.push(tot('params', d.a.params, d.b.params));
  // Lower bounds (dims left symbolic) get no percentage: a ratio of bounds is no ratio.
  const exact = d.a.costExact !== false && d.b.costExact !== false;
  const bound = (label: string, x: number, y: number) =>
    exact
      ? tot(label, x, y)
      : `  ${label.padEnd(8)}${pair(`>=${humanCount(x)}`, `>=${humanCount(y)}`).padEnd(24)}unknown: give --input-shape (${[...new Set([...d.a.unknownDims, ...d.b.unknownDims])].join(', ')})`;
  out.push(bound('MACs', d.a.macs, d.b.macs));
  out.push(bound('FLOPs', d.a.flops, d.b.flops));
  out.push(tot('nodes', d.a.nodes, d.b.nodes));
  const matched = d.counts.matchedBy;
  out.push(`  layers  ${c.same} same, ${c.changed} changed, ${c.replaced} replaced, ${c.removed} removed, ${c.added} added`);
  out.push(`  matched by name ${matched.name}, by output ${matched.output}, by position ${matched.position}, by structure ${matched.structure}`);
  if (d.identical) {
    out.push('');
    out.push('no changes: the models are the same layer for layer');
    return `${out.join('\n')}\n`;
  }
  out.push('');
  out.push(row({ mark: 'st', name: 'layer', op: 'op', cin: 'ch in', cout: 'ch out', kg: 'k/groups', params: 'params', macs: 'MACs' }));
  let hidden = 0;
  for (const e of d.entries) {
    const quiet = e.status === 'same' && e.params.before === 0;
    if (quiet && !opts.all) {
      hidden++;
      continue;
    }
    out.push(...entryRows(e));
  }
  if (hidden) out.push(`(${hidden} unchanged parameter-free nodes hidden; --all shows them)`);
  return `${out.join('\n')}\n`;
}
