/**
 * The direction page: how well each layer's difference-of-means direction separates reasoning
 * from memorization records (AUC, Cohen's d, Pearson r with the score; train and held-out), and
 * the projections at a chosen layer as a histogram split by label.
 */
import type { ChartId, DirectionsPageState, DirectionsUiState, LoadedDirections } from '../../runtime/protocol/webview';
import { histogramChart, metricChart } from '../charts/directions';
import { buildDirectionView, defaultHook, histogramTable, metricTable, METRIC_TITLES, projectionHistogram, type Metric, type ProjectionSplit } from '../model/directions';
import { readTheme } from '../theme';
import { ChartCard, type CardContext } from '../ui/chartCard';
import { clear, h, select } from '../ui/dom';
import type { HostChannel } from '../vscodeApi';

const METRIC_CHART: Record<Metric, ChartId> = { auc: 'direction-auc', cohensD: 'direction-cohens-d', pearsonR: 'direction-pearson-r' };

export function defaultDirectionsUi(): DirectionsUiState {
  return { hook: null, split: 'all', tables: [] };
}

export class DirectionsPage {
  private loaded: LoadedDirections | null = null;
  private ui: DirectionsUiState;
  private readonly cards = new Map<ChartId, ChartCard>();
  private readonly header = h('header', { class: 'page-header' });
  private readonly metrics = h('div', { class: 'card-grid' });
  private readonly histogram = h('div', { class: 'card-grid single' });

  constructor(
    root: HTMLElement,
    private readonly channel: HostChannel,
    saved: DirectionsPageState | undefined,
  ) {
    this.ui = saved?.page === 'directions' ? { ...defaultDirectionsUi(), ...saved.ui } : defaultDirectionsUi();
    clear(root);
    root.append(this.header, this.metrics, this.histogram);
  }

  show(d: LoadedDirections): void {
    if (this.loaded && this.loaded.path !== d.path) this.ui.hook = null;
    this.loaded = d;
    if (!this.ui.hook || !d.stats.projections[this.ui.hook]) this.ui.hook = defaultHook(d.stats);
    this.persist();
    this.render();
  }

  render(): void {
    if (!this.loaded) return;
    const { stats, name, path } = this.loaded;
    const t = readTheme();
    clear(this.header);
    const heldOut = stats.layers.find((l) => l.heldOut)?.heldOut?.n;
    this.header.append(
      h('h1', {}, `Directions: ${name}`),
      h(
        'p',
        { class: 'meta' },
        `data ${stats.cache.dataName} · ${stats.layers.length} hook points · held out ${Math.round(stats.holdout.fraction * 100)}% (seed ${stats.holdout.seed})${heldOut ? `, ${heldOut} records` : ''}`,
      ),
      h('p', { class: 'meta path' }, path),
    );

    const view = buildDirectionView(stats);
    clear(this.metrics);
    for (const metric of view.metrics) {
      const c = this.card(METRIC_CHART[metric], `${METRIC_TITLES[metric]} per layer`, 'Solid: records the direction was computed from (train). Dashed: held-out records. Click a point for its histogram.', this.metrics);
      c.chart = metricChart(c.canvas, view, metric, t, (p) => {
        this.ui.hook = p.hook;
        this.persist();
        this.renderHistogram();
      });
      c.setTable(metricTable(view, metric));
    }
    if (view.metrics.length === 0) this.metrics.append(h('p', { class: 'hint' }, 'This file has no per-layer statistics.'));
    this.renderHistogram();
  }

  private renderHistogram(): void {
    const { stats } = this.loaded!;
    const t = readTheme();
    clear(this.histogram);
    const hooks = Object.keys(stats.projections);
    const c = this.card('projection-histogram', 'Projections at one layer, by label', 'Each record\u2019s hidden state projected on the layer\u2019s unit direction (x·d̂), reasoning against memorization.', this.histogram);
    if (hooks.length === 0 || !this.ui.hook) {
      c.setNote('This file has no projections.');
      c.canvas.parentElement!.hidden = true;
      return;
    }
    const order = new Map(stats.layers.map((l, i) => [l.hook, i]));
    hooks.sort((a, b) => (order.get(a) ?? 1e9) - (order.get(b) ?? 1e9) || a.localeCompare(b));
    c.controls.append(
      select('hist-hook', 'Layer', hooks.map((x) => ({ value: x, label: x })), this.ui.hook, (v) => {
        this.ui.hook = v;
        this.persist();
        this.renderHistogram();
      }),
      select(
        'hist-split',
        'Records',
        [
          { value: 'all', label: 'all' },
          { value: 'train', label: 'train' },
          { value: 'heldout', label: 'held-out' },
        ],
        this.ui.split,
        (v) => {
          this.ui.split = v as ProjectionSplit;
          this.persist();
          this.renderHistogram();
        },
      ),
    );
    const hist = projectionHistogram(stats, this.ui.hook, this.ui.split);
    const layer = stats.layers.find((l) => l.hook === this.ui.hook);
    if (hist.edges.length === 0) {
      c.setNote(`No ${this.ui.split === 'all' ? '' : `${this.ui.split} `}records at ${this.ui.hook}.`);
      c.canvas.parentElement!.hidden = true;
      return;
    }
    c.chart = histogramChart(c.canvas, hist, t);
    c.setTable(histogramTable(hist));
    if (layer) {
      const f = (x: number | null | undefined) => (x === undefined || x === null || !Number.isFinite(x) ? '—' : x.toFixed(3));
      c.setNote(`${layer.hook}: train AUC ${f(layer.train.auc)}, d ${f(layer.train.cohensD)}; held-out AUC ${f(layer.heldOut?.auc)}, d ${f(layer.heldOut?.cohensD)}.`);
    }
  }

  private card(id: ChartId, title: string, description: string, parent: HTMLElement): ChartCard {
    this.cards.get(id)?.chart?.destroy();
    const ctx: CardContext = {
      channel: this.channel,
      exportStem: () => (this.loaded?.path.split(/[\\/]/).pop() ?? 'directions').replace(/\.json$/i, ''),
      tableShown: (x) => this.ui.tables.includes(x),
      setTableShown: (x, shown) => {
        this.ui.tables = shown ? [...new Set([...this.ui.tables, x])] : this.ui.tables.filter((y) => y !== x);
        this.persist();
      },
    };
    const c = new ChartCard(id, title, ctx, description);
    this.cards.set(id, c);
    parent.append(c.root);
    return c;
  }

  private persist(): void {
    if (this.loaded) this.channel.setState({ page: 'directions', statsPath: this.loaded.path, ui: this.ui });
  }
}
