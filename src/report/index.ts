/** Reports: the layer-by-layer diff of two models, rendered as text, JSON or HTML. */
export { diffModels, layerChanges, DIFF_SCHEMA_VERSION } from './diff.js';
export type { ModelDiff, DiffEntry, LayerInfo, ModelSummary, EntryStatus, MatchKind, DiffOptions } from './diff.js';
export { renderDiffText, humanCount, humanBytes, percentChange, TEXT_WIDTH } from './text.js';
export type { TextOptions } from './text.js';
export { renderDiffJson } from './json.js';
export { renderDiffHtml, escapeHtml, chartEntries } from './html.js';
export type { HtmlOptions } from './html.js';
export { writeReportFile } from './write.js';
