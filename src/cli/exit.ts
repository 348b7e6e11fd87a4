/** Exit codes of `sculpt`, documented in the README and `--help`. */
export const EXIT = {
  OK: 0,
  /** A CompilerError: bad input, unsupported model, failed verification. */
  ERROR: 1,
  /** Bad command-line usage. */
  USAGE: 2,
  /** A quality gate (validate --max-drop / --min-speedup / --max-params) failed. */
  GATE_FAILED: 3,
} as const;

/** Thrown by a command to end with a specific exit code after printing its result. */
export class ExitWith extends Error {
  constructor(
    readonly exitCode: number,
    message = `exit ${exitCode}`,
  ) {
    super(message);
  }
}
