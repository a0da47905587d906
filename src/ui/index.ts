/**
 * The operator's view of a run (SPEC "User experience", issue 6 "Display"): a live display on a
 * terminal, timestamped plain lines otherwise, nothing on stdout with -q, logs on stderr at the
 * chosen verbosity, a JSON Lines event log with --debug, and a closing summary that cannot be
 * mistaken for success when the run failed.
 *
 * May import: `sink/types.ts` (the writer's statistics it shows), `oci`, `util`, `errors.ts`.
 * The archive writer and the services emit its events (events.ts); it listens to no process
 * signal itself (the run's AbortSignal tells it, cli/abort.ts).
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { UsageError, redact } from '../errors.js';
import type { SinkStats } from '../sink/types.js';
import { formatBytes, humanBytes } from '../util/bytes.js';
import { type Level, type LevelName, Logger, VerbosityError, isoSeconds, parseVerbosity } from '../util/log.js';
import { DebugLog } from './debug.js';
import type { Reporter, RunEvent } from './events.js';
import { shortDigest, unicodeLocale } from './format.js';
import { frameLines, statusLine } from './frame.js';
import { LiveFrame } from './live.js';
import { RunState } from './state.js';
import { summaryLines } from './summary.js';

export type { Reporter, RunEvent, RunSummary } from './events.js';
export { silentReporter } from './events.js';

export interface ReporterOptions {
  /** -q: nothing on stdout; logs (errors at least) still on stderr. */
  quiet?: boolean;
  /** --no-term: plain lines even on a terminal. */
  noTerm?: boolean;
  /** --debug PATH: JSON Lines events. */
  debugPath?: string;
  /** The raw -v/--verbosity values (see parseVerbosity); ignored when `level` is given. */
  verbosity?: readonly (string | boolean)[];
  /** The log level, already parsed. */
  level?: Level;
  stdout: NodeJS.WriteStream | NodeJS.WritableStream;
  stderr: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Environment for NO_COLOR, TERM, locale and ACE_DT_VERBOSITY (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Live display redraw period (default 200 ms: 5 Hz). */
  refreshMs?: number;
  /** Plain mode: a status line at most this often, for long runs (default 5 s). */
  statusIntervalMs?: number;
  /** --debug: writer counters this often (default 1 s). */
  debugIntervalMs?: number;
  /** Print the closing summary on `done` (default true). */
  summary?: boolean;
  /**
   * The run's abort (cli/abort.ts, which alone listens to the process's signals); its reason is
   * the signal's name. When it fires the display shows the cursor, the summary says INTERRUPTED
   * and --debug records the signal.
   */
  signal?: AbortSignal;
}

type Mode = 'live' | 'plain' | 'quiet';

function isTTY(s: NodeJS.WritableStream): boolean {
  return (s as NodeJS.WriteStream).isTTY === true;
}

/**
 * Colour only on a terminal and never with NO_COLOR (no-color.org: set and not empty); the depth
 * from the given environment (chalk's own detection reads process.stdout and process.env).
 */
export function colourLevel(tty: boolean, env: NodeJS.ProcessEnv): 0 | 1 | 2 | 3 {
  if (!tty) return 0;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') {
    const n = Number(env.FORCE_COLOR);
    if (env.FORCE_COLOR === 'false' || n === 0) return 0;
    return (n >= 1 && n <= 3 ? n : 1) as 1 | 2 | 3;
  }
  if (!env.TERM || env.TERM === 'dumb') return 0;
  if (env.COLORTERM === 'truecolor' || env.COLORTERM === '24bit') return 3;
  if (/-256(color)?$/i.test(env.TERM)) return 2;
  return 1;
}

/**
 * The reporter for a command. Throws a UsageError for a bad -v value or ACE_DT_VERBOSITY and a
 * UserError when the --debug file cannot be created.
 */
export async function createReporter(opts: ReporterOptions): Promise<Reporter> {
  const env = opts.env ?? process.env;
  let level: Level;
  try {
    level = opts.level ?? parseVerbosity(opts.verbosity, env);
  } catch (e) {
    if (e instanceof VerbosityError) throw new UsageError(e.message);
    throw e;
  }
  const debug = opts.debugPath !== undefined ? new DebugLog(opts.debugPath) : undefined;
  return new UiReporter(opts, env, level, debug);
}

class UiReporter implements Reporter {
  private readonly state = new RunState(Date.now());
  private readonly logger: Logger;
  private mode: Mode | undefined;
  private out!: NodeJS.WritableStream;
  private c!: ChalkInstance;
  private unicode = false;
  private live?: LiveFrame;
  private liveActive = false;
  private timer?: NodeJS.Timeout;
  private debugTimer?: NodeJS.Timeout;
  private lastStatus = 0;
  private summarised = false;
  /** A prompt is waiting for the operator: the live frame is not redrawn over it. */
  private held = false;
  private closed = false;
  private readonly onAbort = () => this.interrupted(this.opts.signal!.reason as NodeJS.Signals);
  private readonly stderrTTY: boolean;

  constructor(
    private readonly opts: ReporterOptions,
    private readonly env: NodeJS.ProcessEnv,
    level: Level,
    private readonly debug: DebugLog | undefined,
  ) {
    this.stderrTTY = isTTY(opts.stderr);
    const ce = new Chalk({ level: colourLevel(this.stderrTTY, env) });
    const paint: Record<LevelName, (s: string) => string> = { error: ce.red.bold, warn: ce.yellow, info: ce.cyan, debug: ce.gray };
    this.logger = new Logger({
      level,
      write: (line) => this.writeErr(line),
      paint: (name, text) => paint[name](text),
      timestamps: !this.stderrTTY || opts.noTerm === true,
    });
    if (opts.signal?.aborted) this.onAbort();
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Decided at the first event: a run whose DEST is `-` writes the archive on stdout, so its display goes to stderr. */
  private setup(first: RunEvent): void {
    const toStderr = first.type === 'start' && first.dest === '-';
    this.out = toStderr ? this.opts.stderr : this.opts.stdout;
    const tty = isTTY(this.out);
    if (this.opts.quiet) this.mode = 'quiet';
    else if (tty && !this.opts.noTerm && this.env.TERM !== 'dumb') this.mode = 'live';
    else this.mode = 'plain';
    this.c = new Chalk({ level: this.mode === 'live' ? colourLevel(tty, this.env) : 0 });
    this.unicode = unicodeLocale(this.env);
    if (this.mode === 'live') this.live = new LiveFrame(this.out);
    const period = this.mode === 'live' ? this.opts.refreshMs ?? 200 : this.mode === 'plain' ? Math.min(1000, this.opts.statusIntervalMs ?? 5000) : 0;
    if (period > 0) {
      this.timer = setInterval(() => this.tick(), period);
      this.timer.unref();
    }
  }

  emit(e: RunEvent): void {
    if (this.closed) return;
    if (this.mode === undefined) this.setup(e);
    this.debugWrite({ ...e });
    this.state.apply(e);
    switch (e.type) {
      case 'start':
        this.state.sample(Date.now());
        this.line(`${e.command}${e.image ? ` ${e.image}` : ''}${e.dest ? ` -> ${e.dest}` : ''}`, true);
        break;
      case 'plan': {
        const comp = e.compression ? `, ${e.compression}-compressed` : '';
        this.line(`plan: ${e.blobs} blobs to write (${humanBytes(e.bytes)}), ${e.skippedBlobs} skipped (${humanBytes(e.skippedBytes)}), archive ${formatBytes(e.archiveBytes)}${comp}`);
        this.activate();
        break;
      }
      case 'resolve':
        if (this.mode === 'plain') this.line(`resolved ${e.ref} to ${e.descriptor.digest} (${e.descriptor.mediaType})`);
        break;
      case 'skip':
        if (this.mode === 'plain') this.line(`skip ${shortDigest(e.descriptor.digest)} (${humanBytes(e.descriptor.size)}): ${e.reason}`);
        break;
      case 'blob-begin':
        this.activate();
        break;
      case 'blob-end':
        if (this.mode === 'plain') {
          const of = this.state.plan ? `/${this.state.plan.blobs}` : '';
          this.line(`wrote ${shortDigest(e.descriptor.digest)} (${humanBytes(e.descriptor.size)}) ${this.state.blobsDone}${of}, archive offset ${e.offset}`);
        }
        break;
      case 'log':
        this.logger.log(e.level, e.message, e.fields);
        break;
      case 'note':
        this.line(e.message);
        break;
      case 'volume':
        this.line(`volume ${e.volume}: ${formatBytes(e.bytes)} in ${e.records} write${e.records === 1 ? '' : 's'}, ${e.dest}`);
        break;
      case 'done':
        this.finish();
        break;
      default:
      // 'error' is printed once by the command (reportError); here it feeds the summary.
    }
  }

  setStatsSource(source: () => SinkStats): void {
    this.state.setStatsSource(source);
    this.activate();
    if (this.debug && !this.debugTimer) {
      this.debugTimer = setInterval(() => {
        const now = Date.now();
        this.state.sample(now);
        const stats = this.state.stats;
        // The rate is the display's (over the last seconds), so a script sees what the operator sees.
        if (stats) this.debugWrite({ type: 'writer', stats, source: 'sample', rate: this.state.progress(now).rate });
      }, this.opts.debugIntervalMs ?? 1000);
      this.debugTimer.unref();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.mode !== undefined && !this.summarised) this.finish();
    this.closed = true;
    this.stopTimers();
    this.live?.dispose();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.debug?.close();
  }

  /** Start redrawing (live) or status lines (plain) once there is progress to show. */
  private activate(): void {
    if (this.mode === 'live' && !this.liveActive) {
      this.liveActive = true;
      this.lastStatus = Date.now();
      this.redraw();
    } else if (this.mode === 'plain' && !this.liveActive) {
      this.liveActive = true;
      this.lastStatus = Date.now();
    }
  }

  private tick(): void {
    const now = Date.now();
    this.state.sample(now);
    if (!this.liveActive) return;
    if (this.mode === 'live') this.redraw(now);
    else if (this.mode === 'plain' && now - this.lastStatus >= (this.opts.statusIntervalMs ?? 5000)) {
      this.lastStatus = now;
      this.line(statusLine(this.state, now));
    }
  }

  hold(on: boolean): void {
    this.held = on;
    if (on) this.live?.clear();
    else this.redraw();
  }

  private redraw(now = Date.now()): void {
    if (!this.live || !this.liveActive || this.summarised || this.held) return;
    const width = (this.out as NodeJS.WriteStream).columns || 80;
    this.live.draw(frameLines(this.state, now, { width, unicode: this.unicode, c: this.c }), width);
  }

  /** The final frame is replaced by the summary. */
  private finish(): void {
    if (this.summarised) return;
    this.summarised = true;
    this.stopTimers();
    const stats = this.state.readStats();
    if (stats) this.debugWrite({ type: 'writer', stats, source: 'final' });
    this.live?.dispose();
    if (this.mode === 'quiet' || this.opts.summary === false) return;
    if (!this.state.done && !this.state.command) return;
    const lines = summaryLines(this.state, this.c).map(redact);
    const ts = this.mode === 'plain' ? `${isoSeconds(Date.now())} ` : '';
    this.out.write(lines.map((l, i) => (i === 0 ? ts + l : ' '.repeat(ts.length) + l)).join('\n') + '\n');
  }

  private stopTimers(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.debugTimer) clearInterval(this.debugTimer);
    this.timer = this.debugTimer = undefined;
  }

  /** A line on the UI stream: timestamped when plain, above the frame when live, dropped when quiet. */
  private line(raw: string, bold = false): void {
    if (this.mode === 'quiet') return;
    const text = redact(raw);
    if (this.mode === 'plain') {
      this.out.write(`${isoSeconds(Date.now())} ${text}\n`);
      return;
    }
    this.live?.clear();
    this.out.write(`${bold ? this.c.bold(text) : text}\n`);
    this.redraw();
  }

  private writeErr(line: string): void {
    // Both streams on one terminal: the log line goes above the frame, which is redrawn below it.
    const share = this.mode === 'live' && this.stderrTTY && this.liveActive && !this.summarised;
    if (share) this.live?.clear();
    this.opts.stderr.write(line);
    if (share) this.redraw();
  }

  private debugWrite(record: Record<string, unknown>): void {
    if (!this.debug) return;
    const failed = this.debug.write(record);
    if (failed) this.logger.warn(failed);
  }

  /** The run was interrupted: the cursor comes back now (a second Ctrl-C kills the process outright). */
  private interrupted(sig: NodeJS.Signals): void {
    this.live?.signalled();
    if (!this.state.error) this.state.error = { code: 'EINTERRUPTED', message: `interrupted by ${sig}` };
    this.debugWrite({ type: 'signal', signal: sig });
    // A hangup ends the process at once (cli/abort.ts): nothing will redraw or replace the frame.
    if (sig === 'SIGHUP') this.live?.dispose();
  }
}
