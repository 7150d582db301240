/**
 * Chart.js, registered with only the parts LayerLab draws (tree-shaken bundle), themed from VS
 * Code's variables, plus LayerLab's plugins.
 */
import {
  BarController,
  BarElement,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
  type ChartOptions,
  type ChartType,
} from 'chart.js';
import { css, type Theme } from '../theme';
import { backgroundPlugin, bandsPlugin, colorScalePlugin, errorBarsPlugin, matrixPlugin } from './plugins';

Chart.register(LineController, LineElement, PointElement, ScatterController, BarController, BarElement, LinearScale, Tooltip, Legend);
// Order matters for the ones drawing before datasets: bands first, error bars above them.
Chart.register(backgroundPlugin, bandsPlugin, errorBarsPlugin, matrixPlugin, colorScalePlugin);

// The chart class, reachable from the page's window: the webview is LayerLab's own iframe, and
// tests (and a developer in the webview devtools) read chart instances back with
// `LayerLabChart.getChart(canvas)` to check what was drawn against the files.
(window as unknown as { LayerLabChart: typeof Chart }).LayerLabChart = Chart;

export { Chart };

export function applyThemeDefaults(t: Theme): void {
  Chart.defaults.color = css(t.foreground);
  Chart.defaults.borderColor = css(t.grid);
  Chart.defaults.font.family = t.fontFamily;
  Chart.defaults.font.size = t.fontSize - 1;
  // Deterministic frames: numbers are read, not watched, and a sweep can hold many points.
  Chart.defaults.animation = false;
}

export function font(t: Theme, delta = -1): string {
  return `${t.fontSize + delta}px ${t.fontFamily}`;
}

/** Options every LayerLab chart shares: sized by its box, theme background, themed tooltip. */
export function baseOptions<T extends ChartType>(t: Theme): ChartOptions<T> {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: {
      layerlabBackground: { color: css(t.background) },
      legend: { position: 'bottom', labels: { color: css(t.foreground), usePointStyle: true, boxHeight: 8 } },
      tooltip: {
        backgroundColor: css(t.background, 0.95),
        titleColor: css(t.foreground),
        bodyColor: css(t.foreground),
        borderColor: css(t.grid, 1),
        borderWidth: 1,
      },
    },
  } as ChartOptions<T>;
}

/**
 * Integer ticks at slot positions, labelled with the slot's layer label. `autoSkip` thins the
 * labels when they would overlap (a 132-block sweep); axes whose every label matters (the
 * heatmap's settings) turn it off.
 */
export function slotAxis(labels: string[], title: string, t: Theme, autoSkip = true) {
  return {
    type: 'linear' as const,
    min: -0.5,
    max: Math.max(0.5, labels.length - 0.5),
    grid: { color: css(t.grid), drawTicks: false },
    border: { color: css(t.grid) },
    title: { display: true, text: title, color: css(t.muted) },
    afterBuildTicks: (axis: { ticks: { value: number }[] }) => {
      axis.ticks = labels.map((_, i) => ({ value: i }));
    },
    ticks: {
      color: css(t.foreground),
      autoSkip,
      maxRotation: 0,
      callback: (v: string | number) => labels[Number(v)] ?? '',
    },
  };
}
