/**
 * A job's progress reports, as both faces show them: clamped so `done` never goes backwards,
 * with a rate and an ETA measured from the job's own reports, and throttled (a job may report
 * per item) so that the first and the final report always go out and a report held back is sent
 * when the interval is over unless a newer one went first (a job that reports a few coarse
 * steps must not lose the step it is on). The runtime server sends the reports as work-done
 * progress; the CLI prints them on stderr.
 */
import type { JobProgress } from '../protocol/jobs';

export interface ProgressReporter {
  report(done: number, total: number, message?: string): void;
  /** Drops a report still held back; nothing is sent after this. */
  close(): void;
}

export function progressReporter(send: (p: JobProgress) => void, intervalMs: number, now: () => number = () => performance.now()): ProgressReporter {
  let lastSent = -Infinity;
  let maxDone = 0;
  let finalSentFor: number | undefined;
  let closed = false;
  /** The first report with work done after the start: the rate is measured from it. */
  let origin: { t: number; done: number } | undefined;
  let trailing: { timer: ReturnType<typeof setTimeout>; p: JobProgress } | undefined;

  const emit = (p: JobProgress) => {
    if (trailing) clearTimeout(trailing.timer);
    trailing = undefined;
    lastSent = now();
    if (!closed) send(p);
  };
  return {
    report(done, total, message) {
      if (closed) return;
      maxDone = Math.max(maxDone, done);
      const t = now();
      origin ??= { t, done: maxDone };
      const p: JobProgress = { done: maxDone, total, ...(message ? { message } : {}) };
      const secs = (t - origin.t) / 1000;
      if (secs > 0.5 && maxDone > origin.done) {
        p.rate = (maxDone - origin.done) / secs;
        if (total > maxDone) p.etaSeconds = (total - maxDone) / p.rate;
      }
      if (maxDone >= total) {
        if (finalSentFor === total) return;
        finalSentFor = total;
        emit(p);
        return;
      }
      const wait = intervalMs - (t - lastSent);
      if (wait <= 0) emit(p);
      else if (trailing) trailing.p = p;
      else {
        const held = { p, timer: setTimeout(() => emit(held.p), wait) };
        trailing = held;
      }
    },
    close() {
      closed = true;
      if (trailing) clearTimeout(trailing.timer);
      trailing = undefined;
    },
  };
}
