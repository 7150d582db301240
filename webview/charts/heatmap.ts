/**
 * The sweep matrix for one subset: layer × setting (scale/α) → accuracy change versus the
 * baseline, in a diverging scale centred at zero (theme background at 0, the theme's red below,
 * blue above). Drawn by the matrix plugin; an invisible scatter point at each cell centre gives
 * Chart.js's hover and click (the nearest centre of a rectangular grid is the cell under the
 * pointer).
 */
import type { TooltipItem } from 'chart.js';
import { diverging, readableOn, toCss } from '../model/color';
import { pct, pts, subsetTitle, type HeatCell, type Heatmap } from '../model/run';
import { css, type Theme } from '../theme';
import type { MatrixCell } from './plugins';
import { baseOptions, Chart, font, slotAxis } from './setup';

export interface HeatDatum {
  x: number;
  y: number;
  cell: HeatCell;
}

export function cellColor(delta: number, domain: number, t: Theme): string {
  return toCss(diverging(delta, domain, t.background, t.negative, t.positive));
}

/** Pixel height that gives each setting row a readable cell. */
export function heatmapHeight(h: Heatmap): number {
  return Math.max(180, 90 + h.rows.length * 34);
}

export function heatmapChart(canvas: HTMLCanvasElement, h: Heatmap, domain: number, t: Theme, onPick: (c: HeatCell) => void): Chart<'scatter', HeatDatum[]> {
  const cells: MatrixCell[] = h.cells.map((c) => {
    const fill = diverging(c.delta, domain, t.background, t.negative, t.positive);
    return { col: c.col, row: c.row, color: toCss(fill), text: pts(c.delta, 1).replace(' pts', ''), textColor: toCss(readableOn(fill, [t.foreground, t.background])) };
  });
  const base = baseOptions<'scatter'>(t);
  const rowLabels = h.rows.map((r) => r.label);
  return new Chart<'scatter', HeatDatum[]>(canvas, {
    type: 'scatter',
    data: {
      datasets: [
        {
          label: `${subsetTitle(h.subset)}: change vs baseline`,
          data: h.cells.map((c) => ({ x: c.col, y: c.row, cell: c })),
          pointRadius: 0,
          pointHoverRadius: 0,
          backgroundColor: 'transparent',
          borderColor: css(t.foreground),
        },
      ],
    },
    options: {
      ...base,
      parsing: false,
      layout: { padding: { right: 86, top: 8 } },
      interaction: { mode: 'nearest', intersect: false, axis: 'xy' },
      scales: {
        x: { ...slotAxis(h.cols.map((c) => c.label), 'layer (block edited)', t), grid: { display: false } },
        y: {
          ...slotAxis(rowLabels, 'setting', t, false),
          reverse: true,
          grid: { display: false },
        },
      },
      plugins: {
        ...base.plugins,
        legend: { display: false },
        layerlabMatrix: { cells, gridColor: css(t.grid, 0.25), font: font(t, -2) },
        layerlabColorScale: {
          stops: [-1, -0.5, 0, 0.5, 1].map((f) => cellColor(f * domain, domain, t)),
          labels: [pts(-domain, 0), '0', pts(domain, 0)],
          title: 'Δ accuracy',
          textColor: css(t.foreground),
          font: font(t, -2),
        },
        tooltip: {
          ...base.plugins!.tooltip,
          callbacks: {
            title: (items: TooltipItem<'scatter'>[]) => {
              const c = (items[0]?.raw as HeatDatum | undefined)?.cell;
              return c ? `layer ${c.layerLabel} · ${c.settingLabel}` : '';
            },
            label: (item: TooltipItem<'scatter'>) => {
              const c = (item.raw as HeatDatum).cell;
              return `Δ ${pts(c.delta)}: ${pct(c.accuracy)} (${c.correct}/${c.total}) vs baseline ${pct(c.baseline)} (${c.baselineCorrect}/${c.baselineTotal})`;
            },
            afterLabel: (item: TooltipItem<'scatter'>) => `unparsed: ${(item.raw as HeatDatum).cell.unparsed}`,
          },
        },
      },
      onClick: (_e, elements, c) => {
        const el = elements[0];
        if (el) onPick((c.data.datasets[el.datasetIndex]!.data[el.index] as unknown as HeatDatum).cell);
      },
    },
  });
}
