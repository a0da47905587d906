/**
 * --debug PATH: every RunEvent as one JSON line, written with a synchronous write(2) so a
 * script following the file (`tail -f`) sees each event as it happens and a crash loses nothing.
 * Every string goes through redact(): no credentials or signed URLs reach the file.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { UserError, redact } from '../errors.js';

/** Deep copy fit for JSON: strings redacted, Errors as {name, code, message}, no functions. */
export function sanitize(value: unknown, depth = 0): unknown {
  if (depth > 20) return '[deep]';
  if (typeof value === 'string') return redact(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    return { name: value.name, code: (value as { code?: unknown }).code, message: redact(value.message) };
  }
  if (value instanceof Uint8Array) return `[${value.length} bytes]`;
  if (Array.isArray(value)) return value.map((v) => sanitize(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const s = sanitize(v, depth + 1);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

export class DebugLog {
  private fd: number | undefined;
  private seq = 0;
  readonly path: string;

  /** Opens (truncates) PATH; an existing directory gets `events.jsonl` inside it (the original's --debug took a directory). */
  constructor(path: string) {
    let target = path;
    try {
      if (fs.statSync(path).isDirectory()) target = join(path, 'events.jsonl');
    } catch {
      /* does not exist yet: a file */
    }
    try {
      this.fd = fs.openSync(target, 'w', 0o600);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new UserError(err.code ?? 'EDEBUG', `cannot open the --debug file ${target}: ${err.message}`, { cause: e });
    }
    this.path = target;
  }

  /** Write one record; returns an error message once if the file stops accepting writes. */
  write(record: Record<string, unknown>, now = Date.now()): string | undefined {
    if (this.fd === undefined) return undefined;
    const line = JSON.stringify({ ts: new Date(now).toISOString(), seq: this.seq++, ...(sanitize(record) as Record<string, unknown>) }) + '\n';
    try {
      fs.writeSync(this.fd, line);
      return undefined;
    } catch (e) {
      // A full disk must not fail the run: stop the debug log and say so once.
      this.close();
      return `the --debug file ${this.path} stopped accepting writes (${(e as Error).message}); no more events are logged there`;
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already gone */
    }
    this.fd = undefined;
  }
}
