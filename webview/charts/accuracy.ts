/**
 * Accuracy against layer for one subset: a line per intervention setting (scale/α), the random-
 * direction controls dashed in the colour of the setting they control, Wilson 95% error bars,
 * and the no-intervention baseline as a reference band. A compare run is overlaid with hollow
 * triangles and an outlined band.
 */
import type { ChartDataset, LegendItem, TooltipItem } from 'chart.js';
import type { Subset } from '../../runtime/protocol/results';
import { mostlyUnparsed, ROLE_TAG, pct, subsetTitle, type AccuracyPoint, type BaselineBand, type RunView } from '../model/run';
import { css, type Theme } from '../theme';
import { bandLegendItems, type BandSpec } from './plugins';
import { baseOptions, Chart, font, slotAxis } from './setup';

/** What one drawn point carries: chart coordinates plus the run file's numbers behind it. */
export interface AccuracyDatum {
  x: number;
  y: number;
  lo: number;
  hi: number;
  point: AccuracyPoint;
}

export type AccuracyPick = { kind: 'point'; point: AccuracyPoint } | { kind: 'band'; band: BaselineBand };

/**
 * Spreads the datasets of one slot sideways by a fraction of a slot, so that the error bars of
 * several settings at the same layer stay apart. Only the drawing moves: each datum keeps its
 * slot in `point.slot`.
 */
export function dodge(index: number, count: number): number {
  if (count <= 1) return 0;
  const step = Math.min(0.5 / count, 0.08);
  return (index - (count - 1) / 2) * step;
}

export function accuracyChart(canvas: HTMLCanvasElement, view: RunView, subset: Subset, t: Theme, onPick: (p: AccuracyPick) => void): Chart<'line', AccuracyDatum[]> {
  const series = view.series.filter((s) => s.subset === subset);
  const tagged = new Set(view.series.map((s) => s.role)).size > 1 || view.bands.some((b) => b.role === 'compare');
  const datasets: ChartDataset<'line', AccuracyDatum[]>[] = series.map((s, i) => {
    const color = t.palette[s.colorIndex % t.palette.length]!;
    const compare = s.role === 'compare';
    const control = s.setting.kind === 'random-direction';
    const stroke = css(color, compare ? 0.7 : 1);
    return {
      label: s.label,
      data: s.points.map((p) => ({ x: p.slot + dodge(i, series.length), y: p.accuracy, lo: p.lo, hi: p.hi, point: p })),
      borderColor: stroke,
      backgroundColor: stroke,
      pointBackgroundColor: compare ? css(t.background) : stroke,
      pointBorderColor: stroke,
      // A result that is mostly unparsed answers is drawn as a cross: its accuracy is not one.
      pointStyle: s.points.map((p) => (mostlyUnparsed(p) ? 'crossRot' : compare ? 'triangle' : control ? 'rectRot' : 'circle')),
      pointRadius: s.points.map((p) => (mostlyUnparsed(p) ? 6 : compare ? 4 : 3)),
      pointHoverRadius: 6,
      borderWidth: control ? 1.5 : 2,
      borderDash: control ? [6, 4] : [],
      tension: 0,
    };
  });
  const bands: BandSpec[] = view.bands
    .filter((b) => b.subset === subset)
    .map((b) => ({
      label: `${tagged ? `${ROLE_TAG[b.role]}: ` : ''}baseline ${pct(b.accuracy)} (${b.correct}/${b.total})${mostlyUnparsed(b) ? ` ⚠ ${b.unparsed} unparsed` : ''}`,
      lo: b.lo,
      hi: b.hi,
      value: b.accuracy,
      fill: css(t.foreground, 0.1),
      line: css(t.foreground, b.role === 'compare' ? 0.55 : 0.75),
      outline: b.role === 'compare',
      meta: b,
    }));

  const base = baseOptions<'line'>(t);
  const chart: Chart<'line', AccuracyDatum[]> = new Chart(canvas, {
    type: 'line',
    data: { datasets },
    options: {
      ...base,
      parsing: false,
      normalized: true,
      interaction: { mode: 'nearest', intersect: false, axis: 'xy' },
      scales: {
        x: slotAxis(view.slots.map((s) => s.label), 'layer (block edited)', t),
        y: {
          type: 'linear',
          min: 0,
          max: 1,
          grid: { color: css(t.grid) },
          border: { color: css(t.grid) },
          title: { display: true, text: `${subsetTitle(subset).toLowerCase()} accuracy`, color: css(t.muted) },
          ticks: { color: css(t.foreground), callback: (v) => pct(Number(v), 0) },
        },
      },
      plugins: {
        ...base.plugins,
        layerlabBands: { bands, textColor: css(t.muted), font: font(t, -2), haloColor: css(t.background) },
        layerlabErrorBars: { capWidth: 4, lineWidth: 1.25 },
        legend: {
          ...base.plugins!.legend,
          labels: {
            ...base.plugins!.legend!.labels,
            generateLabels: (c: Chart) => [...Chart.defaults.plugins.legend.labels.generateLabels(c), ...bandLegendItems(c)],
          },
          onClick: (_e, item: LegendItem, legend) => {
            const c = legend.chart;
            if (item.datasetIndex !== undefined) {
              c.setDatasetVisibility(item.datasetIndex, !c.isDatasetVisible(item.datasetIndex));
            } else if (item.index !== undefined && item.index >= 1000) {
              const b = bands[item.index - 1000]!;
              b.hidden = !b.hidden;
            }
            c.update();
          },
        },
        tooltip: {
          ...base.plugins!.tooltip,
          callbacks: {
            title: (items: TooltipItem<'line'>[]) => {
              const p = (items[0]?.raw as AccuracyDatum | undefined)?.point;
              return p ? `${p.layers.length > 1 ? 'blocks' : 'layer'} ${p.layerLabel}` : '';
            },
            label: (item: TooltipItem<'line'>) => {
              const p = (item.raw as AccuracyDatum).point;
              return `${item.dataset.label}: ${pct(p.accuracy)} (${p.correct}/${p.total})${p.complete ? '' : ' — partial'}`;
            },
            afterLabel: (item: TooltipItem<'line'>) => {
              const p = (item.raw as AccuracyDatum).point;
              return [
                `95% CI ${pct(p.lo)}–${pct(p.hi)}`,
                `unparsed: ${p.unparsed}${mostlyUnparsed(p) ? ' — mostly unparsed: counted wrong, not a measured accuracy' : ''}`,
                `click: list the ${p.total} items`,
              ];
            },
          },
        },
      },
      onClick: (e, elements, c) => {
        const el = elements[0];
        if (el) {
          const d = c.data.datasets[el.datasetIndex]!.data[el.index] as unknown as AccuracyDatum;
          const px = c.getDatasetMeta(el.datasetIndex).data[el.index]!;
          // "nearest" always finds a point; a click far from every point is about the band.
          if (e.x !== null && e.y !== null && Math.hypot(px.x - e.x, px.y - e.y) <= 24) {
            onPick({ kind: 'point', point: d.point });
            return;
          }
        }
        if (e.y === null) return;
        const v = c.scales.y!.getValueForPixel(e.y)!;
        const hit = bands.filter((b) => !b.hidden && v >= b.lo && v <= b.hi).sort((a, b) => Math.abs(a.value - v) - Math.abs(b.value - v))[0];
        if (hit) onPick({ kind: 'band', band: hit.meta as BaselineBand });
      },
    },
  });
  return chart;
}
