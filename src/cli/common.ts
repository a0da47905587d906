import { Command, Option } from './clipanion.js';
import { AceError, InterruptedError, UsageError, UserError, redact } from '../errors.js';
import { ByteSizeError, parseBytes } from '../util/bytes.js';
import { type Level, VerbosityError, parseVerbosity } from '../util/log.js';
import type { RegistryOptions } from '../source/registry.js';
import { VERSION } from '../version.js';

/** Exit codes (SPEC "User experience"). */
export const Exit = { Ok: 0, Failed: 1, Usage: 2, Interrupted: 130 } as const;

/** The exit status of a run interrupted by `sig`: 143 for SIGTERM (128 + 15, as a shell says). */
export function signalExitCode(sig: NodeJS.Signals): number {
  return sig === 'SIGTERM' ? 143 : Exit.Interrupted;
}

/** Parse a byte-size flag or throw a UsageError naming the flag. */
export function byteSizeOption(flag: string, value: string | undefined, fallback: number, opts: { min?: number } = {}): number {
  if (value === undefined) return fallback;
  let n: number;
  try {
    n = parseBytes(value);
  } catch (e) {
    if (e instanceof ByteSizeError) throw new UsageError(`${flag}: ${e.message}`);
    throw e;
  }
  if (opts.min !== undefined && n < opts.min) {
    throw new UsageError(`${flag}: ${JSON.stringify(value)} is too small (at least ${opts.min} B)`);
  }
  return n;
}

/** Parse --hwm: an integer percentage 1..100. */
export function hwmOption(value: string | undefined): number {
  if (value === undefined) return 90;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 100) {
    throw new UsageError(`--hwm: ${JSON.stringify(value)} is not a percentage between 1 and 100`);
  }
  return Number(value);
}

/** Flags every command shares (the manual's "inherited" options). */
export abstract class BaseCommand extends Command {
  config = Option.Array('--config', { description: 'configuration file location (setable with env "ACE_DT_CONFIG"). The first configuration file present is used. Others are ignored.' });
  // arity 0 gives the original's optional value: a bare -v is `true` (= warn), -v=info is "info" (behaviour note 7.2).
  verbosity = Option.Array('-v,--verbosity', {
    arity: 0,
    description: 'Logging verbosity on stderr (also setable with environment variable ACE_DT_VERBOSITY): -v=error, -v=warn, -v=info, -v=debug or a number (error=0, warn=4, info=8, debug=12; values add up, a bare -v counts as warn so -v -v is info). Give the value with "=": "-v info" is -v followed by the argument "info", as in the original. (default warn)',
  }) as unknown as (string | boolean)[] | undefined;

  /** The log level from -v and ACE_DT_VERBOSITY; a bad value is a usage error (exit 2). */
  logLevel(): Level {
    try {
      return parseVerbosity(this.verbosity, process.env);
    } catch (e) {
      if (e instanceof VerbosityError) throw new UsageError(e.message);
      throw e;
    }
  }

  /**
   * Registry options for this invocation: the configuration file (--config, ACE_DT_CONFIG, the
   * original's search path) and the signal that Ctrl-C aborts.
   */
  protected async registryOptions(signal?: AbortSignal): Promise<RegistryOptions> {
    // Loaded on use: every command file is imported at start-up, the registry stack is not.
    const { loadConfig } = await import('../config/index.js');
    return { config: await loadConfig(this.config), signal, userAgent: `ace-dt/${VERSION}` };
  }

  /** Run the command body; map errors to messages and exit codes. */
  abstract run(): Promise<number>;

  async execute(): Promise<number> {
    try {
      return await this.run();
    } catch (e) {
      return reportError(e, this.context.stderr);
    }
  }
}

export function reportError(e: unknown, stderr: NodeJS.WritableStream): number {
  if (e instanceof UsageError) {
    stderr.write(`ace-dt: usage error: ${e.message}\n(see --help)\n`);
    return Exit.Usage;
  }
  if (e instanceof InterruptedError) {
    stderr.write(`ace-dt: ${e.message}\n`);
    return signalExitCode(e.signal);
  }
  if (e instanceof AceError) {
    stderr.write(`ace-dt: error: ${redact(e.message)}\n`);
    if (!(e instanceof UserError) && process.env.ACE_DT_STACK) stderr.write(`${e.stack}\n`);
    return Exit.Failed;
  }
  // A bug: keep the stack.
  const err = e as Error;
  stderr.write(`ace-dt: internal error: ${redact(String(err?.stack ?? err))}\n`);
  return Exit.Failed;
}
