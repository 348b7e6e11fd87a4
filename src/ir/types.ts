/** Value types, mirroring ONNX TypeProto (a value's element type and shape). */
import type { Int, KeyValue } from './tensor.js';
import { dataTypeName } from './data-type.js';

/** One dimension: a number, a symbolic name, or unknown (both absent). */
export interface Dim {
  value?: Int;
  param?: string;
  denotation?: string;
}

export interface TensorShape {
  dims: Dim[];
}

export type TypeInfo =
  | { kind: 'tensor'; elemType?: number; shape?: TensorShape; denotation?: string }
  | { kind: 'sparse_tensor'; elemType?: number; shape?: TensorShape; denotation?: string }
  | { kind: 'sequence'; elem?: TypeInfo; denotation?: string }
  | { kind: 'optional'; elem?: TypeInfo; denotation?: string }
  | { kind: 'map'; keyType?: number; value?: TypeInfo; denotation?: string }
  | { kind: 'opaque'; domain?: string; name?: string; denotation?: string }
  | { kind: 'none'; denotation?: string };

/** Everything a ValueInfoProto says about a value besides its name. */
export interface ValueInfo {
  type?: TypeInfo;
  docString?: string;
  metadataProps?: KeyValue[];
}

/** A static shape: numbers for known dims, strings for symbolic ones, null for unknown. */
export type StaticDim = number | string | null;

export function tensorType(elemType: number, shape: readonly StaticDim[] | undefined): TypeInfo {
  return {
    kind: 'tensor',
    elemType,
    shape:
      shape === undefined
        ? undefined
        : {
            dims: shape.map((d) => (typeof d === 'number' ? { value: d } : typeof d === 'string' ? { param: d } : {})),
          },
  };
}

/** The shape of a tensor type as StaticDims, or undefined when the rank is unknown. */
export function shapeOf(t: TypeInfo | undefined): StaticDim[] | undefined {
  if (!t || (t.kind !== 'tensor' && t.kind !== 'sparse_tensor') || !t.shape) return undefined;
  return t.shape.dims.map((d) => (d.value !== undefined ? Number(d.value) : d.param !== undefined ? d.param : null));
}

export function elemTypeOf(t: TypeInfo | undefined): number | undefined {
  if (!t || (t.kind !== 'tensor' && t.kind !== 'sparse_tensor')) return undefined;
  return t.elemType;
}

export function formatType(t: TypeInfo | undefined): string {
  if (!t) return '?';
  switch (t.kind) {
    case 'tensor':
    case 'sparse_tensor': {
      const e = t.elemType === undefined ? '?' : dataTypeName(t.elemType);
      const s = shapeOf(t);
      const dims = s === undefined ? '' : `[${s.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
      return `${t.kind === 'sparse_tensor' ? 'sparse ' : ''}${e}${dims}`;
    }
    case 'sequence':
      return `seq(${formatType(t.elem)})`;
    case 'optional':
      return `optional(${formatType(t.elem)})`;
    case 'map':
      return `map(${t.keyType === undefined ? '?' : dataTypeName(t.keyType)},${formatType(t.value)})`;
    case 'opaque':
      return `opaque(${t.domain ?? ''}.${t.name ?? ''})`;
    default:
      return '?';
  }
}
