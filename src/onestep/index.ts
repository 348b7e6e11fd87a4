/**
 * One-step pruning-recovery (docs/methods.md §2) as a library, one module per phase:
 * β insertion (beta.ts), β learning and scores (score.ts, scores.ts), global pruning with
 * crucial layers kept (prune.ts), one-step recovery and fine-tuning (recover.ts), and the
 * resumable pipeline `sculpt onestep` runs (pipeline.ts).
 */
export * from './beta.js';
export * from './layers.js';
export * from './scores.js';
export * from './score.js';
export * from './prune.js';
export * from './recover.js';
export * from './pipeline.js';
