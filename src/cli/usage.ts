/**
 * Usage errors found by a command's own checks. The command line alone is wrong (options
 * that conflict, a malformed flag value): `sculpt` exits 2, as for an unknown flag, and the
 * message keeps its error code and hint. A pipeline can then tell "my invocation is wrong"
 * (2) from "this model or data cannot be done" (1).
 */
import { CompilerError, isCompilerError } from '../errors.js';
import type { ErrorCode, ErrorDetails } from '../errors.js';

export class CliUsageError extends CompilerError {}

/** An INVALID_OPTION (or the given code) usage error. */
export function usageError(message: string, details: ErrorDetails = {}, code: ErrorCode = 'INVALID_OPTION'): CliUsageError {
  return new CliUsageError(code, message, details);
}

/** Runs checks that look at the command line only; a CompilerError they throw becomes a usage error. */
export function asUsage<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (isCompilerError(e) && !(e instanceof CliUsageError)) throw new CliUsageError(e.code, e.message, { where: e.where, hint: e.hint, cause: e.cause });
    throw e;
  }
}
