/**
 * Prints IR as stable text for golden tests and `--print-ir-after-change`: values by
 * name, attributes sorted, tensors summarised by type and shape (never by contents).
 *
 *   graph main (%x: float[1,3,8,8]) -> (%y: float[1,4,8,8])
 *     init %w: float[4,3,3,3]
 *     %c = Conv(%x, %w) {kernel_shape=[3,3], pads=[1,1,1,1]}  # conv1
 */
import type { Attribute } from './attribute.js';
import { bytesToString } from './attribute.js';
import type { Graph, Model, Value } from './core.js';
import { dataTypeName } from './data-type.js';
import type { Tensor } from './tensor.js';
import { formatType } from './types.js';

function tensorSummary(t: Tensor): string {
  return `${dataTypeName(t.dataType)}[${t.shape.join(',')}]`;
}

function attrText(a: Attribute): string {
  const v = a.v;
  switch (v.type) {
    case 1:
      return String(Number(v.value.toPrecision(7)));
    case 2:
      return String(v.value);
    case 3:
      return JSON.stringify(bytesToString(v.value));
    case 4:
      return `tensor ${tensorSummary(v.value)}`;
    case 5:
      return `<graph ${v.value.name || '?'}>`;
    case 6:
      return `[${v.value.map((x) => Number(x.toPrecision(7))).join(',')}]`;
    case 7:
      return `[${v.value.join(',')}]`;
    case 8:
      return `[${v.value.map((s) => JSON.stringify(bytesToString(s))).join(',')}]`;
    case 9:
      return `[${v.value.map(tensorSummary).join(',')}]`;
    case 10:
      return `[${v.value.map((g) => `<graph ${g.name || '?'}>`).join(',')}]`;
    case 11:
      return 'sparse';
    case 12:
      return 'sparse[]';
    case 13:
      return formatType(v.value);
    case 14:
      return `[${v.value.map(formatType).join(',')}]`;
    default:
      return 'undefined';
  }
}

function val(v: Value | null): string {
  return v ? `%${v.name}` : '_';
}

export function printGraph(g: Graph, indent = ''): string {
  const lines: string[] = [];
  const sig = (vs: readonly Value[]) => vs.map((v) => `%${v.name}: ${formatType(v.type)}`).join(', ');
  const inputs = g.inputs.filter((v) => !v.initializer);
  lines.push(`${indent}graph ${g.name || 'main'} (${sig(inputs)}) -> (${sig(g.outputs)})`);
  for (const v of g.initializers) lines.push(`${indent}  init %${v.name}: ${tensorSummary(v.initializer!)}`);
  for (const n of g.nodes) {
    const attrs = [...n.attributes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((a) => `${a.name}=${attrText(a)}`);
    const op = n.domain ? `${n.domain}.${n.opType}` : n.opType;
    const outs = n.outputs.map(val).join(', ');
    const attrPart = attrs.length ? ` {${attrs.join(', ')}}` : '';
    lines.push(`${indent}  ${outs} = ${op}(${n.inputs.map(val).join(', ')})${attrPart}${n.name ? `  # ${n.name}` : ''}`);
    for (const a of [...n.attributes].sort((x, y) => (x.name < y.name ? -1 : 1))) {
      const gs = a.v.type === 5 ? [a.v.value] : a.v.type === 10 ? a.v.value : [];
      for (const g of gs) lines.push(`${indent}    ${a.name}:`, printGraph(g, `${indent}      `));
    }
  }
  return lines.join('\n');
}

export function printModel(m: Model): string {
  const opsets = m.opsetImports.map((o) => `${o.domain || 'ai.onnx'}:${o.version}`).join(', ');
  return `model ir=${m.irVersion ?? '?'} opsets=[${opsets}]\n${printGraph(m.graph)}\n`;
}
