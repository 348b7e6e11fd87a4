/** TissueNet (METHODS.md §1): unit specs, layer discovery, planning, initialisation, analytic cost. */
export * from './spec.js';
export { scanTissueLayers, upstreamMixing, originalWeights, isMixing, layerName } from './layers.js';
export type { TissueLayer, RejectedLayer, TissueScan } from './layers.js';
export { originalLayerCost, stackedLayerCost, denseEquivalentCost } from './cost.js';
export type { LayerCost, PlannedUnit } from './cost.js';
export { planTissue, allowedGroups } from './plan.js';
export type { TissueOptions, TissuePlan, LayerPlan, UnitRun, SkippedLayer, AutoChoice, AutoTrial } from './plan.js';
export { initStackedLayer } from './init.js';
export type { UnitWeights, StackedWeights } from './init.js';
export { symmetricEigen, lowRankFactors } from './linalg.js';
