/** Analyses over the IR: static shapes and cost (MACs, FLOPs, params, bytes). */
export { inferShapes, constantValue, symbolicValue, hasShapeRule } from './shapes.js';
export type { ShapeInferenceResult, InferShapesOptions } from './shapes.js';
export { computeCost, nodeCost, isParamInput, weightInputKind } from './cost.js';
export type { Cost, NodeCost, CostReport, CostOptions } from './cost.js';
