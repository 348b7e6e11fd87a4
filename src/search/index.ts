/** GWCS, genetic wavelet channel search, as a library (METHODS.md §3). */
export * from './fitness.js';
export * from './genetic.js';
export * from './space.js';
export * from './budget.js';
export * from './scorer.js';
export * from './pool.js';
export * from './search.js';
export * from './feature.js';
export * from './expose.js';
export * from './prepare.js';
export * from './gwcs.js';
export * from './stage-cut.js';
