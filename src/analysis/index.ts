/** Analyses over the IR: static shapes and cost (MACs, FLOPs, params, bytes), cached by the analysis manager. */
export { inferShapes, constantValue, symbolicValue, hasShapeRule, resolveInputShapes } from './shapes.js';
export type { ShapeInferenceResult, InferShapesOptions } from './shapes.js';
export { ShapeTable, DECLARED_SHAPES } from './shape-table.js';
export type { ShapeLookup } from './shape-table.js';
export { computeCost, nodeCost, costContext, requireExactCost, isParamInput, weightInputKind } from './cost.js';
export type { Cost, NodeCost, CostReport, CostOptions, CostContext } from './cost.js';
export { AnalysisManager, shapesAnalysis, costAnalysis, channelGroupsAnalysis } from './manager.js';
export type { Analysis, AnalysisOptions, PreservedAnalyses } from './manager.js';
export { resolveTensor, isConstantData } from './weights.js';
export type { ResolvedTensor } from './weights.js';
