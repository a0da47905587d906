/**
 * At most `n` calls of the returned function's tasks run at once; the rest wait in FIFO order.
 * For fan-outs over a registry (the plan's manifests), where the requests in flight must stay
 * under a limit but their order of completion does not matter.
 */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  if (!(n >= 1)) throw new RangeError(`limiter: ${n} is not a positive number`);
  let running = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    running--;
    const next = waiting.shift();
    if (next) {
      running++;
      next();
    }
  };
  return <T>(task: () => Promise<T>): Promise<T> => {
    const run = () => {
      let p: Promise<T>;
      try {
        p = task();
      } catch (e) {
        p = Promise.reject(e);
      }
      return p.finally(release);
    };
    if (running < n) {
      running++;
      return run();
    }
    return new Promise<void>((resolve) => waiting.push(resolve)).then(run);
  };
}
