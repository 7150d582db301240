/**
 * Cooperative cancellation for long loops. Node runs a SIGINT handler (and a JSON-RPC cancel)
 * only when the event loop gets a turn, and an AbortSignal's `aborted` flag is only ever set
 * there: a synchronous loop that merely checks the flag never sees it change. So a long loop
 * awaits a `tick()` between steps, which gives the event loop a turn every few tens of
 * milliseconds and throws CancelledError once the signal is aborted. Ctrl-C then stops within a
 * second wherever the work is.
 */
import { CancelledError } from './generate';

/** Longest stretch of synchronous work between two turns of the event loop. */
const SLICE_MS = 50;

/** A `tick()` to await between steps of a long loop (see the module comment). */
export function cooperative(signal?: AbortSignal, sliceMs = SLICE_MS): () => Promise<void> {
  let last = Date.now();
  return async () => {
    if (signal?.aborted) throw new CancelledError();
    if (Date.now() - last < sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    last = Date.now();
    if (signal?.aborted) throw new CancelledError();
  };
}

/**
 * Runs a generator whose `yield`s mark safe points, with turns of the event loop between slices
 * and cancellation at any safe point. One definition of a long computation then serves both a
 * synchronous caller (runSteps) and a cancellable one (runStepsCooperatively).
 */
export async function runStepsCooperatively<T>(steps: Generator<unknown, T>, signal?: AbortSignal): Promise<T> {
  const tick = cooperative(signal);
  let done = false;
  try {
    for (;;) {
      await tick();
      const r = steps.next();
      if (r.done) {
        done = true;
        return r.value;
      }
    }
  } finally {
    // Stopped between steps (cancelled): run the generator's own finally blocks (locks, temps).
    if (!done) steps.return(undefined as T);
  }
}

/** Runs such a generator to completion without yielding (checking the signal at each safe point). */
export function runSteps<T>(steps: Generator<unknown, T>, signal?: AbortSignal): T {
  let done = false;
  try {
    for (;;) {
      if (signal?.aborted) throw new CancelledError();
      const r = steps.next();
      if (r.done) {
        done = true;
        return r.value;
      }
    }
  } finally {
    if (!done) steps.return(undefined as T);
  }
}
