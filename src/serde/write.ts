/**
 * IR → ONNX protobuf, and saving to disk.
 *
 * The writer emits exactly the fields the reader found (presence included), so reading a
 * file and writing it back gives the same model field for field. Files are written
 * atomically (temp file, then rename) and never over the input unless asked. Large tensors
 * go to an external data file next to the model when the model would pass protobuf's 2 GiB
 * limit, when the input had external data, or when asked.
 */
import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { CompilerError } from '../errors.js';
import type { Attribute, SparseTensor } from '../ir/attribute.js';
import type { Graph, Model, Node, Value } from '../ir/core.js';
import type { KeyValue, Tensor } from '../ir/tensor.js';
import type { Dim, TypeInfo, ValueInfo } from '../ir/types.js';
import { asBuffer, toWireInt } from './convert.js';
import { modelType } from './schema.js';
import { atomicWrite, commitModel } from '../util/write-protocol.js';
import { checkOutputPath } from '../util/output-guard.js';

export { atomicWrite };

/* eslint-disable @typescript-eslint/no-explicit-any */
type P = any;

/** Protobuf cannot encode a message of 2 GiB or more. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

export interface ExternalPlan {
  /** File name of the data file, relative to the model's folder. */
  location: string;
  /** Tensors with at least this many bytes go to the data file. */
  threshold: number;
  /** Collected chunks, in file order, filled by the encoder. */
  chunks: { bytes: Uint8Array; offset: number }[];
  size: number;
  /** The `location` entries written, so the name can be set once the data's hash is known. */
  entries?: { key: string; value: string }[];
}

/** Encodes a model to protobuf bytes. With `external`, big tensors are collected there instead. */
export function encodeModel(model: Model, external?: ExternalPlan): Uint8Array {
  const obj = writeModel(model, external);
  return modelType().encode(obj).finish();
}

/** Tensors at least this big are written as their own chunk instead of copied into the message. */
const ZERO_COPY_MIN = 64 * 1024;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function chunksLength(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.byteLength;
  return n;
}

/** A length-delimited field (tag + length) heading `body`. */
function fieldHeader(field: number, bodyLength: number): Uint8Array {
  return Uint8Array.from([...varint(field * 8 + 2), ...varint(bodyLength)]);
}

/**
 * Encodes a model as a list of chunks whose concatenation is the protobuf message, so big
 * tensor payloads are written straight from their buffers instead of being copied into one
 * message buffer first. Main-graph initializers are emitted after the graph's other fields
 * (protobuf readers accept any field order; repeated fields keep their order).
 */
export function encodeModelChunks(model: Model, external?: ExternalPlan): Uint8Array[] {
  return encodeObjectChunks(writeModel(model, external));
}

function encodeObjectChunks(obj: P): Uint8Array[] {
  const root = modelType();
  const tensorType = root.lookupType('onnx.TensorProto');
  const graphType = root.lookupType('onnx.GraphProto');
  const graph = obj.graph;
  delete obj.graph;
  const inits: P[] = graph.initializer;
  graph.initializer = [];
  const graphChunks: Uint8Array[] = [graphType.encode(graph).finish()];
  for (const t of inits) {
    const raw: Uint8Array | undefined = t.raw_data;
    if (raw && raw.byteLength >= ZERO_COPY_MIN) {
      delete t.raw_data;
      const head = tensorType.encode(t).finish();
      const rawHead = fieldHeader(9, raw.byteLength);
      graphChunks.push(fieldHeader(5, head.byteLength + rawHead.byteLength + raw.byteLength), head, rawHead, raw);
    } else {
      const body = tensorType.encode(t).finish();
      graphChunks.push(fieldHeader(5, body.byteLength), body);
    }
  }
  return [root.encode(obj).finish(), fieldHeader(7, chunksLength(graphChunks)), ...graphChunks];
}

export interface SaveOptions {
  /** 'auto': external when the input had it or the model is too big for one file. */
  externalData?: 'auto' | 'always' | 'never';
  /** Minimum tensor size in bytes that goes external (default 1024). */
  externalThreshold?: number;
  /** The file the model was read from: refused as an output unless `overwrite`. */
  inputPath?: string;
  overwrite?: boolean;
  /** fsync before the rename, so the file survives a power loss too (slower on big models). */
  durable?: boolean;
}

export interface SaveResult {
  path: string;
  bytes: number;
  dataPath?: string;
  dataBytes?: number;
}

/**
 * Writes the model (and its external data) with the protocol of util/write-protocol.ts.
 * @throws OUTPUT_IS_INPUT, OUTPUT_PATH_INVALID, OUTPUT_NOT_REGULAR, OUTPUT_LOCKED, MODEL_TOO_LARGE, FILE_WRITE_FAILED
 */
export function saveModel(model: Model, path: string, opts: SaveOptions = {}): SaveResult {
  checkOutputPath(path);
  const out = resolve(path);
  if (opts.inputPath && !opts.overwrite && sameFile(out, resolve(opts.inputPath))) {
    throw new CompilerError('OUTPUT_IS_INPUT', `refusing to write over the input model ${opts.inputPath}`, {
      where: path,
      hint: 'name another output file (or pass --overwrite)',
    });
  }
  const mode = opts.externalData ?? 'auto';
  const threshold = opts.externalThreshold ?? 1024;
  const payload = totalTensorBytes(model);
  const hadExternal = anyExternal(model);
  const goExternal = mode === 'always' || (mode === 'auto' && (hadExternal || payload > PROTOBUF_LIMIT - 64 * 1024 * 1024));
  if (!goExternal && payload > PROTOBUF_LIMIT) {
    throw new CompilerError('MODEL_TOO_LARGE', `the model holds ${(payload / 2 ** 30).toFixed(2)} GiB of tensors; one protobuf file holds at most 2 GiB`, {
      hint: 'save with external data (--external-data always)',
    });
  }
  let plan: ExternalPlan | undefined;
  // The data file's name is set once its content hash is known (write-protocol.ts).
  if (goExternal) plan = { location: '', threshold, chunks: [], size: 0, entries: [] };
  const obj = writeModel(model, plan);
  const protect = new Set<string>();
  if (model.baseDir)
    forEachTensor(model, (t) => {
      if (t.external) addReal(protect, resolve(model.baseDir!, t.external.location));
    });
  const outReal = new Set<string>();
  addReal(outReal, out);
  if ([...outReal].some((p) => protect.has(p))) {
    throw new CompilerError('OUTPUT_IS_INPUT', `${path} is the external data file of the model being saved`, { where: path, hint: 'name another output file' });
  }
  const r = commitModel({
    path: out,
    data: plan && plan.chunks.length > 0 ? { chunks: plan.chunks.map((c) => c.bytes), offsets: plan.chunks.map((c) => c.offset), size: plan.size } : undefined,
    encode: (location) => {
      for (const e of plan?.entries ?? []) e.value = location ?? '';
      return encodeObjectChunks(obj);
    },
    durable: opts.durable,
    protect,
  });
  return r;
}

function addReal(set: Set<string>, p: string): void {
  try {
    set.add(realpathSync(p));
  } catch {
    set.add(p);
  }
}

function sameFile(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return existsSync(a) && existsSync(b) && realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/** Every dense tensor of the model: initializers and tensor attributes (Constant values), subgraphs included. */
function forEachTensor(model: Model, f: (t: Tensor) => void): void {
  const walk = (g: Graph) => {
    for (const v of g.initializers) f(v.initializer!);
    for (const n of g.nodes) {
      for (const a of n.attributes) {
        if (a.v.type === 4) f(a.v.value);
        else if (a.v.type === 9) a.v.value.forEach(f);
      }
      for (const sg of n.subgraphs()) walk(sg);
    }
  };
  walk(model.graph);
}

function totalTensorBytes(model: Model): number {
  let n = 0;
  forEachTensor(model, (t) => {
    n += t.data.kind === 'raw' ? t.data.bytes.byteLength : 0;
  });
  return n;
}

function anyExternal(model: Model): boolean {
  let found = false;
  forEachTensor(model, (t) => {
    if (t.external) found = true;
  });
  return found;
}

// --- IR → protobufjs plain objects ------------------------------------------------------

function kv(list: KeyValue[] | undefined): P[] | undefined {
  return list?.map((e) => ({ key: e.key, value: e.value }));
}

function set(o: P, f: string, v: unknown): void {
  if (v !== undefined) o[f] = v;
}

function writeModel(m: Model, ext?: ExternalPlan): P {
  const o: P = {};
  if (m.irVersion !== undefined) o.ir_version = toWireInt(m.irVersion);
  o.opset_import = m.opsetImports.map((x) => {
    const r: P = { version: toWireInt(x.version) };
    if (x.domain !== '' || x.domainWritten !== false) r.domain = x.domain;
    return r;
  });
  set(o, 'producer_name', m.producerName);
  set(o, 'producer_version', m.producerVersion);
  set(o, 'domain', m.domain);
  if (m.modelVersion !== undefined) o.model_version = toWireInt(m.modelVersion);
  set(o, 'doc_string', m.docString);
  o.graph = writeGraph(m.graph, ext);
  set(o, 'metadata_props', kv(m.metadataProps));
  set(o, 'training_info', m.extra.trainingInfo);
  set(o, 'functions', m.extra.functions);
  set(o, 'configuration', m.extra.configuration);
  return o;
}

export function writeType(t: TypeInfo): P {
  const o: P = {};
  const shape = (s: { dims: Dim[] } | undefined) => (s ? { dim: s.dims.map(writeDim) } : undefined);
  switch (t.kind) {
    case 'tensor':
      o.tensor_type = {};
      set(o.tensor_type, 'elem_type', t.elemType);
      set(o.tensor_type, 'shape', shape(t.shape));
      break;
    case 'sparse_tensor':
      o.sparse_tensor_type = {};
      set(o.sparse_tensor_type, 'elem_type', t.elemType);
      set(o.sparse_tensor_type, 'shape', shape(t.shape));
      break;
    case 'sequence':
      o.sequence_type = {};
      if (t.elem) o.sequence_type.elem_type = writeType(t.elem);
      break;
    case 'optional':
      o.optional_type = {};
      if (t.elem) o.optional_type.elem_type = writeType(t.elem);
      break;
    case 'map':
      o.map_type = {};
      set(o.map_type, 'key_type', t.keyType);
      if (t.value) o.map_type.value_type = writeType(t.value);
      break;
    case 'opaque':
      o.opaque_type = {};
      set(o.opaque_type, 'domain', t.domain);
      set(o.opaque_type, 'name', t.name);
      break;
    default:
      break;
  }
  set(o, 'denotation', t.denotation);
  return o;
}

function writeDim(d: Dim): P {
  const o: P = {};
  if (d.value !== undefined) o.dim_value = toWireInt(d.value);
  if (d.param !== undefined) o.dim_param = d.param;
  set(o, 'denotation', d.denotation);
  return o;
}

function writeValueInfo(name: string, info: ValueInfo): P {
  const o: P = { name };
  if (info.type) o.type = writeType(info.type);
  set(o, 'doc_string', info.docString);
  set(o, 'metadata_props', kv(info.metadataProps));
  return o;
}

function writeGraph(g: Graph, ext?: ExternalPlan): P {
  const o: P = {};
  o.node = g.nodes.map((n) => writeNode(n, ext));
  set(o, 'name', g.name);
  o.initializer = g.initializers.map((v) => writeTensor(v.initializer!, ext, v.name));
  o.sparse_initializer = g.sparseInitializers.map((v) => writeSparse(v.sparseInitializer!, ext));
  set(o, 'doc_string', g.docString);
  o.input = g.inputs.map((v) => writeValueInfo(v.name, v.info));
  o.output = g.outputs.map((v) => writeValueInfo(v.name, v.info));
  o.value_info = g.valueInfos.map((v) => writeValueInfo(v.name, v.info));
  if (g.quantizationAnnotation) {
    o.quantization_annotation = g.quantizationAnnotation.map((q) => {
      const r: P = { quant_parameter_tensor_names: kv(q.quantParameterTensorNames) };
      set(r, 'tensor_name', q.tensorName);
      return r;
    });
  }
  set(o, 'metadata_props', kv(g.metadataProps));
  return o;
}

function writeNode(n: Node, ext?: ExternalPlan): P {
  const o: P = {
    input: n.inputs.map((v: Value | null) => (v ? v.name : '')),
    output: n.outputs.map((v: Value | null) => (v ? v.name : '')),
  };
  set(o, 'name', n.name);
  o.op_type = n.opType;
  if (n.domain !== '' || n.domainWritten) o.domain = n.domain;
  set(o, 'overload', n.overload);
  o.attribute = n.attributes.map((a) => writeAttribute(a, ext));
  set(o, 'doc_string', n.docString);
  set(o, 'metadata_props', kv(n.metadataProps));
  if (n.extra?.deviceConfigurations) o.device_configurations = n.extra.deviceConfigurations;
  return o;
}

function writeAttribute(a: Attribute, ext?: ExternalPlan): P {
  const o: P = { name: a.name };
  set(o, 'ref_attr_name', a.refAttrName);
  set(o, 'doc_string', a.docString);
  if (a.typeWritten !== false) o.type = a.v.type;
  const v = a.v;
  switch (v.type) {
    case 1:
      o.f = v.value;
      break;
    case 2:
      o.i = toWireInt(v.value);
      break;
    case 3:
      o.s = asBuffer(v.value);
      break;
    case 4:
      o.t = writeTensor(v.value, ext);
      break;
    case 5:
      o.g = writeGraph(v.value, ext);
      break;
    case 6:
      o.floats = v.value;
      break;
    case 7:
      o.ints = v.value.map((x) => toWireInt(x));
      break;
    case 8:
      o.strings = v.value.map(asBuffer);
      break;
    case 9:
      o.tensors = v.value.map((t) => writeTensor(t, ext));
      break;
    case 10:
      o.graphs = v.value.map((g) => writeGraph(g, ext));
      break;
    case 11:
      o.sparse_tensor = writeSparse(v.value, undefined);
      break;
    case 12:
      o.sparse_tensors = v.value.map((s) => writeSparse(s, undefined));
      break;
    case 13:
      o.tp = writeType(v.value);
      break;
    case 14:
      o.type_protos = v.value.map(writeType);
      break;
    default:
      break;
  }
  return o;
}

function writeSparse(s: SparseTensor, ext?: ExternalPlan): P {
  const o: P = { dims: s.dims.map((d) => toWireInt(d)) };
  if (s.values) o.values = writeTensor(s.values, ext);
  if (s.indices) o.indices = writeTensor(s.indices, ext);
  return o;
}

/** A tensor; `name` overrides (initializers are named by their value). */
export function writeTensor(t: Tensor, ext?: ExternalPlan, name = t.name): P {
  const o: P = { dims: t.dims.map((d) => toWireInt(d)) };
  if (t.dataTypeWritten !== false) o.data_type = t.dataType;
  if (t.segment) {
    o.segment = {};
    if (t.segment.begin !== undefined) o.segment.begin = toWireInt(t.segment.begin);
    if (t.segment.end !== undefined) o.segment.end = toWireInt(t.segment.end);
  }
  set(o, 'name', name);
  set(o, 'doc_string', t.docString);
  set(o, 'metadata_props', kv(t.metadataProps));
  const d = t.data;
  if (d.kind === 'raw') {
    if (ext && d.bytes.byteLength >= ext.threshold) {
      const align = 64;
      const offset = Math.ceil(ext.size / align) * align;
      ext.chunks.push({ bytes: d.bytes, offset });
      ext.size = offset + d.bytes.byteLength;
      o.data_location = 1;
      const loc = { key: 'location', value: ext.location };
      ext.entries?.push(loc);
      o.external_data = [
        loc,
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(d.bytes.byteLength) },
        ...(t.external?.extra ?? []).filter((e) => e.key !== 'checksum'),
      ];
      return o;
    }
    o.raw_data = asBuffer(d.bytes);
    if (t.dataLocation !== undefined && t.dataLocation !== 1) o.data_location = t.dataLocation;
    else if (t.dataLocation === 1) o.data_location = 0;
  } else if (d.kind === 'typed') {
    if (d.field === 'int64_data') o.int64_data = d.values.map((x) => toWireInt(x as number | bigint));
    else if (d.field === 'uint64_data') o.uint64_data = d.values.map((x) => toWireInt(x as number | bigint, true));
    else if (d.field === 'string_data') o.string_data = d.values.map((x) => asBuffer(x as Uint8Array));
    else o[d.field] = d.values;
    set(o, 'data_location', t.dataLocation);
  } else {
    set(o, 'data_location', t.dataLocation);
  }
  return o;
}
