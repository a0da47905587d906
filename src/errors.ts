/**
 * Errors with a stable `code`. Retry and exit decisions look at the code, never at the message.
 * `UserError`s are the user's to fix: printed without a stack trace.
 */
export class AceError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad content: digest or size mismatch, malformed manifest, unsafe archive entry. */
export class OciError extends AceError {}

/** A digest mismatch (EDIGEST), with what the content hashes to, for reports that name it. */
export class DigestMismatchError extends OciError {
  constructor(message: string, readonly actual: string) {
    super('EDIGEST', message);
  }
}

/** A failure the user caused or can fix (bad reference, unwritable destination, bad ledger). */
export class UserError extends AceError {}

/**
 * A mistake on the command line (a bad flag value, a bad -v or ACE_DT_VERBOSITY): the CLI prints
 * "usage error" and exits 2 (cli/common.ts reportError). Not an AceError: it has no code and is
 * never retried or logged as a run's failure. It lives here, not in cli/, because layers below the
 * CLI parse user input too (ui's createReporter parses -v).
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The run was interrupted by a signal; exit 130 (SIGINT) or 143 (SIGTERM). */
export class InterruptedError extends AceError {
  constructor(readonly signal: NodeJS.Signals) {
    super('EINTERRUPTED', `interrupted by ${signal}`);
  }
}

/** Remove credentials and query strings (signed redirect URLs) from URLs in a message. */
export function redact(text: string): string {
  return text
    .replace(/(\w+:\/\/)[^/@\s]+@/g, '$1***@')
    .replace(/(https?:\/\/[^\s?"']+)\?[^\s"']*/g, '$1?***')
    .replace(/(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 ***');
}
