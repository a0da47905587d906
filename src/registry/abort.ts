/**
 * Abort callbacks of many requests on one signal, through a single listener per signal: the plan
 * and the prefetch window keep dozens of requests in flight on the run's signal, which as one
 * listener each made Node warn (MaxListenersExceededWarning, past 10) and cost an
 * addEventListener and a removeEventListener per request. Imports nothing.
 */
const callbacks = new WeakMap<AbortSignal, Set<() => void>>();

/** Call `fn` when `signal` aborts (the caller checks `signal.aborted` first); returns the unsubscribe. */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let set = callbacks.get(signal);
  if (!set) {
    const waiting = new Set<() => void>();
    set = waiting;
    callbacks.set(signal, waiting);
    signal.addEventListener(
      'abort',
      () => {
        const all = [...waiting];
        waiting.clear();
        for (const f of all) f();
      },
      { once: true },
    );
  }
  const mine = set;
  mine.add(fn);
  return () => void mine.delete(fn);
}
