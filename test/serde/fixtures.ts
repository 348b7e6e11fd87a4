/** Hand-made protobuf models for negative tests (the IR refuses to build these). */
import { modelType } from '../../src/serde/schema.js';

const vi = (name: string, dims: number[]) => ({ name, type: { tensor_type: { elem_type: 1, shape: { dim: dims.map((d) => ({ dim_value: d })) } } } });

/** Encodes a ModelProto given as a plain object with ONNX field names. */
export function encodeRaw(obj: object): Uint8Array {
  return modelType().encode(obj).finish();
}

export function tinyModelProto(nodes: object[], opts: { inputs?: object[]; outputs?: object[]; initializers?: object[] } = {}): object {
  return {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: nodes,
      input: opts.inputs ?? [vi('x', [1, 4])],
      output: opts.outputs ?? [vi('y', [1, 4])],
      initializer: opts.initializers ?? [],
    },
  };
}

export const cycleModel = () =>
  encodeRaw(
    tinyModelProto([
      { op_type: 'Add', input: ['x', 'b'], output: ['a'], name: 'add_a' },
      { op_type: 'Relu', input: ['a'], output: ['b'], name: 'relu_b' },
      { op_type: 'Identity', input: ['b'], output: ['y'], name: 'id' },
    ]),
  );

export const missingValueModel = () => encodeRaw(tinyModelProto([{ op_type: 'Add', input: ['x', 'nope'], output: ['y'], name: 'add' }]));

/** y = x + w where w is stored externally at `location`. */
export function externalModel(location: string, offset = 0, length = 16): Uint8Array {
  return encodeRaw(
    tinyModelProto([{ op_type: 'Add', input: ['x', 'w'], output: ['y'], name: 'add' }], {
      initializers: [
        {
          name: 'w',
          data_type: 1,
          dims: [1, 4],
          data_location: 1,
          external_data: [
            { key: 'location', value: location },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(length) },
          ],
        },
      ],
    }),
  );
}
