/**
 * Small Chart.js plugins for what Chart.js does not draw itself:
 *  - layerlabBackground: paints the editor background under the chart, so an exported PNG looks
 *    like the panel (a canvas is transparent by default and would export without it);
 *  - layerlabBands: horizontal reference bands (the baseline's Wilson interval and accuracy);
 *  - layerlabErrorBars: vertical Wilson intervals, read from each data point's `lo`/`hi`;
 *  - layerlabMatrix + layerlabColorScale: the sweep matrix's coloured cells and its legend.
 * Each reads its inputs from the chart's data or plugin options, so tests can read back exactly
 * what was drawn from the chart instance.
 */
import type { Chart, ChartType, LegendItem, Plugin } from 'chart.js';

export interface BandSpec {
  /** Legend text. */
  label: string;
  lo: number;
  hi: number;
  value: number;
  fill: string;
  line: string;
  /** Draw the band's outline only (the compare run's band, so two bands stay distinguishable). */
  outline?: boolean;
  hidden?: boolean;
  /** Any data the page wants back on click (the band's intervention, run, subset). */
  meta?: unknown;
}

export interface MatrixCell {
  col: number;
  row: number;
  color: string;
  text: string;
  textColor: string;
}

export interface ColorScaleOptions {
  /** Stops from bottom (−domain) to top (+domain). */
  stops: string[];
  labels: [string, string, string];
  title: string;
  textColor: string;
}

declare module 'chart.js' {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface PluginOptionsByType<TType extends ChartType> {
    layerlabBackground?: { color: string };
    layerlabBands?: { bands: BandSpec[]; textColor: string; font: string; haloColor?: string };
    layerlabErrorBars?: { capWidth: number; lineWidth: number };
    layerlabMatrix?: { cells: MatrixCell[]; gridColor: string; font: string };
    layerlabColorScale?: ColorScaleOptions & { font: string };
  }
}

export const backgroundPlugin: Plugin = {
  id: 'layerlabBackground',
  beforeDraw(chart, _args, opts: { color?: string }) {
    if (!opts?.color) return;
    const { ctx } = chart;
    ctx.save();
    ctx.globalCompositeOperation = 'destination-over';
    ctx.fillStyle = opts.color;
    ctx.fillRect(0, 0, chart.width, chart.height);
    ctx.restore();
  },
};

export const bandsPlugin: Plugin = {
  id: 'layerlabBands',
  beforeDatasetsDraw(chart, _args, opts: { bands?: BandSpec[]; textColor?: string; font?: string; haloColor?: string }) {
    const bands = opts?.bands ?? [];
    const y = chart.scales.y;
    if (!y || bands.length === 0) return;
    const { ctx, chartArea: a } = chart;
    ctx.save();
    ctx.beginPath();
    ctx.rect(a.left, a.top, a.right - a.left, a.bottom - a.top);
    ctx.clip();
    for (const b of bands) {
      if (b.hidden) continue;
      const top = y.getPixelForValue(b.hi);
      const bottom = y.getPixelForValue(b.lo);
      if (b.outline) {
        ctx.strokeStyle = b.line;
        ctx.lineWidth = 1;
        ctx.setLineDash([2, 3]);
        ctx.strokeRect(a.left, top, a.right - a.left, bottom - top);
      } else {
        ctx.fillStyle = b.fill;
        ctx.fillRect(a.left, top, a.right - a.left, bottom - top);
      }
      const mid = y.getPixelForValue(b.value);
      ctx.strokeStyle = b.line;
      ctx.lineWidth = 1.5;
      ctx.setLineDash([6, 3]);
      ctx.beginPath();
      ctx.moveTo(a.left, mid);
      ctx.lineTo(a.right, mid);
      ctx.stroke();
      ctx.setLineDash([]);
      if (opts.textColor && opts.font) {
        ctx.fillStyle = opts.textColor;
        ctx.font = opts.font;
        ctx.textAlign = 'right';
        ctx.textBaseline = 'bottom';
        // A halo in the background colour keeps the label readable over the band and grid.
        if (opts.haloColor) {
          ctx.strokeStyle = opts.haloColor;
          ctx.lineWidth = 3;
          ctx.lineJoin = 'round';
          ctx.strokeText(b.label, a.right - 4, mid - 2);
        }
        ctx.fillText(b.label, a.right - 4, mid - 2);
      }
    }
    ctx.restore();
  },
};

/** Legend entries for the bands, appended to Chart.js's own (which only knows datasets). */
export function bandLegendItems(chart: Chart): LegendItem[] {
  const bands = (chart.options.plugins?.layerlabBands?.bands ?? []) as BandSpec[];
  return bands.map((b, i) => ({
    text: b.label,
    fillStyle: b.outline ? 'transparent' : b.fill,
    strokeStyle: b.line,
    lineWidth: 1.5,
    lineDash: [6, 3],
    hidden: !!b.hidden,
    fontColor: chart.options.plugins?.layerlabBands?.textColor,
    // Not a dataset: the page's legend onClick toggles the band instead.
    datasetIndex: undefined,
    index: 1000 + i,
  }));
}

export const errorBarsPlugin: Plugin = {
  id: 'layerlabErrorBars',
  beforeDatasetsDraw(chart, _args, opts: { capWidth?: number; lineWidth?: number }) {
    const y = chart.scales.y;
    if (!y) return;
    const { ctx } = chart;
    const cap = opts?.capWidth ?? 4;
    ctx.save();
    chart.data.datasets.forEach((ds, i) => {
      if (!chart.isDatasetVisible(i)) return;
      const meta = chart.getDatasetMeta(i);
      ctx.strokeStyle = String(ds.borderColor ?? '#888');
      ctx.lineWidth = opts?.lineWidth ?? 1.25;
      ctx.setLineDash([]);
      meta.data.forEach((el, j) => {
        const raw = ds.data[j] as { lo?: unknown; hi?: unknown } | null;
        if (!raw || typeof raw.lo !== 'number' || typeof raw.hi !== 'number') return;
        const top = y.getPixelForValue(raw.hi);
        const bottom = y.getPixelForValue(raw.lo);
        ctx.beginPath();
        ctx.moveTo(el.x, top);
        ctx.lineTo(el.x, bottom);
        ctx.moveTo(el.x - cap, top);
        ctx.lineTo(el.x + cap, top);
        ctx.moveTo(el.x - cap, bottom);
        ctx.lineTo(el.x + cap, bottom);
        ctx.stroke();
      });
    });
    ctx.restore();
  },
};

export const matrixPlugin: Plugin = {
  id: 'layerlabMatrix',
  beforeDatasetsDraw(chart, _args, opts: { cells?: MatrixCell[]; gridColor?: string; font?: string }) {
    const cells = opts?.cells ?? [];
    const { x, y } = chart.scales;
    if (!x || !y || cells.length === 0) return;
    const { ctx } = chart;
    const w = Math.abs(x.getPixelForValue(1) - x.getPixelForValue(0));
    const h = Math.abs(y.getPixelForValue(1) - y.getPixelForValue(0));
    ctx.save();
    for (const c of cells) {
      const cx = x.getPixelForValue(c.col);
      const cy = y.getPixelForValue(c.row);
      ctx.fillStyle = c.color;
      ctx.fillRect(cx - w / 2 + 1, cy - h / 2 + 1, w - 2, h - 2);
      if (opts.gridColor) {
        ctx.strokeStyle = opts.gridColor;
        ctx.lineWidth = 1;
        ctx.strokeRect(cx - w / 2 + 1, cy - h / 2 + 1, w - 2, h - 2);
      }
      // Values are written in the cells when they fit: the colour alone is hard to read exactly.
      if (opts.font && w > 34 && h > 14) {
        ctx.fillStyle = c.textColor;
        ctx.font = opts.font;
        ctx.textAlign = 'center';
        ctx.textBaseline = 'middle';
        ctx.fillText(c.text, cx, cy);
      }
    }
    ctx.restore();
  },
};

/** The diverging scale's legend, drawn in the right padding the heatmap reserves for it. */
export const colorScalePlugin: Plugin = {
  id: 'layerlabColorScale',
  afterDraw(chart, _args, options) {
    const opts = options as (ColorScaleOptions & { font: string }) | undefined;
    if (!opts?.stops?.length) return;
    const { ctx, chartArea: a } = chart;
    const barX = a.right + 18;
    const barW = 12;
    const top = a.top + 22;
    const bottom = a.bottom;
    const g = ctx.createLinearGradient(0, bottom, 0, top);
    opts.stops.forEach((s, i) => g.addColorStop(i / (opts.stops.length - 1), s));
    ctx.save();
    ctx.fillStyle = g;
    ctx.fillRect(barX, top, barW, bottom - top);
    ctx.strokeStyle = opts.textColor;
    ctx.lineWidth = 0.5;
    ctx.strokeRect(barX, top, barW, bottom - top);
    ctx.fillStyle = opts.textColor;
    ctx.font = opts.font;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.fillText(opts.labels[2], barX + barW + 4, top);
    ctx.fillText(opts.labels[1], barX + barW + 4, (top + bottom) / 2);
    ctx.fillText(opts.labels[0], barX + barW + 4, bottom);
    ctx.textBaseline = 'bottom';
    ctx.fillText(opts.title, barX - 6, top - 10);
    ctx.restore();
  },
};
