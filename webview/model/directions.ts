/**
 * What the direction page draws, from a `compute-directions` statistics file only: separation
 * statistics per layer (AUC, Cohen's d, Pearson r with the score when the records carry one),
 * train and held-out, and a histogram of the projections at one hook point split by label.
 */
import type { DirectionLayerStats, DirectionStatsFile, SeparationStats, Subset } from '../../runtime/protocol/results';
import type { TableData } from './run';

export type Metric = 'auc' | 'cohensD' | 'pearsonR';
export type Split = 'train' | 'heldOut';

export const METRIC_TITLES: Record<Metric, string> = { auc: 'AUC', cohensD: "Cohen's d", pearsonR: 'Pearson r (projection vs score)' };
export const SPLIT_TITLES: Record<Split, string> = { train: 'train', heldOut: 'held-out' };

/** `blocks.12.hook_resid_post` → `hook_resid_post`. */
export function hookKind(hook: string): string {
  const m = /^blocks\.\d+\.(.+)$/.exec(hook);
  return m ? m[1]! : hook;
}

export interface MetricPoint {
  /** Index into `blocks`. */
  slot: number;
  block: number;
  hook: string;
  value: number;
  n: number;
}

export interface MetricSeries {
  metric: Metric;
  hookKind: string;
  split: Split;
  label: string;
  points: MetricPoint[];
}

export interface DirectionView {
  blocks: number[];
  hookKinds: string[];
  /** Metrics with at least one finite value (Pearson r only when the records have scores). */
  metrics: Metric[];
  series: MetricSeries[];
}

function statOf(l: DirectionLayerStats, split: Split): SeparationStats | undefined {
  return split === 'train' ? l.train : l.heldOut;
}

export function buildDirectionView(stats: DirectionStatsFile): DirectionView {
  const blocks = [...new Set(stats.layers.map((l) => l.block))].sort((a, b) => a - b);
  const slot = new Map(blocks.map((b, i) => [b, i]));
  const hookKinds = [...new Set(stats.layers.map((l) => hookKind(l.hook)))].sort();
  const series: MetricSeries[] = [];
  const metrics: Metric[] = [];
  for (const metric of ['auc', 'cohensD', 'pearsonR'] as const) {
    const before = series.length;
    for (const kind of hookKinds) {
      for (const split of ['train', 'heldOut'] as const) {
        const points: MetricPoint[] = [];
        for (const l of stats.layers) {
          if (hookKind(l.hook) !== kind) continue;
          const s = statOf(l, split);
          const v = s?.[metric];
          // NaN (a constant projection) and absent values are gaps, not zeros.
          if (s === undefined || v === undefined || v === null || !Number.isFinite(v)) continue;
          points.push({ slot: slot.get(l.block)!, block: l.block, hook: l.hook, value: v, n: s.n });
        }
        if (points.length === 0) continue;
        points.sort((a, b) => a.slot - b.slot);
        series.push({ metric, hookKind: kind, split, label: `${hookKinds.length > 1 ? `${kind.replace(/^hook_resid_/, '')} · ` : ''}${SPLIT_TITLES[split]}`, points });
      }
    }
    if (series.length > before) metrics.push(metric);
  }
  return { blocks, hookKinds, metrics, series };
}

export function metricTable(view: DirectionView, metric: Metric): TableData {
  const columns = ['hook', 'block', 'split', metric, 'n'];
  const rows = view.series
    .filter((s) => s.metric === metric)
    .flatMap((s) => s.points.map((p) => [p.hook, p.block, SPLIT_TITLES[s.split], p.value, p.n]));
  rows.sort((a, b) => String(a[0]).localeCompare(String(b[0])) || Number(a[1]) - Number(b[1]) || String(a[2]).localeCompare(String(b[2])));
  return { columns, rows };
}

// ---------------------------------------------------------------------------------------------
// Projection histogram

export type ProjectionSplit = 'all' | 'train' | 'heldout';

export interface Histogram {
  hook: string;
  /** Bin edges, ascending; bin i is [edges[i], edges[i+1]), the last bin includes its right edge. */
  edges: number[];
  counts: Record<Subset, number[]>;
  n: Record<Subset, number>;
}

/**
 * Equal-width bins over the selected projections. √n bins (8 to 40) keep a 60-record demo and a
 * 3000-record MMLU-Pro cache both readable.
 */
export function projectionHistogram(stats: DirectionStatsFile, hook: string, split: ProjectionSplit): Histogram {
  const values = (stats.projections[hook] ?? []).filter((p) => split === 'all' || p.split === split);
  const counts = { reasoning: [] as number[], memorization: [] as number[] };
  const n = { reasoning: 0, memorization: 0 };
  if (values.length === 0) return { hook, edges: [], counts, n };
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of values) {
    lo = Math.min(lo, p.value);
    hi = Math.max(hi, p.value);
  }
  const bins = Math.min(40, Math.max(8, Math.ceil(Math.sqrt(values.length))));
  // All values equal: one unit-wide range around them, so the single spike still has a bin.
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * width));
  counts.reasoning = new Array(bins).fill(0);
  counts.memorization = new Array(bins).fill(0);
  for (const p of values) {
    // By the edges themselves (not floor((v − lo) / width)), so a value on an edge lands in the
    // bin the table's [low, high) says, whatever the rounding of lo + i·width.
    let i = Math.min(bins - 1, Math.max(0, Math.floor((p.value - lo) / width)));
    while (i > 0 && p.value < edges[i]!) i--;
    while (i < bins - 1 && p.value >= edges[i + 1]!) i++;
    counts[p.subset][i]!++;
    n[p.subset]++;
  }
  return { hook, edges, counts, n };
}

export function histogramTable(h: Histogram): TableData {
  return {
    columns: ['hook', 'bin_low', 'bin_high', 'reasoning', 'memorization'],
    rows: h.edges.slice(0, -1).map((lo, i) => [h.hook, lo, h.edges[i + 1]!, h.counts.reasoning[i]!, h.counts.memorization[i]!]),
  };
}

/** The hook shown first: the best held-out AUC (train when there is no held-out split). */
export function defaultHook(stats: DirectionStatsFile): string | null {
  let best: DirectionLayerStats | null = null;
  const score = (l: DirectionLayerStats) => {
    const v = (l.heldOut ?? l.train).auc;
    return v !== null && Number.isFinite(v) ? Math.abs(v - 0.5) : -1;
  };
  for (const l of stats.layers) if (!best || score(l) > score(best)) best = l;
  return best?.hook ?? null;
}
