/**
 * The frame redrawn in place on a terminal. The whole frame goes out in one write: cursor up
 * over the previous frame, each line erased and rewritten, the rest of the screen below erased.
 * Nothing is cleared before it is redrawn, so nothing flickers; terminals that know
 * synchronized output (DEC mode 2026) also show the frame atomically, the others ignore it.
 */
const ESC = '\x1b[';
export const HIDE_CURSOR = `${ESC}?25l`;
export const SHOW_CURSOR = `${ESC}?25h`;
const SYNC_BEGIN = `${ESC}?2026h`;
const SYNC_END = `${ESC}?2026l`;

export class LiveFrame {
  /** Lines of the frame on screen; the cursor sits at column 0 of the line below them. */
  private drawn = 0;
  /** Visible width of each drawn line and the terminal width then, to follow a reflow. */
  private widths: number[] = [];
  private cols = 0;
  private cursorHidden = false;
  /** After a signal the cursor stays visible: a second Ctrl-C kills the process outright. */
  private keepCursor = false;
  private readonly onExit = () => this.restoreCursor();

  constructor(private readonly out: NodeJS.WritableStream) {
    // TTY writes are synchronous, so this still reaches the terminal on process.exit().
    process.on('exit', this.onExit);
  }

  /** Draw `lines` (each shorter than `cols`) over the previous frame. */
  draw(lines: string[], cols: number): void {
    let s = SYNC_BEGIN;
    if (!this.cursorHidden && !this.keepCursor) {
      s += HIDE_CURSOR;
      this.cursorHidden = true;
    }
    // A terminal made narrower reflows (tmux, VTE, iTerm2, kitty): a previous line that no longer
    // fits now takes several rows, and the cursor must go up over all of them.
    this.reflow(cols);
    s += this.up() + lines.map((l) => `${ESC}2K${l}\n`).join('') + `${ESC}J` + SYNC_END;
    this.drawn = lines.length;
    this.widths = lines.map(visibleWidth);
    this.cols = cols;
    this.out.write(s);
  }

  /** Erase the frame (the cursor ends where the frame began), e.g. to print a line above it. */
  clear(): void {
    if (this.drawn === 0) return;
    this.reflow((this.out as NodeJS.WriteStream).columns || this.cols);
    this.out.write(this.up() + `${ESC}J`);
    this.drawn = 0;
  }

  restoreCursor(): void {
    if (!this.cursorHidden) return;
    this.cursorHidden = false;
    this.out.write(SHOW_CURSOR);
  }

  /** A signal arrived: show the cursor now and keep it visible until the end. */
  signalled(): void {
    this.keepCursor = true;
    this.restoreCursor();
  }

  /** Erase the frame, show the cursor, stop watching for exit. */
  dispose(): void {
    this.clear();
    this.restoreCursor();
    process.off('exit', this.onExit);
  }

  private reflow(cols: number): void {
    if (cols > 0 && cols < this.cols) {
      this.drawn = this.widths.reduce((n, w) => n + Math.max(1, Math.ceil(w / cols)), 0);
      this.widths = [];
      this.cols = cols;
    }
  }

  private up(): string {
    return this.drawn > 0 ? `${ESC}${this.drawn}A\r` : '\r';
  }
}

/** Cells a line takes: its characters without the SGR colour sequences. */
export function visibleWidth(line: string): number {
  return [...line.replace(/\x1b\[[0-9;]*m/g, '')].length;
}
