/**
 * The probing pages' charts, drawn like the sweep matrix (heatmap.ts): coloured cells by the
 * matrix plugin, an invisible point at each cell centre for Chart.js's hover, and a colour-scale
 * legend. The logit lens colours each layer × position cell by the probability of its top token
 * (the theme background at 0, the theme's blue at 1); the projection matrix colours each layer ×
 * token cell by x·d̂ on the diverging scale of that layer (red negative, blue positive). The KL
 * chart is one bar per token of the unsteered continuation.
 */
import type { TooltipItem } from 'chart.js';
import { diverging, mix, readableOn, toCss } from '../model/color';
import { tokenLabel, type KlBar, type LensCell, type LensGrid } from '../model/probe';
import type { ProjectionResult } from '../../runtime/protocol/probe';
import { projectionDomain } from '../../runtime/protocol/probe';
import { css, type Theme } from '../theme';
import type { MatrixCell } from './plugins';
import { baseOptions, Chart, font, slotAxis } from './setup';

export interface LensDatum {
  x: number;
  y: number;
  cell: LensCell;
}

export function lensColor(prob: number, t: Theme): string {
  return toCss(mix(t.background, t.positive, prob));
}

/** Pixel height that gives each row a readable cell. */
export function gridHeight(rows: number): number {
  return Math.max(200, 90 + rows * 30);
}

export function lensChart(canvas: HTMLCanvasElement, g: LensGrid, t: Theme): Chart<'scatter', LensDatum[]> {
  const cells: MatrixCell[] = g.cells.map((c) => {
    const fill = mix(t.background, t.positive, c.prob);
    return { col: c.col, row: c.row, color: toCss(fill), text: c.text, textColor: toCss(readableOn(fill, [t.foreground, t.background])) };
  });
  const base = baseOptions<'scatter'>(t);
  return new Chart<'scatter', LensDatum[]>(canvas, {
    type: 'scatter',
    data: {
      datasets: [
        {
          label: 'top token',
          data: g.cells.map((c) => ({ x: c.col, y: c.row, cell: c })),
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
        x: { ...slotAxis(g.cols, 'position (prompt token)', t), grid: { display: false } },
        y: { ...slotAxis(g.rows, 'layer', t, false), reverse: true, grid: { display: false } },
      },
      plugins: {
        ...base.plugins,
        legend: { display: false },
        layerlabMatrix: { cells, gridColor: css(t.grid, 0.25), font: font(t, -2) },
        layerlabColorScale: {
          stops: [0, 0.25, 0.5, 0.75, 1].map((p) => lensColor(p, t)),
          labels: ['0', '0.5', '1'],
          title: 'p(top)',
          textColor: css(t.foreground),
          font: font(t, -2),
        },
        tooltip: {
          ...base.plugins!.tooltip,
          callbacks: {
            title: (items: TooltipItem<'scatter'>[]) => {
              const c = (items[0]?.raw as LensDatum | undefined)?.cell;
              return c ? `${g.rows[c.row]} · position ${c.col} (${g.cols[c.col]})` : '';
            },
            label: (item: TooltipItem<'scatter'>) => (item.raw as LensDatum).cell.top.map((x, k) => `${k + 1}. ${tokenLabel(x.piece)}  ${(100 * x.prob).toFixed(1)}%  (id ${x.id})`),
          },
        },
      },
    },
  });
}

export interface ProjectionDatum {
  x: number;
  y: number;
  hook: string;
  token: number;
  value: number;
}

/** Every layer × token, each layer on its own diverging scale (the page's token colours per layer). */
export function projectionMatrixChart(canvas: HTMLCanvasElement, r: ProjectionResult, t: Theme): Chart<'scatter', ProjectionDatum[]> {
  const cols = r.prompt.tokens.map((x) => tokenLabel(x.piece));
  const data: ProjectionDatum[] = [];
  const cells: MatrixCell[] = [];
  r.values.forEach((values, row) => {
    const domain = projectionDomain(values);
    values.forEach((v, col) => {
      const fill = diverging(v, domain, t.background, t.negative, t.positive);
      cells.push({ col, row, color: toCss(fill), text: v.toFixed(2), textColor: toCss(readableOn(fill, [t.foreground, t.background])) });
      data.push({ x: col, y: row, hook: r.hooks[row]!, token: col, value: v });
    });
  });
  const base = baseOptions<'scatter'>(t);
  return new Chart<'scatter', ProjectionDatum[]>(canvas, {
    type: 'scatter',
    data: { datasets: [{ label: 'x·d̂', data, pointRadius: 0, pointHoverRadius: 0, backgroundColor: 'transparent', borderColor: css(t.foreground) }] },
    options: {
      ...base,
      parsing: false,
      layout: { padding: { right: 86, top: 8 } },
      interaction: { mode: 'nearest', intersect: false, axis: 'xy' },
      scales: {
        x: { ...slotAxis(cols, 'token', t), grid: { display: false } },
        y: { ...slotAxis(r.labels, 'layer', t, false), reverse: true, grid: { display: false } },
      },
      plugins: {
        ...base.plugins,
        legend: { display: false },
        layerlabMatrix: { cells, gridColor: css(t.grid, 0.25), font: font(t, -2) },
        layerlabColorScale: {
          stops: [-1, -0.5, 0, 0.5, 1].map((f) => toCss(diverging(f, 1, t.background, t.negative, t.positive))),
          labels: ['−max', '0', '+max'],
          title: 'x·d̂ (per layer)',
          textColor: css(t.foreground),
          font: font(t, -2),
        },
        tooltip: {
          ...base.plugins!.tooltip,
          callbacks: {
            title: (items: TooltipItem<'scatter'>[]) => {
              const d = items[0]?.raw as ProjectionDatum | undefined;
              return d ? `${r.labels[d.y]} · token ${d.token} (${cols[d.token]}, id ${r.prompt.tokens[d.token]!.id})` : '';
            },
            label: (item: TooltipItem<'scatter'>) => `x·d̂ = ${(item.raw as ProjectionDatum).value.toFixed(4)}`,
          },
        },
      },
    },
  });
}

export interface KlDatum {
  x: number;
  y: number;
  bar: KlBar;
}

export function klChart(canvas: HTMLCanvasElement, bars: KlBar[], t: Theme): Chart<'bar', KlDatum[]> {
  const base = baseOptions<'bar'>(t);
  const color = t.palette[0]!;
  return new Chart<'bar', KlDatum[]>(canvas, {
    type: 'bar',
    data: {
      datasets: [{ label: 'KL(unsteered ‖ steered)', data: bars.map((b) => ({ x: b.index, y: b.kl, bar: b })), backgroundColor: css(color, 0.6), borderColor: css(color), borderWidth: 1, barPercentage: 0.9, categoryPercentage: 1 }],
    },
    options: {
      ...base,
      parsing: false,
      plugins: {
        ...base.plugins,
        legend: { display: false },
        tooltip: {
          ...base.plugins!.tooltip,
          callbacks: {
            title: (items: TooltipItem<'bar'>[]) => {
              const b = (items[0]?.raw as KlDatum | undefined)?.bar;
              return b ? `token ${b.index}: ${b.label}` : '';
            },
            label: (item: TooltipItem<'bar'>) => `KL ${(item.raw as KlDatum).y.toFixed(4)} nats`,
          },
        },
      },
      scales: {
        x: { ...slotAxis(bars.map((b) => b.label), 'unsteered continuation (token predicted)', t), offset: false },
        y: { type: 'linear', beginAtZero: true, grid: { color: css(t.grid) }, border: { color: css(t.grid) }, title: { display: true, text: 'KL, nats', color: css(t.muted) }, ticks: { color: css(t.foreground) } },
      },
    },
  });
}
