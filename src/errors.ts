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
  | 'FILE_NOT_REGULAR'
  | 'EXTERNAL_DATA_INVALID'
  | 'TENSOR_DIMS_INVALID'
  | 'TENSOR_TOO_LARGE'
  | 'OUTPUT_IS_INPUT'
  | 'OUTPUT_PATH_INVALID'
  | 'OUTPUT_NOT_REGULAR'
  | 'OUTPUTS_COLLIDE'
  | 'OUTPUT_LOCKED'
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
  | 'INPUT_SHAPE_MISMATCH'
  | 'COST_UNKNOWN'
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
  | 'DATA_UNLABELED'
  | 'DATA_SHAPE_MISMATCH'
  | 'DATA_TOO_LARGE'
  | 'DATA_LINK_LOOP'
  | 'TRAIN_DIVERGED'
  | 'TRAIN_EVAL_FAILED'
  | 'TRAIN_OUT_OF_MEMORY'
  | 'CHECKPOINT_INVALID'
  // one-step pruning-recovery
  | 'NO_PRUNABLE_GROUP'
  | 'CRUCIAL_LAYER_NOT_FOUND'
  | 'SCORES_MODEL_MISMATCH'
  | 'TARGET_UNREACHABLE'
  | 'FEED_MISSING'
  | 'FEED_SHAPE_MISMATCH'
  // GWCS channel search
  | 'BUDGET_UNREACHABLE'
  | 'SEARCH_STATE_MISMATCH'
  // validation and reports
  | 'REPORT_INVALID'
  // pipelines (sculpt run)
  | 'RECIPE_INVALID'
  | 'STEP_FAILED'
  // limits of this machine
  | 'RESOURCE_EXHAUSTED'
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

/**
 * A CompilerError for an error that escaped without one: a file-system error (ENOENT,
 * EACCES, ENOSPC, ELOOP, ...) or an exhausted resource (memory, stack) is something the
 * user can act on and gets its code and hint; anything else is INTERNAL (a bug of ours).
 */
export function asCompilerError(e: unknown): CompilerError {
  if (e instanceof CompilerError) return e;
  const err = e as NodeJS.ErrnoException;
  const msg = e instanceof Error ? e.message : String(e);
  if (err && typeof err.code === 'string' && typeof err.syscall === 'string') {
    const path = err.path;
    const writing = /write|rename|open|mkdir|unlink|fsync|ftruncate|link/.test(err.syscall) && ['ENOSPC', 'EROFS', 'EDQUOT', 'EFBIG'].includes(err.code);
    const hints: Record<string, string> = {
      ENOENT: 'check the path',
      EACCES: 'check the permissions',
      EPERM: 'check the permissions',
      EISDIR: 'name a file, not a folder',
      ENOTDIR: 'a part of the path is not a folder',
      ELOOP: 'a symbolic link points at itself: fix the link',
      ENOSPC: 'the disk is full: free space',
      EROFS: 'the file system is read-only',
      EMFILE: 'too many open files: raise the limit (ulimit -n)',
      ENAMETOOLONG: 'use a shorter path',
    };
    return new CompilerError(err.code === 'ENOENT' ? 'FILE_NOT_FOUND' : writing ? 'FILE_WRITE_FAILED' : 'FILE_READ_FAILED', msg, {
      where: path,
      cause: e,
      hint: hints[err.code] ?? 'check the file and its folder',
    });
  }
  if (
    e instanceof RangeError &&
    /allocation failed|Invalid (typed )?array length|Array buffer|out of memory|Maximum call stack|Invalid string length|is out of range|too large/i.test(msg)
  ) {
    return new CompilerError('RESOURCE_EXHAUSTED', `out of memory or stack: ${msg}`, {
      cause: e,
      hint: 'the model, its dims or an option asks for more than this machine has: check input sizes, --batch and widths',
    });
  }
  return new CompilerError('INTERNAL', msg, {
    cause: e,
    hint: 'this is a bug in sculpt: please report it with the command and the model (SCULPT_DEBUG=1 prints the stack)',
  });
}

/** What to do, for errors thrown without their own hint. */
export const DEFAULT_HINTS: Partial<Record<ErrorCode, string>> = {
  FILE_NOT_FOUND: 'check the path',
  FILE_READ_FAILED: 'check that the file exists and is readable',
  FILE_WRITE_FAILED: 'check the folder, its permissions and free space',
  FILE_NOT_REGULAR: 'name a regular file',
  PROTOBUF_TRUNCATED: 'the file is truncated; copy or export it again',
  PROTOBUF_INVALID: 'is this an ONNX model file? export it again',
  EXTERNAL_DATA_ESCAPES: 'external data must sit in the model folder or below it',
  EXTERNAL_DATA_MISSING: 'copy the data file next to the model',
  EXTERNAL_DATA_OUT_OF_RANGE: 'the data file is truncated or belongs to another model',
  EXTERNAL_DATA_INVALID: 'the model file is damaged or was edited by hand; export it again',
  TENSOR_DATA_SIZE_MISMATCH: 'the model file is damaged or was edited by hand; export it again',
  TENSOR_DIMS_INVALID: 'the model file is damaged or was edited by hand; export it again',
  OUTPUT_IS_INPUT: 'choose another output path',
  OUTPUTS_COLLIDE: 'give every output its own path',
  MISSING_VALUE: 'the model is incomplete or was edited by hand; export it again',
  DUPLICATE_VALUE: 'every value must have exactly one producer; export the model again',
  GRAPH_CYCLE: 'the graph must be acyclic; export the model again',
  MISSING_OPSET: 'add the opset import for the domain',
  INVALID_OPTION: "see the command's --help",
  UNKNOWN_PASS: 'list the passes with `sculpt passes`',
  UNKNOWN_MODEL: 'list the models with `sculpt models list`',
  DATA_SPEC_INVALID: 'data specs: mnist, fashion-mnist, digits, idx:<images>,<labels>, npy:<x>,<y>, folder:<dir>',
  DATA_CORRUPT: 'the data file is damaged or truncated; replace it',
  MASK_INVALID: 'a mask is { "keep": { "<tensor>": [indices] } } or a prune report',
  REPORT_INVALID: 'pass a report written by `sculpt validate --json`',
};

/** Formats an error for a terminal: code, location, message, hint, then the cause chain. */
export function formatError(e: unknown): string {
  if (!(e instanceof CompilerError)) e = asCompilerError(e);
  if (!(e instanceof CompilerError)) return 'error INTERNAL';
  const lines = [`error ${e.code}${e.where ? ` at ${e.where}` : ''}: ${e.message}`];
  const hint = e.hint ?? DEFAULT_HINTS[e.code];
  if (hint) lines.push(`  hint: ${hint}`);
  let cause = (e as Error).cause;
  let depth = 0;
  while (cause !== undefined && depth < 8) {
    const text = cause instanceof CompilerError ? `${cause.code}: ${cause.message}` : cause instanceof Error ? cause.message : String(cause);
    if (text !== e.message) lines.push(`  caused by: ${text}`);
    cause = cause instanceof Error ? cause.cause : undefined;
    depth++;
  }
  return lines.join('\n');
}
