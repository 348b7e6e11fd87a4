/**
 * One error type for the whole compiler. Every failure a user can cause has a code
 * (SCREAMING_SNAKE), a message that names the thing, and where possible a hint that
 * says what to do. Tests assert on `code`, never on wording.
 */

export type ErrorCode =
  // reading and writing files
  | 'FILE_NOT_FOUND'
  | 'FILE_READ_FAILED'
  | 'FILE_WRITE_FAILED'
  | 'PROTOBUF_TRUNCATED'
  | 'PROTOBUF_INVALID'
  | 'MODEL_EMPTY'
  | 'EXTERNAL_DATA_ESCAPES'
  | 'EXTERNAL_DATA_MISSING'
  | 'EXTERNAL_DATA_OUT_OF_RANGE'
  | 'TENSOR_DATA_SIZE_MISMATCH'
  | 'OUTPUT_IS_INPUT'
  | 'MODEL_TOO_LARGE'
  // graph structure
  | 'MISSING_VALUE'
  | 'DUPLICATE_VALUE'
  | 'GRAPH_CYCLE'
  | 'DANGLING_USE'
  | 'MISSING_OPSET'
  | 'IR_INVALID'
  | 'IN_USE'
  | 'DUPLICATE_OUTPUT'
  | 'OUTPUT_LOST'
  | 'NAME_CONFLICT'
  // analysis and passes
  | 'SHAPE_INFERENCE_FAILED'
  | 'UNSUPPORTED_OP'
  | 'UNSUPPORTED_DATA_TYPE'
  | 'OPSET_OUT_OF_RANGE'
  | 'PRECONDITION_FAILED'
  | 'UNKNOWN_PASS'
  | 'PASS_FAILED'
  | 'VERIFY_FAILED'
  | 'MASK_SHAPE_MISMATCH'
  | 'MASK_INVALID'
  | 'GROUP_FROZEN'
  | 'INVALID_OPTION'
  | 'NUMERIC_MISMATCH'
  | 'NON_FINITE_WEIGHTS'
  | 'NON_FINITE_OUTPUT'
  | 'RUNTIME_FAILED'
  | 'UNKNOWN_MODEL'
  // TissueNet (stacked basic units)
  | 'TISSUE_SPEC_INVALID'
  | 'TISSUE_NO_LAYERS'
  | 'TISSUE_NOT_REPLACEABLE'
  | 'TISSUE_TARGET_NOT_MET'
  // data and training
  | 'DATA_SPEC_INVALID'
  | 'DATA_UNAVAILABLE'
  | 'DATA_CORRUPT'
  | 'DATA_UNSUPPORTED'
  | 'DATA_LABEL_MISMATCH'
  | 'DATA_SHAPE_MISMATCH'
  | 'TRAIN_DIVERGED'
  // one-step pruning-recovery
  | 'NO_PRUNABLE_GROUP'
  | 'CRUCIAL_LAYER_NOT_FOUND'
  | 'SCORES_MODEL_MISMATCH'
  | 'TARGET_UNREACHABLE'
  | 'FEED_MISSING'
  | 'FEED_SHAPE_MISMATCH'
  // validation and reports
  | 'REPORT_INVALID'
  // pipelines (sculpt run)
  | 'RECIPE_INVALID'
  | 'STEP_FAILED'
  | 'INTERNAL';

export interface ErrorDetails {
  /** Where in the model: `main/conv1` (graph/node) or a value or file name. */
  readonly where?: string;
  /** What the user can do about it. */
  readonly hint?: string;
  /** The lower-level error that led here. */
  readonly cause?: unknown;
}

export class CompilerError extends Error {
  readonly code: ErrorCode;
  readonly where?: string;
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'CompilerError';
    this.code = code;
    this.where = details.where;
    this.hint = details.hint;
  }
}

export function isCompilerError(e: unknown): e is CompilerError {
  return e instanceof CompilerError;
}

/** Formats an error for a terminal: code, location, message, hint, then the cause chain. */
export function formatError(e: unknown): string {
  if (!(e instanceof CompilerError)) {
    const msg = e instanceof Error ? e.message : String(e);
    return `error INTERNAL: ${msg}`;
  }
  const lines = [`error ${e.code}${e.where ? ` at ${e.where}` : ''}: ${e.message}`];
  if (e.hint) lines.push(`  hint: ${e.hint}`);
  let cause = (e as Error).cause;
  let depth = 0;
  while (cause !== undefined && depth < 8) {
    const text = cause instanceof CompilerError ? `${cause.code}: ${cause.message}` : cause instanceof Error ? cause.message : String(cause);
    lines.push(`  caused by: ${text}`);
    cause = cause instanceof Error ? cause.cause : undefined;
    depth++;
  }
  return lines.join('\n');
}
