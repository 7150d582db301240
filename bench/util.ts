/** Small timing helpers shared by the benchmark suites. */
import * as os from 'node:os';

export async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs the variants interleaved (A B C A B C …) so that drift in machine load hits all of them
 * alike, and returns the median seconds of each.
 */
export async function interleaved(variants: Record<string, () => Promise<unknown>>, reps: number): Promise<Record<string, number>> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (const fn of Object.values(variants)) await fn(); // warm-up
  for (let r = 0; r < reps; r++) for (const [k, fn] of Object.entries(variants)) times[k].push(await timeIt(fn));
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

/**
 * Like `interleaved`, also returning the median CPU seconds of each (user + system of this process):
 * on a machine shared with other work, CPU time of a single-threaded run moves far less than
 * wall-clock time does.
 */
export async function interleavedCpu(variants: Record<string, () => Promise<unknown>>, reps: number): Promise<Record<string, { wall: number; cpu: number }>> {
  const times: Record<string, { wall: number[]; cpu: number[] }> = Object.fromEntries(Object.keys(variants).map((k) => [k, { wall: [], cpu: [] }]));
  for (const fn of Object.values(variants)) await fn(); // warm-up
  for (let r = 0; r < reps; r++) {
    for (const [k, fn] of Object.entries(variants)) {
      const c0 = process.cpuUsage();
      times[k].wall.push(await timeIt(fn));
      const c = process.cpuUsage(c0);
      times[k].cpu.push((c.user + c.system) / 1e6);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, { wall: median(v.wall), cpu: median(v.cpu) }]));
}

export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()}-${os.arch()}`;
}

export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |').join('\n');
}

function fmt(x: number): string {
  if (Number.isInteger(x)) return String(x);
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
}
