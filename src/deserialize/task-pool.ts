/**
 * Blob uploads in flight while the archive reads on (issue 16): at most `concurrency` at once and
 * `maxBytes` of their bodies held in memory. A task's failure is kept (the first one) and given
 * to the next caller, so a run stops at its next entry rather than at the end.
 */
export class TaskPool {
  private readonly tasks = new Set<Promise<void>>();
  private readonly keys = new Set<string>();
  private bytes = 0;
  private failure?: { error: unknown };

  constructor(
    readonly concurrency: number,
    private readonly maxBytes: number,
  ) {}

  /** A task for `key` (a digest) is in flight. */
  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** Throw the first failure of a task, if any. */
  check(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Wait until fewer than `n` tasks run (a caller about to do one more itself). */
  async below(n: number): Promise<void> {
    while (this.tasks.size >= n) await Promise.race(this.tasks);
  }

  /** Start `job` once there is room for it (its `bytes` held until it ends). */
  async add(key: string, bytes: number, job: () => Promise<void>): Promise<void> {
    while (this.tasks.size >= this.concurrency || (this.tasks.size > 0 && this.bytes + bytes > this.maxBytes)) await Promise.race(this.tasks);
    this.check();
    this.bytes += bytes;
    this.keys.add(key);
    const p: Promise<void> = job()
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => {
        this.bytes -= bytes;
        this.keys.delete(key);
        this.tasks.delete(p);
      });
    this.tasks.add(p);
  }

  /** Wait for every task; throw the first failure. */
  async drain(): Promise<void> {
    while (this.tasks.size) await Promise.allSettled([...this.tasks]);
    this.check();
  }

  /** Wait for every task and ignore their failures (the run already failed otherwise). */
  async settle(): Promise<void> {
    while (this.tasks.size) await Promise.allSettled([...this.tasks]);
  }
}
