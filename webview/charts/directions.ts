/**
 * Direction quality per layer (one chart per statistic: train solid, held-out dashed, a colour
 * per hook kind) and the histogram of projections at one hook point, split by label.
 */
import type { ChartDataset, TooltipItem } from 'chart.js';
import { METRIC_TITLES, SPLIT_TITLES, type DirectionView, type Histogram, type Metric, type MetricPoint, type MetricSeries } from '../model/directions';
import { css, type Theme } from '../theme';
import type { BandSpec } from './plugins';
import { baseOptions, Chart, font, slotAxis } from './setup';

export interface MetricDatum {
  x: number;
  y: number;
  point: MetricPoint;
  series: MetricSeries;
}

/** The no-separation reference of each statistic: AUC ½, d 0, r 0. */
const CHANCE: Record<Metric, number> = { auc: 0.5, cohensD: 0, pearsonR: 0 };

export function metricChart(canvas: HTMLCanvasElement, view: DirectionView, metric: Metric, t: Theme, onPick: (p: MetricPoint) => void): Chart<'line', MetricDatum[]> {
  const series = view.series.filter((s) => s.metric === metric);
  const datasets: ChartDataset<'line', MetricDatum[]>[] = series.map((s) => {
    const color = css(t.palette[view.hookKinds.indexOf(s.hookKind) % t.palette.length]!);
    const heldOut = s.split === 'heldOut';
    return {
      label: s.label,
      data: s.points.map((p) => ({ x: p.slot, y: p.value, point: p, series: s })),
      borderColor: color,
      backgroundColor: color,
      pointBackgroundColor: heldOut ? css(t.background) : color,
      pointStyle: heldOut ? 'rectRot' : 'circle',
      pointRadius: 3.5,
      pointHoverRadius: 6,
      borderWidth: 2,
      borderDash: heldOut ? [6, 4] : [],
    };
  });
  const chance: BandSpec = { label: metric === 'auc' ? 'chance (0.5)' : 'no separation (0)', lo: CHANCE[metric], hi: CHANCE[metric], value: CHANCE[metric], fill: 'transparent', line: css(t.muted, 0.8) };
  const range =
    metric === 'auc' ? { min: 0, max: 1 } : metric === 'pearsonR' ? { min: -1, max: 1 } : { suggestedMin: 0, suggestedMax: 1 };
  const base = baseOptions<'line'>(t);
  return new Chart<'line', MetricDatum[]>(canvas, {
    type: 'line',
    data: { datasets },
    options: {
      ...base,
      parsing: false,
      interaction: { mode: 'nearest', intersect: false, axis: 'xy' },
      scales: {
        x: slotAxis(view.blocks.map(String), 'layer (block)', t),
        y: {
          type: 'linear',
          ...range,
          grid: { color: css(t.grid) },
          border: { color: css(t.grid) },
          title: { display: true, text: METRIC_TITLES[metric], color: css(t.muted) },
          ticks: { color: css(t.foreground) },
        },
      },
      plugins: {
        ...base.plugins,
        layerlabBands: { bands: [chance], textColor: css(t.muted), font: font(t, -2), haloColor: css(t.background) },
        tooltip: {
          ...base.plugins!.tooltip,
          callbacks: {
            title: (items: TooltipItem<'line'>[]) => {
              const d = items[0]?.raw as MetricDatum | undefined;
              return d ? d.point.hook : '';
            },
            label: (item: TooltipItem<'line'>) => {
              const d = item.raw as MetricDatum;
              return `${SPLIT_TITLES[d.series.split]}: ${METRIC_TITLES[metric].split(' (')[0]} ${d.point.value.toFixed(3)} (n=${d.point.n})`;
            },
            footer: () => 'click: histogram of this layer',
          },
        },
      },
      onClick: (_e, elements, c) => {
        const el = elements[0];
        if (el) onPick((c.data.datasets[el.datasetIndex]!.data[el.index] as unknown as MetricDatum).point);
      },
    },
  });
}

export interface HistDatum {
  x: number;
  y: number;
  /** The bin's edges (not named lo/hi: the error-bar plugin draws any datum with those). */
  binLow: number;
  binHigh: number;
}

export function histogramChart(canvas: HTMLCanvasElement, h: Histogram, t: Theme): Chart<'bar', HistDatum[]> {
  const centre = (i: number) => (h.edges[i]! + h.edges[i + 1]!) / 2;
  const datasets: ChartDataset<'bar', HistDatum[]>[] = (['reasoning', 'memorization'] as const).map((subset, k) => {
    const color = t.palette[k]!;
    return {
      label: `${subset} (n=${h.n[subset]})`,
      data: h.counts[subset].map((y, i) => ({ x: centre(i), y, binLow: h.edges[i]!, binHigh: h.edges[i + 1]! })),
      backgroundColor: css(color, 0.5),
      borderColor: css(color),
      borderWidth: 1,
      // Both labels over the same bins, overlapping with transparency, as in the paper's figure.
      grouped: false,
      barPercentage: 1,
      categoryPercentage: 1,
    };
  });
  const base = baseOptions<'bar'>(t);
  const width = h.edges.length > 1 ? h.edges[1]! - h.edges[0]! : 1;
  return new Chart<'bar', HistDatum[]>(canvas, {
    type: 'bar',
    data: { datasets },
    options: {
      ...base,
      parsing: false,
      plugins: {
        ...base.plugins,
        tooltip: {
          ...base.plugins!.tooltip,
          callbacks: {
            title: (items: TooltipItem<'bar'>[]) => {
              const d = items[0]?.raw as HistDatum | undefined;
              return d ? `[${d.binLow.toFixed(3)}, ${d.binHigh.toFixed(3)})` : '';
            },
            label: (item: TooltipItem<'bar'>) => `${item.dataset.label?.split(' ')[0]}: ${(item.raw as HistDatum).y} records`,
          },
        },
      },
      scales: {
        x: {
          type: 'linear',
          offset: false,
          min: h.edges[0],
          max: h.edges[h.edges.length - 1],
          // Bar charts offset the index axis's grid between ticks by default; here x is a value.
          grid: { color: css(t.grid), offset: false },
          border: { color: css(t.grid) },
          title: { display: true, text: 'projection onto the direction (x·d̂)', color: css(t.muted) },
          ticks: { color: css(t.foreground), maxTicksLimit: 9, callback: (v) => Number(v).toFixed(Math.abs(width) < 0.1 ? 3 : 2) },
        },
        y: {
          type: 'linear',
          beginAtZero: true,
          grid: { color: css(t.grid) },
          border: { color: css(t.grid) },
          title: { display: true, text: 'records', color: css(t.muted) },
          ticks: { color: css(t.foreground), precision: 0 },
        },
      },
    },
  });
}
