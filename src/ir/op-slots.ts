/**
 * One table of op input slots that hold settings, not data or weights: shapes, axes,
 * bounds, pads, scales, indices, conditions. Cost counting (a constant there is not a
 * parameter) and the trainer (a float initializer there is never trainable) both read it.
 */

/** Input slots of each op (default ONNX domain) that hold settings. */
export const SETTING_SLOTS: Readonly<Record<string, readonly number[]>> = {
  Reshape: [1],
  Expand: [1],
  Tile: [1],
  Pad: [1, 2, 3],
  Resize: [1, 2, 3],
  Upsample: [1],
  Slice: [1, 2, 3, 4],
  Split: [1],
  Squeeze: [1],
  Unsqueeze: [1],
  Clip: [1, 2],
  Gather: [1],
  GatherElements: [1],
  GatherND: [1],
  ScatterND: [1],
  ScatterElements: [1],
  TopK: [1],
  OneHot: [1, 2],
  ConstantOfShape: [0],
  Range: [0, 1, 2],
  Dropout: [1, 2],
  CumSum: [1],
  Trilu: [1],
  Where: [0],
  ReduceMean: [1],
  ReduceSum: [1],
  ReduceMax: [1],
  ReduceMin: [1],
  ReduceProd: [1],
  ReduceL1: [1],
  ReduceL2: [1],
  ReduceLogSum: [1],
  ReduceLogSumExp: [1],
  ReduceSumSquare: [1],
};

/** Whether input `index` of an `opType` node holds a setting. O(1). */
export function isSettingSlot(opType: string, index: number): boolean {
  return SETTING_SLOTS[opType]?.includes(index) ?? false;
}
