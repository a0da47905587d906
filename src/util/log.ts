/**
 * Logging on stderr at the original's verbosity (behaviour note 7.2), as readable lines
 * (`WARN message key=value`) instead of the original's slog JSON: the JSON goes to --debug.
 */
import { redact } from '../errors.js';

/**
 * A level on slog's scale, which the original's `-v` arithmetic is written against:
 * error = 8, warn = 4, info = 0, debug = -4 (anything lower is still debug output).
 */
export type Level = number;

export const LEVEL = { error: 8, warn: 4, info: 0, debug: -4 } as const;
export type LevelName = keyof typeof LEVEL;

/** `-v` aliases: each value lowers the level by this much from `error`. */
const ALIASES: Record<string, number> = { error: 0, warn: 4, info: 8, debug: 12 };

/** A `-v` value or ACE_DT_VERBOSITY that is neither an alias nor an integer. */
export class VerbosityError extends Error {
  override name = 'VerbosityError';
}

/**
 * The original's verbosity: a list of values whose sum is subtracted from `error`, so `-v=info`
 * is info, `-v -v` (warn + warn) is info too and `-v=debug` or `-v=12` is debug. A bare `-v`
 * (clipanion gives `true` for an arity-0 flag) counts as `warn`. Values and ACE_DT_VERBOSITY are
 * comma-separated like pflag's string slices; no values: ACE_DT_VERBOSITY, else `warn`.
 */
export function parseVerbosity(values: readonly (string | boolean)[] | undefined, env: NodeJS.ProcessEnv = process.env): Level {
  // Each value is itself a comma list, as pflag reads a string slice: -v=info,debug = -v=info -v=debug.
  let list = (values ?? []).flatMap((v): (string | boolean)[] => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : [v]));
  let from = '-v/--verbosity';
  if (list.length === 0) {
    const e = env.ACE_DT_VERBOSITY;
    if (e !== undefined && e.trim() !== '') {
      list = e.split(',').map((s) => s.trim()).filter((s) => s !== '');
      from = 'ACE_DT_VERBOSITY';
    } else {
      list = ['warn'];
    }
  }
  let sum = 0;
  for (const v of list) {
    if (v === true) {
      sum += ALIASES.warn;
      continue;
    }
    if (v === false) continue;
    const s = v.trim().toLowerCase();
    if (s in ALIASES) sum += ALIASES[s];
    else if (/^[+-]?\d+$/.test(s)) sum += Number(s);
    else throw new VerbosityError(`${from}: ${JSON.stringify(v)} is not a verbosity (use error, warn, info, debug or a number: error=0 warn=4 info=8 debug=12)`);
  }
  return LEVEL.error - sum;
}

/** The name a message of `level` is printed under. */
export function levelName(level: Level): LevelName {
  if (level >= LEVEL.error) return 'error';
  if (level >= LEVEL.warn) return 'warn';
  if (level >= LEVEL.info) return 'info';
  return 'debug';
}

/** Whether a message at `message` level passes a logger set to `threshold`. */
export function enabled(threshold: Level, message: LevelName): boolean {
  return LEVEL[message] >= threshold;
}

/** `key=value`, quoting values with spaces or quotes; objects as JSON; every string redacted. */
export function formatFields(fields: Record<string, unknown> | undefined): string {
  if (!fields) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    let s: string;
    let json = false;
    if (typeof v === 'string') s = redact(v);
    else if (v instanceof Error) s = redact(v.message);
    else if (v !== null && typeof v === 'object') {
      s = redact(JSON.stringify(v));
      json = true;
    } else s = String(v);
    // Quote only what would not read back as one token; compact JSON already is one.
    const quote = json ? /\s/.test(s) : s === '' || /[\s"'=]/.test(s);
    parts.push(`${k}=${quote ? JSON.stringify(s) : s}`);
  }
  return parts.join(' ');
}

export interface LoggerOptions {
  level: Level;
  /** Receives one finished line (with its newline). */
  write(line: string): void;
  /** Colours the level name; identity when colour is off. */
  paint?: (name: LevelName, text: string) => string;
  /** Prefix lines with an ISO time (for logs that are not on a terminal). */
  timestamps?: boolean;
  now?: () => number;
}

/** `level message key=value` lines; messages below the level are dropped. */
export class Logger {
  constructor(private readonly opts: LoggerOptions) {}

  get level(): Level {
    return this.opts.level;
  }

  enabled(name: LevelName): boolean {
    return enabled(this.opts.level, name);
  }

  log(name: LevelName, message: string, fields?: Record<string, unknown>): void {
    if (!this.enabled(name)) return;
    this.opts.write(this.format(name, message, fields));
  }

  format(name: LevelName, message: string, fields?: Record<string, unknown>): string {
    const label = name.toUpperCase().padEnd(5);
    const head = this.opts.paint ? this.opts.paint(name, label) : label;
    const kv = formatFields(fields);
    const time = this.opts.timestamps ? `${isoSeconds((this.opts.now ?? Date.now)())} ` : '';
    return `${time}${head} ${redact(message)}${kv ? ` ${kv}` : ''}\n`;
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.log('error', message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.log('warn', message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.log('info', message, fields);
  }
  debug(message: string, fields?: Record<string, unknown>): void {
    this.log('debug', message, fields);
  }
}

/** `2026-11-27T01:23:45Z`: UTC to the second, the stamp on plain lines and logs. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
