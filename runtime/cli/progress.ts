/** Progress lines on stderr for long CLI jobs, at most one every half second. */
export function progressPrinter(label: string, log: (m: string) => void): (done: number, total: number, note?: string) => void {
  const t0 = Date.now();
  let last = 0;
  let first: number | undefined;
  return (done, total, note) => {
    first ??= done;
    const now = Date.now();
    if (done < total && now - last < 500) return;
    last = now;
    const secs = (now - t0) / 1000;
    const rate = secs > 0 ? (done - first) / secs : 0;
    const pct = total ? ((100 * done) / total).toFixed(0) : '100';
    log(`${label}: ${done}/${total} (${pct}%)${rate > 0 ? `, ${rate.toFixed(1)}/s` : ''}${note ? `, ${note}` : ''}`);
  };
}
