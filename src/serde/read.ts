/**
 * ONNX protobuf → IR.
 *
 * Decoding keeps tensor payloads as views of the input buffer (protobufjs slices bytes
 * fields without copying). Every field the IR models is read with its presence, so the
 * writer can put back exactly what was there. Names are resolved through a scope chain,
 * so a subgraph reads values of the graphs around it.
 */
import { fileKind } from '../util/file-kind.js';
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { CompilerError } from '../errors.js';
import type { Attribute, AttrValue, SparseTensor } from '../ir/attribute.js';
import { AttrType } from '../ir/attribute.js';
import { Graph, Model, Node, Value } from '../ir/core.js';
import type { KeyValue, TensorData, TypedField } from '../ir/tensor.js';
import { Tensor } from '../ir/tensor.js';
import { DataType, bitsPerElement, dataTypeName, rawByteLength } from '../ir/data-type.js';
import type { Dim, TypeInfo, ValueInfo } from '../ir/types.js';
import { has, toInt } from './convert.js';
import { modelType } from './schema.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type P = any; // a decoded protobufjs message

export interface ReadOptions {
  /** Folder that external data locations resolve against (defaults to the file's folder). */
  baseDir?: string;
}

/** Reads a model file. @throws FILE_NOT_FOUND, PROTOBUF_TRUNCATED, PROTOBUF_INVALID, EXTERNAL_DATA_* */
export function readModel(path: string, opts: ReadOptions = {}): Model {
  let bytes: Buffer;
  try {
    // A FIFO or device would block or never end: only regular files are models.
    const st = statSync(path);
    if (!st.isFile()) throw notRegular(path, st, 'the model');
    if (st.size > PROTOBUF_MAX) {
      throw new CompilerError('MODEL_TOO_LARGE', `${path} is ${(st.size / 2 ** 30).toFixed(2)} GiB; a protobuf file holds at most 2 GiB`, {
        where: path,
        hint: 'large weights belong in external data: save the model with external data (onnx.save(..., save_as_external_data=True))',
      });
    }
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof CompilerError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CompilerError('FILE_NOT_FOUND', `no such file: ${path}`, { where: path, hint: 'check the path' });
    if (code === 'ELOOP')
      throw new CompilerError('FILE_READ_FAILED', `${path}: too many levels of symbolic links (a link loop)`, {
        where: path,
        cause: e,
        hint: 'fix the link so it points at a file',
      });
    throw new CompilerError('FILE_READ_FAILED', `cannot read ${path}: ${(e as Error).message}`, {
      where: path,
      cause: e,
      hint: 'check that the file exists and is readable',
    });
  }
  return decodeModel(bytes, { baseDir: opts.baseDir ?? dirname(resolve(path)), source: path });
}

/** Decodes model bytes (a Buffer keeps tensors zero-copy). */
export function decodeModel(bytes: Uint8Array, opts: ReadOptions & { source?: string } = {}): Model {
  const where = opts.source ?? '<bytes>';
  if (bytes.byteLength === 0) throw new CompilerError('MODEL_EMPTY', 'the file is empty', { where, hint: 'the file is not an ONNX model (0 bytes)' });
  let mp: P;
  try {
    mp = modelType().decode(bytes);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (scanTopLevel(bytes) === 'truncated') {
      throw new CompilerError('PROTOBUF_TRUNCATED', `the model ends early (${bytes.byteLength} bytes): ${msg}`, {
        where,
        hint: 'the file is truncated; copy or export it again',
        cause: e,
      });
    }
    throw new CompilerError('PROTOBUF_INVALID', `not a valid ONNX protobuf: ${msg}`, { where, hint: 'is this an ONNX model file?', cause: e });
  }
  if (!has(mp, 'graph')) {
    throw new CompilerError('PROTOBUF_INVALID', 'the file has no graph: not an ONNX model', { where, hint: 'is this an ONNX model file?' });
  }
  const ctx = new ReadContext(opts.baseDir, where);
  try {
    return readModelProto(mp, ctx);
  } finally {
    ctx.close();
  }
}

/** Protobuf cannot hold a message of 2 GiB or more. */
const PROTOBUF_MAX = 2 ** 31 - 1;
/** Bytes per read call (Node refuses 2 GiB or more in one call). */
const READ_SLICE = 256 * 1024 * 1024;

function notRegular(path: string, st: Stats, what: string): CompilerError {
  return new CompilerError('FILE_NOT_REGULAR', `${what} ${path} is ${fileKind(st)}, not a regular file`, { where: path, hint: 'name a regular file' });
}

/** ModelProto field number → wire type (0 varint, 2 length-delimited). */
const MODEL_FIELDS = new Map<number, number>([
  [1, 0],
  [2, 2],
  [3, 2],
  [4, 2],
  [5, 0],
  [6, 2],
  [7, 2],
  [8, 2],
  [14, 2],
  [20, 2],
  [25, 2],
  [26, 2],
]);

/**
 * Tells a truncated model from garbage: walks the top-level ModelProto fields. Every tag
 * must be a known field with its wire type; a truncated file is one whose last field runs
 * past the end. Anything else is not (or no longer) an ONNX model.
 */
function scanTopLevel(b: Uint8Array): 'truncated' | 'invalid' | 'complete' {
  let pos = 0;
  const varint = (): number | undefined => {
    let x = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (pos >= b.length) return undefined;
      const byte = b[pos++]!;
      x += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return x;
    }
    return NaN;
  };
  while (pos < b.length) {
    const tag = varint();
    if (tag === undefined) return 'truncated';
    if (Number.isNaN(tag)) return 'invalid';
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (MODEL_FIELDS.get(field) !== wire) return 'invalid';
    const v = varint();
    if (v === undefined) return 'truncated';
    if (Number.isNaN(v)) return 'invalid';
    if (wire === 2) {
      if (pos + v > b.length) return 'truncated';
      pos += v;
    }
  }
  return 'complete';
}

class Scope {
  readonly values = new Map<string, Value>();
  constructor(readonly parent: Scope | null) {}
  lookup(name: string): Value | undefined {
    return this.values.get(name) ?? this.parent?.lookup(name);
  }
}

class ReadContext {
  readonly #fds = new Map<string, { fd: number; size: number }>();
  constructor(
    readonly baseDir: string | undefined,
    readonly source: string,
  ) {}

  /**
   * Reads an external tensor's bytes in slices (any size a Buffer can hold). Locations may
   * not leave the model's folder and must be regular files: a FIFO would block forever.
   */
  readExternal(location: string, offset: number, length: number | undefined, tensorName: string): Uint8Array {
    if (this.baseDir === undefined) {
      throw new CompilerError('EXTERNAL_DATA_MISSING', `tensor "${tensorName}" has external data ("${location}") but the model was read from bytes`, {
        where: tensorName,
        hint: 'read the model from its file so external data can be found',
      });
    }
    const base = resolve(this.baseDir);
    const target = resolve(base, location);
    const rel = relative(base, target);
    if (isAbsolute(location) || rel === '' || rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel)) {
      throw new CompilerError('EXTERNAL_DATA_ESCAPES', `tensor "${tensorName}": external data location "${location}" is outside the model's folder`, {
        where: tensorName,
        hint: 'external data must sit in the model folder or below it',
      });
    }
    let entry = this.#fds.get(target);
    if (!entry) {
      let real: string;
      try {
        real = realpathSync(target);
      } catch (e) {
        const loop = (e as NodeJS.ErrnoException).code === 'ELOOP';
        throw new CompilerError(
          loop ? 'EXTERNAL_DATA_INVALID' : 'EXTERNAL_DATA_MISSING',
          `tensor "${tensorName}": external data file "${location}" ${loop ? 'is a symbolic link loop' : 'not found'}`,
          { where: tensorName, cause: e, hint: loop ? 'fix the link' : 'copy the .data file next to the model' },
        );
      }
      const realRel = relative(realpathSync(base), real);
      if (realRel.startsWith('..' + sep) || realRel === '..' || isAbsolute(realRel)) {
        throw new CompilerError('EXTERNAL_DATA_ESCAPES', `tensor "${tensorName}": external data "${location}" links outside the model's folder`, {
          where: tensorName,
          hint: 'external data must sit in the model folder or below it',
        });
      }
      const st = statSync(real);
      if (!st.isFile()) throw notRegular(location, st, `tensor "${tensorName}": external data`);
      let fd: number;
      try {
        // O_NONBLOCK: if the file was swapped for a FIFO since the stat, open does not hang.
        fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK);
      } catch (e) {
        throw new CompilerError('FILE_READ_FAILED', `tensor "${tensorName}": cannot open external data "${location}": ${(e as Error).message}`, {
          where: tensorName,
          cause: e,
          hint: "check the file's permissions",
        });
      }
      const fst = fstatSync(fd);
      if (!fst.isFile()) {
        closeSync(fd);
        throw notRegular(location, fst, `tensor "${tensorName}": external data`);
      }
      entry = { fd, size: fst.size };
      this.#fds.set(target, entry);
    }
    const len = length ?? entry.size - offset;
    if (offset < 0 || len < 0 || offset + len > entry.size) {
      throw new CompilerError(
        'EXTERNAL_DATA_OUT_OF_RANGE',
        `tensor "${tensorName}": bytes ${offset}..${offset + len} of "${location}" requested; the file has ${entry.size}`,
        { where: tensorName, hint: 'the data file is truncated or belongs to another model' },
      );
    }
    if (len > bufferConstants.MAX_LENGTH) {
      throw new CompilerError(
        'TENSOR_TOO_LARGE',
        `tensor "${tensorName}" has ${(len / 2 ** 30).toFixed(2)} GiB of data; one tensor can hold at most ${(bufferConstants.MAX_LENGTH / 2 ** 30).toFixed(0)} GiB in this Node.js`,
        { where: tensorName, hint: 'split the tensor, or use a Node.js whose Buffers hold more (v22+)' },
      );
    }
    const buf = Buffer.allocUnsafe(len);
    for (let done = 0; done < len;) {
      const n = readSync(entry.fd, buf, done, Math.min(READ_SLICE, len - done), offset + done);
      if (n <= 0) {
        throw new CompilerError('EXTERNAL_DATA_OUT_OF_RANGE', `tensor "${tensorName}": "${location}" ended after ${offset + done} bytes while reading`, {
          where: tensorName,
          hint: 'the data file changed while it was read, or is truncated',
        });
      }
      done += n;
    }
    return buf;
  }

  close(): void {
    for (const { fd } of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
  }
}

function kv(list: P[] | undefined): KeyValue[] | undefined {
  if (!list || list.length === 0) return undefined;
  return list.map((e: P) => ({ key: e.key ?? '', value: e.value ?? '' }));
}

function opt<T>(m: P, f: string): T | undefined {
  return has(m, f) ? (m[f] as T) : undefined;
}

function readModelProto(mp: P, ctx: ReadContext): Model {
  const graph = readGraph(mp.graph, null, new Scope(null), ctx);
  const m = new Model(graph);
  m.irVersion = has(mp, 'ir_version') ? toInt(mp.ir_version) : undefined;
  m.opsetImports = (mp.opset_import as P[]).map((o: P) => ({ domain: o.domain ?? '', version: toInt(o.version ?? 0), domainWritten: has(o, 'domain') }));
  m.producerName = opt(mp, 'producer_name');
  m.producerVersion = opt(mp, 'producer_version');
  m.domain = opt(mp, 'domain');
  m.modelVersion = has(mp, 'model_version') ? toInt(mp.model_version) : undefined;
  m.docString = opt(mp, 'doc_string');
  m.metadataProps = kv(mp.metadata_props);
  if (mp.functions?.length) m.extra.functions = mp.functions;
  if (mp.training_info?.length) m.extra.trainingInfo = mp.training_info;
  if (mp.configuration?.length) m.extra.configuration = mp.configuration;
  m.baseDir = ctx.baseDir;
  return m;
}

export function readTypeProto(tp: P): TypeInfo {
  const denotation = opt<string>(tp, 'denotation');
  const shape = (s: P) => (s ? { dims: (s.dim as P[]).map(readDim) } : undefined);
  if (has(tp, 'tensor_type')) {
    const t = tp.tensor_type;
    return { kind: 'tensor', elemType: opt(t, 'elem_type'), shape: has(t, 'shape') ? shape(t.shape) : undefined, denotation };
  }
  if (has(tp, 'sparse_tensor_type')) {
    const t = tp.sparse_tensor_type;
    return { kind: 'sparse_tensor', elemType: opt(t, 'elem_type'), shape: has(t, 'shape') ? shape(t.shape) : undefined, denotation };
  }
  if (has(tp, 'sequence_type'))
    return { kind: 'sequence', elem: has(tp.sequence_type, 'elem_type') ? readTypeProto(tp.sequence_type.elem_type) : undefined, denotation };
  if (has(tp, 'optional_type'))
    return { kind: 'optional', elem: has(tp.optional_type, 'elem_type') ? readTypeProto(tp.optional_type.elem_type) : undefined, denotation };
  if (has(tp, 'map_type'))
    return {
      kind: 'map',
      keyType: opt(tp.map_type, 'key_type'),
      value: has(tp.map_type, 'value_type') ? readTypeProto(tp.map_type.value_type) : undefined,
      denotation,
    };
  if (has(tp, 'opaque_type')) return { kind: 'opaque', domain: opt(tp.opaque_type, 'domain'), name: opt(tp.opaque_type, 'name'), denotation };
  return { kind: 'none', denotation };
}

function readDim(d: P): Dim {
  const out: Dim = {};
  if (has(d, 'dim_value')) out.value = toInt(d.dim_value);
  if (has(d, 'dim_param')) out.param = d.dim_param;
  if (has(d, 'denotation')) out.denotation = d.denotation;
  return out;
}

function readValueInfo(vi: P): ValueInfo {
  const info: ValueInfo = {};
  if (has(vi, 'type')) info.type = readTypeProto(vi.type);
  if (has(vi, 'doc_string')) info.docString = vi.doc_string;
  const md = kv(vi.metadata_props);
  if (md) info.metadataProps = md;
  return info;
}

const TYPED_FIELDS: TypedField[] = ['float_data', 'int32_data', 'string_data', 'int64_data', 'double_data', 'uint64_data'];

/** An external_data offset or length: a plain decimal integer below 2^53, nothing else. */
function externalNumber(text: string | undefined, key: string, tensor: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new CompilerError('EXTERNAL_DATA_INVALID', `tensor "${tensor}": external data ${key} "${text}" is not a whole number of bytes`, {
      where: tensor,
      hint: `${key} must be a decimal integer such as 4096; the model file is damaged or was edited by hand`,
    });
  }
  return Number(text);
}

function readDims(tp: P, name: string): number[] {
  const dims: number[] = [];
  let count = 1;
  for (const raw of (tp.dims ?? []) as unknown[]) {
    const d = toInt(raw);
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new CompilerError('TENSOR_DIMS_INVALID', `tensor "${name}" has dimension ${String(d)}; dimensions are whole numbers from 0 to 2^53`, {
        where: name,
        hint: 'the model file is damaged or was edited by hand; re-export it',
      });
    }
    count *= d;
    if (!Number.isSafeInteger(count)) {
      throw new CompilerError(
        'TENSOR_DIMS_INVALID',
        `tensor "${name}" has more than 2^53 elements (dims [${((tp.dims ?? []) as unknown[]).map(String).join(',')}])`,
        { where: name, hint: 'the model file is damaged or was edited by hand; re-export it' },
      );
    }
    dims.push(d);
  }
  return dims;
}

/** Values a typed field must hold for `n` elements of type `t` (a list when packing allows two forms). */
function typedCounts(t: number, field: TypedField, n: number): number[] | undefined {
  if (t === DataType.COMPLEX64 || t === DataType.COMPLEX128) return [2 * n];
  if (field === 'int32_data') {
    const bits = bitsPerElement(t);
    if (bits > 0 && bits < 8) return [Math.ceil((n * bits) / 32), Math.ceil((n * bits) / 8), n];
  }
  if (bitsPerElement(t) === 0 && field !== 'string_data') return undefined;
  return [n];
}

function checkDataSize(t: Tensor, name: string): void {
  const n = t.size;
  const d = t.data;
  const mismatch = (have: string, want: string) =>
    new CompilerError(
      'TENSOR_DATA_SIZE_MISMATCH',
      `tensor "${name}" of type ${dataTypeName(t.dataType)} and shape [${t.dims.join(',')}] needs ${want}; it has ${have}`,
      { where: name, hint: 'the model file is damaged, truncated or edited by hand; re-export it' },
    );
  if (d.kind === 'raw') {
    if (bitsPerElement(t.dataType) === 0) return; // a kind newer than our table, or strings
    const want = rawByteLength(t.dataType, n);
    if (d.bytes.byteLength !== want) throw mismatch(`${d.bytes.byteLength} bytes`, `${want} bytes`);
  } else if (d.kind === 'typed') {
    const want = typedCounts(t.dataType, d.field, n);
    if (want && !want.includes(d.values.length)) throw mismatch(`${d.values.length} values in ${d.field}`, `${want[0]} values`);
  }
}

export function readTensor(tp: P, ctx: ReadContext): Tensor {
  const name = opt<string>(tp, 'name');
  const dims = readDims(tp, name ?? '');
  let data: TensorData = { kind: 'none' };
  let external: Tensor['external'];
  if (has(tp, 'raw_data')) {
    data = { kind: 'raw', bytes: tp.raw_data as Uint8Array };
  } else if (tp.data_location === 1) {
    const entries = kv(tp.external_data) ?? [];
    const get = (k: string) => entries.find((e) => e.key === k)?.value;
    const location = get('location');
    if (location === undefined) {
      throw new CompilerError('EXTERNAL_DATA_MISSING', `tensor "${name ?? ''}" is marked external but names no location`, { where: name });
    }
    if (location === '') {
      throw new CompilerError('EXTERNAL_DATA_INVALID', `tensor "${name ?? ''}": external data location is empty`, {
        where: name,
        hint: 'the model file is damaged; re-export it with its data file',
      });
    }
    const offset = externalNumber(get('offset'), 'offset', name ?? '') ?? 0;
    const length = externalNumber(get('length'), 'length', name ?? '');
    const bytes = ctx.readExternal(location, offset, length, name ?? '');
    data = { kind: 'raw', bytes };
    external = {
      location,
      offset: get('offset') !== undefined ? offset : undefined,
      length,
      extra: entries.filter((e) => !['location', 'offset', 'length'].includes(e.key)),
    };
  } else {
    for (const f of TYPED_FIELDS) {
      const vals = tp[f] as unknown[];
      if (vals && vals.length > 0) {
        data = { kind: 'typed', field: f, values: f === 'int64_data' || f === 'uint64_data' ? vals.map(toInt) : (vals as (number | Uint8Array)[]) };
        break;
      }
    }
  }
  const t = new Tensor(name, tp.data_type ?? 0, dims, data);
  if (!has(tp, 'data_type')) t.dataTypeWritten = false;
  if (has(tp, 'doc_string')) t.docString = tp.doc_string;
  const md = kv(tp.metadata_props);
  if (md) t.metadataProps = md;
  if (has(tp, 'segment'))
    t.segment = { begin: has(tp.segment, 'begin') ? toInt(tp.segment.begin) : undefined, end: has(tp.segment, 'end') ? toInt(tp.segment.end) : undefined };
  if (external) t.external = external;
  if (has(tp, 'data_location')) t.dataLocation = tp.data_location;
  if (!t.segment) checkDataSize(t, name ?? '');
  return t;
}

function readSparse(sp: P, ctx: ReadContext): SparseTensor {
  return {
    values: has(sp, 'values') ? readTensor(sp.values, ctx) : undefined,
    indices: has(sp, 'indices') ? readTensor(sp.indices, ctx) : undefined,
    dims: ((sp.dims ?? []) as unknown[]).map(toInt),
  };
}

function readGraph(gp: P, parent: Graph | null, outer: Scope, ctx: ReadContext, owner: Node | null = null): Graph {
  const g = new Graph(opt(gp, 'name'));
  g.parent = parent;
  g.owner = owner;
  if (has(gp, 'doc_string')) g.docString = gp.doc_string;
  g.metadataProps = kv(gp.metadata_props);
  const scope = new Scope(outer);
  const gname = g.name || 'main';
  const define = (v: Value, what: string) => {
    if (scope.values.has(v.name)) {
      throw new CompilerError('DUPLICATE_VALUE', `value "${v.name}" is defined twice in graph "${gname}" (${what})`, {
        where: `${gname}/${v.name}`,
        hint: 'every value must have exactly one producer',
      });
    }
    scope.values.set(v.name, v);
  };

  for (const vi of gp.input as P[]) {
    const v = new Value(vi.name ?? '', readValueInfo(vi));
    define(v, 'graph input');
    g.addInput(v);
  }
  for (const tp of gp.initializer as P[]) {
    const t = readTensor(tp, ctx);
    const name = t.name ?? '';
    let v = scope.values.get(name);
    if (v && (v.isInitializer() || !v.isGraphInput())) {
      throw new CompilerError('DUPLICATE_VALUE', `initializer "${name}" is defined twice in graph "${gname}"`, { where: `${gname}/${name}` });
    }
    if (!v) {
      v = new Value(name);
      define(v, 'initializer');
    }
    g.addInitializer(v, t);
  }
  for (const sp of gp.sparse_initializer as P[]) {
    const s = readSparse(sp, ctx);
    const name = s.values?.name ?? '';
    let v = scope.values.get(name);
    if (!v) {
      v = new Value(name);
      define(v, 'sparse initializer');
    }
    g.addSparseInitializer(v, s);
  }

  // Two passes over nodes: define every output first (so a subgraph may read a value of
  // this graph that a later node produces, as some exporters order them), then wire inputs.
  const nodes: Node[] = [];
  for (const np of gp.node as P[]) {
    const n = new Node({ opType: np.op_type ?? '', domain: np.domain ?? '', name: opt(np, 'name') });
    n.domainWritten = has(np, 'domain');
    if (has(np, 'overload')) n.overload = np.overload;
    if (has(np, 'doc_string')) n.docString = np.doc_string;
    n.metadataProps = kv(np.metadata_props);
    if (np.device_configurations?.length) n.extra = { deviceConfigurations: np.device_configurations };
    for (const o of np.output as string[]) {
      if (o === '') {
        n.appendOutput(null);
        continue;
      }
      const v = new Value(o);
      define(v, `output of ${n.name || n.opType}`);
      n.appendOutput(v);
    }
    g.appendNode(n);
    nodes.push(n);
  }
  (gp.node as P[]).forEach((np: P, i: number) => {
    const n = nodes[i]!;
    for (const name of np.input as string[]) {
      if (name === '') {
        n.appendInput(null);
        continue;
      }
      const v = scope.lookup(name);
      if (!v) {
        throw new CompilerError('MISSING_VALUE', `${n.opType} node reads "${name}", which no node, input or initializer defines`, {
          where: n.where,
          hint: 'the model is incomplete or was edited by hand; re-export it',
        });
      }
      n.appendInput(v);
    }
    n.attributes = (np.attribute as P[]).map((a: P) => readAttribute(a, g, scope, ctx, n));
  });

  for (const vi of gp.output as P[]) {
    const name = vi.name ?? '';
    const v = scope.lookup(name);
    if (!v) {
      throw new CompilerError('MISSING_VALUE', `graph output "${name}" is not computed by any node`, {
        where: `${gname}/${name}`,
        hint: 'the model is incomplete; re-export it',
      });
    }
    const info = readValueInfo(vi);
    if (info.type || info.docString || info.metadataProps) v.info = { ...v.info, ...info };
    g.addOutput(v);
  }
  for (const vi of gp.value_info as P[]) {
    const name = vi.name ?? '';
    let v = scope.lookup(name);
    if (!v) v = new Value(name);
    const info = readValueInfo(vi);
    if (!v.info.type && !v.info.docString) v.info = info;
    g.addValueInfo(v);
  }
  if (gp.quantization_annotation?.length) {
    g.quantizationAnnotation = (gp.quantization_annotation as P[]).map((q: P) => ({
      tensorName: opt(q, 'tensor_name'),
      quantParameterTensorNames: kv(q.quant_parameter_tensor_names) ?? [],
    }));
  }
  return g;
}

function readAttribute(ap: P, g: Graph, scope: Scope, ctx: ReadContext, n: Node): Attribute {
  let type: number = ap.type ?? 0;
  const typeWritten = has(ap, 'type');
  if (!typeWritten) type = inferAttrType(ap);
  const sub = (gp: P) => readGraph(gp, g, scope, ctx, n);
  let v: AttrValue;
  switch (type) {
    case AttrType.FLOAT:
      v = { type: 1, value: ap.f ?? 0 };
      break;
    case AttrType.INT:
      v = { type: 2, value: toInt(ap.i ?? 0) };
      break;
    case AttrType.STRING:
      v = { type: 3, value: ap.s ?? new Uint8Array(0) };
      break;
    case AttrType.TENSOR:
      v = { type: 4, value: readTensor(ap.t ?? {}, ctx) };
      break;
    case AttrType.GRAPH:
      v = { type: 5, value: sub(ap.g ?? { node: [], input: [], output: [], initializer: [], sparse_initializer: [], value_info: [] }) };
      break;
    case AttrType.FLOATS:
      v = { type: 6, value: [...ap.floats] };
      break;
    case AttrType.INTS:
      v = { type: 7, value: (ap.ints as unknown[]).map(toInt) };
      break;
    case AttrType.STRINGS:
      v = { type: 8, value: [...ap.strings] };
      break;
    case AttrType.TENSORS:
      v = { type: 9, value: (ap.tensors as P[]).map((t) => readTensor(t, ctx)) };
      break;
    case AttrType.GRAPHS:
      v = { type: 10, value: (ap.graphs as P[]).map(sub) };
      break;
    case AttrType.SPARSE_TENSOR:
      v = { type: 11, value: readSparse(ap.sparse_tensor ?? { dims: [] }, ctx) };
      break;
    case AttrType.SPARSE_TENSORS:
      v = { type: 12, value: (ap.sparse_tensors as P[]).map((s) => readSparse(s, ctx)) };
      break;
    case AttrType.TYPE_PROTO:
      v = { type: 13, value: readTypeProto(ap.tp ?? {}) };
      break;
    case AttrType.TYPE_PROTOS:
      v = { type: 14, value: (ap.type_protos as P[]).map(readTypeProto) };
      break;
    default:
      v = { type: 0, value: undefined };
  }
  const a: Attribute = { name: ap.name ?? '', v };
  if (has(ap, 'ref_attr_name')) a.refAttrName = ap.ref_attr_name;
  if (has(ap, 'doc_string')) a.docString = ap.doc_string;
  if (!typeWritten) a.typeWritten = false;
  return a;
}

/** IR v1 files leave AttributeProto.type out: the filled field tells the kind. */
function inferAttrType(ap: P): number {
  if (has(ap, 'f')) return AttrType.FLOAT;
  if (has(ap, 'i')) return AttrType.INT;
  if (has(ap, 's')) return AttrType.STRING;
  if (has(ap, 't')) return AttrType.TENSOR;
  if (has(ap, 'g')) return AttrType.GRAPH;
  if (has(ap, 'sparse_tensor')) return AttrType.SPARSE_TENSOR;
  if (has(ap, 'tp')) return AttrType.TYPE_PROTO;
  if (ap.floats?.length) return AttrType.FLOATS;
  if (ap.ints?.length) return AttrType.INTS;
  if (ap.strings?.length) return AttrType.STRINGS;
  if (ap.tensors?.length) return AttrType.TENSORS;
  if (ap.graphs?.length) return AttrType.GRAPHS;
  if (ap.sparse_tensors?.length) return AttrType.SPARSE_TENSORS;
  if (ap.type_protos?.length) return AttrType.TYPE_PROTOS;
  return AttrType.UNDEFINED;
}
