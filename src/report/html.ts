/**
 * The HTML rendering of a ModelDiff: one self-contained file (inline CSS, inline SVG charts,
 * a few lines of inline JS; no fonts, images or scripts from anywhere) that a reviewer opens
 * in a browser or attaches to a pull request. A Content-Security-Policy forbids every fetch,
 * so the page cannot reach the network even if a model's names contained markup (they are
 * escaped anyway).
 *
 * Sections: summary cards (params, MACs, FLOPs, nodes, entry counts); accuracy and latency
 * of the model against its baseline when a ValidationReport is given; a per-layer bar chart
 * of output channels kept against the original; a per-layer chart of MACs before and after;
 * the layer table (unchanged parameter-free nodes behind a toggle).
 */
import type { DiffEntry, LayerInfo, ModelDiff } from './diff.js';
import { humanBytes, humanCount, percentChange } from './text.js';
import type { ModelMeasurement, ValidationReport } from '../validate/validate.js';

export interface HtmlOptions {
  /** validate's report for the same pair (model = b, baseline = a). */
  validation?: ValidationReport;
  title?: string;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const CSS = `
:root{--fg:#1d2433;--muted:#5b6478;--line:#d9dee8;--bg:#f6f7fb;--card:#fff;--orig:#c9d1e0;--kept:#2f6fde;--before:#9aa6bd;--after:#e0782f;--ok:#1d8a4e;--bad:#c62f2f}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:20px 28px 8px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:16px;margin:0 0 10px}
.files{color:var(--muted);margin:0;word-break:break-all}
main{padding:0 28px 28px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 18px;margin:14px 0}
.cards{display:flex;flex-wrap:wrap;gap:12px;background:none;border:0;padding:0}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 16px;min-width:170px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:20px;font-weight:600}
.card .d{font-size:13px;color:var(--muted)}
.down{color:var(--ok)}.up{color:var(--bad)}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);white-space:nowrap}
th{font-size:12px;color:var(--muted);font-weight:600}
td.num,th.num{text-align:right}
tr.st-changed td:first-child{color:#b26b00}tr.st-added td:first-child{color:var(--ok)}
tr.st-removed td:first-child{color:var(--bad)}tr.st-replaced td:first-child{color:#7a3fc4}
tr.sub td{color:var(--muted);border-bottom-style:dotted}
tr.quiet{display:none}body.show-all tr.quiet{display:table-row}
.chart{overflow-x:auto}
.legend{font-size:12px;color:var(--muted);margin:0 0 6px}
.legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;vertical-align:-1px}
.pass{color:var(--ok);font-weight:600}.fail{color:var(--bad);font-weight:600}
.note{color:var(--muted);font-size:12px}
`;

const SCRIPT = `
(function(){var b=document.getElementById('show-all');if(!b)return;b.addEventListener('change',function(){document.body.classList.toggle('show-all',b.checked);});})();
`;

function card(title: string, before: number, after: number, fmt: (x: number) => string = humanCount, lowerBound = false): string {
  if (lowerBound) {
    return (
      `<div class="card"><div class="k">${escapeHtml(title)}</div><div class="v">≥ ${escapeHtml(fmt(after))}</div>` +
      `<div class="d">from ≥ ${escapeHtml(fmt(before))}; unknown: give --input-shape</div></div>`
    );
  }
  const pc = percentChange(before, after);
  const cls = after < before ? 'down' : after > before ? 'up' : '';
  return (
    `<div class="card"><div class="k">${escapeHtml(title)}</div><div class="v">${escapeHtml(fmt(after))}</div>` +
    `<div class="d">${before === after ? 'unchanged' : `from ${escapeHtml(fmt(before))}${pc ? ` <span class="${cls}">${escapeHtml(pc)}</span>` : ''}`}</div></div>`
  );
}

function entryName(e: DiffEntry): string {
  return (e.status === 'replaced' ? e.before[0]! : (e.after[0] ?? e.before[0])!).name;
}

/**
 * The layers the charts show: those that do multiply-accumulates (Conv, Gemm, MatMul, ...),
 * present in the original. BatchNorm and friends follow their conv and would only repeat it.
 */
export function chartEntries(d: ModelDiff): DiffEntry[] {
  return d.entries.filter((e) => e.status !== 'added' && e.macs.before > 0 && e.before.some((l) => l.outChannels !== null));
}

interface Bar {
  label: string;
  values: number[];
  tip: string;
}

/** A vertical grouped bar chart as inline SVG; `overlay` draws the series on top of each other. */
function barChart(bars: Bar[], colors: string[], opts: { overlay: boolean; yLabel: string; fmt: (x: number) => string }): string {
  if (bars.length === 0) return '<p class="note">no layers with multiply-accumulates</p>';
  const series = colors.length;
  const slot = Math.max(10, Math.min(34, Math.floor(960 / bars.length)));
  const left = 56;
  const top = 10;
  const plotH = 200;
  const labelH = 110;
  const width = left + slot * bars.length + 10;
  const height = top + plotH + labelH;
  const max = Math.max(1, ...bars.flatMap((b) => b.values));
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(opts.yLabel)}">`,
  );
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${left}" x2="${width - 10}" y1="${yy}" y2="${yy}" stroke="#e6e9f0"/>`);
    parts.push(`<text x="${left - 6}" y="${yy}" font-size="10" text-anchor="end" dominant-baseline="middle" fill="#5b6478">${escapeHtml(opts.fmt(v))}</text>`);
  }
  bars.forEach((b, i) => {
    const x0 = left + i * slot;
    const inner = slot - Math.max(2, Math.round(slot * 0.2));
    const bw = opts.overlay ? inner : inner / series;
    b.values.forEach((v, s) => {
      const x = opts.overlay ? x0 + 1 : x0 + 1 + s * bw;
      const w = opts.overlay && s > 0 ? Math.max(2, bw * 0.6) : bw;
      const xx = opts.overlay && s > 0 ? x + (bw - w) / 2 : x;
      const yy = y(v);
      parts.push(
        `<rect x="${xx.toFixed(1)}" y="${yy.toFixed(1)}" width="${w.toFixed(1)}" height="${(top + plotH - yy).toFixed(1)}" fill="${colors[s]}"><title>${escapeHtml(b.tip)}</title></rect>`,
      );
    });
    const lx = x0 + slot / 2;
    const ly = top + plotH + 6;
    const label = b.label.length > 18 ? `…${b.label.slice(-17)}` : b.label;
    parts.push(
      `<text x="${lx.toFixed(1)}" y="${ly}" font-size="10" fill="#1d2433" text-anchor="end" transform="rotate(-60 ${lx.toFixed(1)} ${ly})">${escapeHtml(label)}</text>`,
    );
  });
  parts.push(`<line x1="${left}" x2="${width - 10}" y1="${top + plotH}" y2="${top + plotH}" stroke="#9aa6bd"/>`);
  parts.push('</svg>');
  return parts.join('');
}

function channelsChart(d: ModelDiff): string {
  const bars: Bar[] = chartEntries(d).map((e) => {
    const orig = e.before[e.before.length - 1]!.outChannels ?? 0;
    const kept = e.after.length ? (e.after[e.after.length - 1]!.outChannels ?? 0) : 0;
    return {
      label: entryName(e),
      values: [orig, kept],
      tip: `${entryName(e)}: ${kept} of ${orig} output channels kept${orig ? ` (${((100 * kept) / orig).toFixed(1)}%)` : ''}`,
    };
  });
  return (
    `<p class="legend"><i style="background:var(--orig)"></i>original<i style="background:var(--kept)"></i>kept</p>` +
    `<div class="chart">${barChart(bars, ['#c9d1e0', '#2f6fde'], { overlay: true, yLabel: 'output channels', fmt: (x) => String(Math.round(x)) })}</div>`
  );
}

function macsChart(d: ModelDiff): string {
  const bars: Bar[] = chartEntries(d).map((e) => ({
    label: entryName(e),
    values: [e.macs.before, e.macs.after],
    tip: `${entryName(e)}: ${humanCount(e.macs.before)} → ${humanCount(e.macs.after)} MACs ${percentChange(e.macs.before, e.macs.after)}`,
  }));
  return (
    `<p class="legend"><i style="background:var(--before)"></i>before<i style="background:var(--after)"></i>after</p>` +
    `<div class="chart">${barChart(bars, ['#9aa6bd', '#e0782f'], { overlay: false, yLabel: 'MACs', fmt: humanCount })}</div>`
  );
}

function num(x: number | null): string {
  return x === null ? '' : String(x);
}
function pairText(a: string, b: string): string {
  return a === b ? a : `${a} → ${b}`;
}
function kg(l: LayerInfo | undefined): string {
  if (!l) return '';
  const k = l.kernel ? l.kernel.join('×') : '';
  return [k, l.groups !== null && l.groups !== 1 ? `g${l.groups}` : ''].filter(Boolean).join(' ');
}

function layerTable(d: ModelDiff): string {
  const rows: string[] = [];
  for (const e of d.entries) {
    const a = e.before[0];
    const b = e.after[0];
    const lastA = e.before[e.before.length - 1];
    const lastB = e.after[e.after.length - 1];
    const quiet = e.status === 'same' && e.params.before === 0;
    const op =
      e.before.length > 1 || e.after.length > 1
        ? `${e.before.map((l) => l.op).join('+') || '∅'} → ${e.after.map((l) => l.op).join('+') || '∅'}`
        : a && b
          ? pairText(a.op, b.op)
          : (a ?? b)!.op;
    const group = e.before.length > 1 || e.after.length > 1;
    // A replacement group keeps the interface of what it replaced: show the original's channels.
    const cin = group ? num(a!.inChannels) : pairText(a ? num(a.inChannels) : '', b ? num(b.inChannels) : '');
    const cout = group ? num(lastA!.outChannels) : pairText(lastA ? num(lastA.outChannels) : '', lastB ? num(lastB.outChannels) : '');
    const side = (f: (x: { before: number; after: number }) => string, v: { before: number; after: number }) => f(v);
    const counts = (v: { before: number; after: number }) =>
      e.status === 'added' ? humanCount(v.after) : e.status === 'removed' ? humanCount(v.before) : pairText(humanCount(v.before), humanCount(v.after));
    rows.push(
      `<tr class="st-${e.status}${quiet ? ' quiet' : ''}"><td>${e.status}</td><td>${escapeHtml(entryName(e))}</td><td>${escapeHtml(op)}</td>` +
        `<td class="num">${escapeHtml(cin)}</td><td class="num">${escapeHtml(cout)}</td><td>${escapeHtml(group ? kg(a) : pairText(kg(a), kg(b)))}</td>` +
        `<td class="num">${escapeHtml(side(counts, e.params))}</td><td class="num">${escapeHtml(side(counts, e.macs))}</td>` +
        `<td class="num">${escapeHtml(e.status === 'same' ? '' : percentChange(e.macs.before, e.macs.after))}</td></tr>`,
    );
    if (group) {
      for (const l of e.after) {
        rows.push(
          `<tr class="sub"><td></td><td>&nbsp;&nbsp;› ${escapeHtml(l.name)}</td><td>${escapeHtml(l.op)}</td><td class="num">${num(l.inChannels)}</td>` +
            `<td class="num">${num(l.outChannels)}</td><td>${escapeHtml(kg(l))}</td><td class="num">${humanCount(l.params)}</td><td class="num">${humanCount(l.macs)}</td><td></td></tr>`,
        );
      }
    }
  }
  const hidden = d.entries.filter((e) => e.status === 'same' && e.params.before === 0).length;
  return (
    `${hidden ? `<p class="note"><label><input type="checkbox" id="show-all"> show ${hidden} unchanged parameter-free nodes</label></p>` : ''}` +
    '<table><thead><tr><th>status</th><th>layer</th><th>op</th><th class="num">ch in</th><th class="num">ch out</th><th>kernel/groups</th>' +
    `<th class="num">params</th><th class="num">MACs</th><th class="num">ΔMACs</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
  );
}

function pct(x: number | undefined | null): string {
  return x === undefined || x === null ? '–' : `${(x * 100).toFixed(2)}%`;
}
function ms(x: number | undefined | null): string {
  return x === undefined || x === null ? '–' : `${x.toFixed(3)} ms`;
}
function fixed(x: number | null | undefined, d = 3): string {
  return x === undefined || x === null ? '–' : x.toFixed(d);
}

function validationSection(v: ValidationReport): string {
  const m = v.model;
  const b = v.baseline;
  const rows: [string, (x: ModelMeasurement) => string, string][] = [
    [
      'top-1 accuracy',
      (x) => pct(x.accuracy?.top1),
      v.comparison?.top1DeltaPoints != null ? `${v.comparison.top1DeltaPoints >= 0 ? '+' : ''}${v.comparison.top1DeltaPoints.toFixed(2)} pts` : '',
    ],
    [
      `top-${m.accuracy?.k ?? 5} accuracy`,
      (x) => pct(x.accuracy?.topK),
      v.comparison?.topKDeltaPoints != null ? `${v.comparison.topKDeltaPoints >= 0 ? '+' : ''}${v.comparison.topKDeltaPoints.toFixed(2)} pts` : '',
    ],
    ['test samples', (x) => (x.accuracy ? String(x.accuracy.samples) : '–'), ''],
    [
      'latency, batch 1 (median)',
      (x) => ms(x.latency?.batch1.medianMs),
      v.comparison?.speedup.batch1 != null ? `${v.comparison.speedup.batch1.toFixed(2)}× speed-up` : '',
    ],
    ['latency, batch 1 (p90 / min)', (x) => (x.latency ? `${ms(x.latency.batch1.p90Ms)} / ${ms(x.latency.batch1.minMs)}` : '–'), ''],
    ['latency, batch 1 (runs)', (x) => (x.latency ? `${x.latency.batch1.runs}${x.latency.batch1.stable ? '' : ` (${x.latency.batch1.stopReason})`}` : '–'), ''],
    [
      `latency, batch ${m.latency?.batchSize ?? ''} (median)`,
      (x) => ms(x.latency?.batch?.medianMs),
      v.comparison?.speedup.batch != null ? `${v.comparison.speedup.batch.toFixed(2)}× speed-up` : '',
    ],
    ['params', (x) => humanCount(x.params), b ? percentChange(b.params, m.params) : ''],
    [
      'FLOPs',
      (x) => `${x.costExact === false ? '≥ ' : ''}${humanCount(x.flops)}`,
      b && v.comparison?.costExact !== false ? percentChange(b.flops, m.flops) : '',
    ],
    [
      'file size',
      (x) => (x.fileBytes === null ? '–' : humanBytes(x.fileBytes)),
      b && b.fileBytes !== null && m.fileBytes !== null ? percentChange(b.fileBytes, m.fileBytes) : '',
    ],
  ];
  const body = rows
    .map(
      ([k, f, d]) =>
        `<tr><td>${escapeHtml(k)}</td>${b ? `<td class="num">${escapeHtml(f(b))}</td>` : ''}<td class="num">${escapeHtml(f(m))}</td>${b ? `<td class="num">${escapeHtml(d)}</td>` : ''}</tr>`,
    )
    .join('');
  const scores = v.comparison
    ? `<p>CE = ${fixed(v.comparison.ce)} &nbsp; SE = ${fixed(v.comparison.se)} <span class="note">(CE = (Acc/Acc<sub>b</sub>)/(FLOPs/FLOPs<sub>b</sub>), SE = (Acc/Acc<sub>b</sub>)/(Params/Params<sub>b</sub>), top-1)</span></p>`
    : '';
  const gates = v.gates.length
    ? `<table><thead><tr><th>gate</th><th>result</th><th>measured</th></tr></thead><tbody>${v.gates.map((g) => `<tr><td>--${escapeHtml(g.gate)} ${g.limit}</td><td class="${g.passed ? 'pass' : 'fail'}">${g.passed ? 'pass' : 'FAIL'}</td><td>${escapeHtml(g.message)}</td></tr>`).join('')}</tbody></table>`
    : '';
  const data = m.accuracy ? ` on ${escapeHtml(m.accuracy.dataset)}` : '';
  return (
    `<section id="validation"><h2>Validation${data}</h2><p class="note">onnxruntime, provider ${escapeHtml(v.provider)}${v.provider !== v.requestedProvider ? ` (asked for ${escapeHtml(v.requestedProvider)})` : ''}, ${v.threads} thread(s)</p>` +
    `<table><thead><tr><th></th>${b ? '<th class="num">baseline</th>' : ''}<th class="num">model</th>${b ? '<th class="num">change</th>' : ''}</tr></thead><tbody>${body}</tbody></table>${scores}${gates}</section>`
  );
}

/** Renders the self-contained HTML page for a diff (and optional validation). */
export function renderDiffHtml(d: ModelDiff, opts: HtmlOptions = {}): string {
  const title = opts.title ?? `sculpt diff: ${d.a.label} → ${d.b.label}`;
  const c = d.counts;
  const cards = [
    card('params', d.a.params, d.b.params),
    card('MACs', d.a.macs, d.b.macs, humanCount, d.a.costExact === false || d.b.costExact === false),
    card('FLOPs', d.a.flops, d.b.flops, humanCount, d.a.costExact === false || d.b.costExact === false),
    card('nodes', d.a.nodes, d.b.nodes),
    `<div class="card"><div class="k">layers</div><div class="v">${d.identical ? 'no change' : `${c.changed + c.replaced + c.added + c.removed} differ`}</div>` +
      `<div class="d">${c.same} same · ${c.changed} changed · ${c.replaced} replaced · ${c.removed} removed · ${c.added} added</div></div>`,
  ].join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style></head>
<body>
<header><h1>sculpt diff</h1><p class="files">${escapeHtml(d.a.label)} → ${escapeHtml(d.b.label)}</p></header>
<main>
<section class="cards">${cards}</section>
${opts.validation ? validationSection(opts.validation) : ''}
<section id="channels"><h2>Output channels kept per layer</h2>${channelsChart(d)}</section>
<section id="macs"><h2>MACs per layer</h2>${macsChart(d)}</section>
<section id="layers"><h2>Layers</h2>${layerTable(d)}</section>
<p class="note">schemaVersion ${d.schemaVersion} · generated by sculpt</p>
</main>
<script>${SCRIPT}</script>
</body></html>
`;
}
