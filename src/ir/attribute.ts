/** Node attributes: a typed value per name, ONNX AttributeProto without the wire details. */
import type { Int, KeyValue, Tensor } from './tensor.js';
import type { TypeInfo } from './types.js';
import type { Graph } from './core.js';

export const AttrType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

/** A sparse tensor (values, indices, dims); kept as parsed, passes do not rewrite it. */
export interface SparseTensor {
  values?: Tensor;
  indices?: Tensor;
  dims: Int[];
}

export type AttrValue =
  | { type: 1; value: number }
  | { type: 2; value: Int }
  | { type: 3; value: Uint8Array }
  | { type: 4; value: Tensor }
  | { type: 5; value: Graph }
  | { type: 6; value: number[] }
  | { type: 7; value: Int[] }
  | { type: 8; value: Uint8Array[] }
  | { type: 9; value: Tensor[] }
  | { type: 10; value: Graph[] }
  | { type: 11; value: SparseTensor }
  | { type: 12; value: SparseTensor[] }
  | { type: 13; value: TypeInfo }
  | { type: 14; value: TypeInfo[] }
  | { type: 0; value: undefined };

export interface Attribute {
  name: string;
  /** The discriminated value; `type` is the ONNX AttributeType. */
  v: AttrValue;
  /** Inside a function body: refers to an attribute of the calling node. */
  refAttrName?: string;
  docString?: string;
  /** False when the producer left AttributeProto.type out (IR v1); kept for round trips. */
  typeWritten?: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function attrFloat(name: string, value: number): Attribute {
  return { name, v: { type: 1, value } };
}
export function attrInt(name: string, value: Int): Attribute {
  return { name, v: { type: 2, value } };
}
export function attrString(name: string, value: string): Attribute {
  return { name, v: { type: 3, value: enc.encode(value) } };
}
export function attrTensor(name: string, value: Tensor): Attribute {
  return { name, v: { type: 4, value } };
}
export function attrFloats(name: string, value: number[]): Attribute {
  return { name, v: { type: 6, value } };
}
export function attrInts(name: string, value: Int[]): Attribute {
  return { name, v: { type: 7, value } };
}
export function bytesToString(b: Uint8Array): string {
  return dec.decode(b);
}

export type { KeyValue };
