/**
 * The direction-quality page in headless Chromium, hosted by the real extension code, drawing
 * the statistics file compute-directions wrote for the demo model's cache. Expected numbers are
 * read from that file (per-layer statistics, per-record projections).
 */
import './vscodeStub';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChartPanels, type DirectionChartPanel } from '../../extension/chartPanel';
import type { DirectionStatsFile, Subset } from '../../runtime/protocol/results';
import { CHART_VIEW_TYPES, type DirectionsPageState } from '../../runtime/protocol/webview';
import { tmpDir } from '../helpers/tmp';
import { buildBundles, choose, chromiumSkip, inPage, OUTPUT_DIR, POINT_POSITION, READ_CHART, ROOT, waitForChart, waitUntil, WebviewHarness, type PageSession, type PostedMessage } from './harness';
import { prepareDemo } from './realRuns';
import { fakeContext, stub, Uri, window as stubWindow, type FakePanel } from './vscodeStub';

interface MetricDatum {
  x: number;
  y: number;
  point: { hook: string; block: number; value: number; n: number };
  series: { split: 'train' | 'heldOut'; metric: 'auc' | 'cohensD' | 'pearsonR' };
}
interface HistDatum {
  x: number;
  y: number;
  binLow: number;
  binHigh: number;
}
interface Drawn<D> {
  datasets: { label: string; data: D[]; borderDash: number[] }[];
  xTicks: { value: number; label: string }[];
  canvas: { width: number; height: number };
}

const METRIC_CHARTS = { auc: 'direction-auc', cohensD: 'direction-cohens-d', pearsonR: 'direction-pearson-r' } as const;
const ctx = fakeContext(ROOT);
let h: WebviewHarness;
let charts: ChartPanels;
let statsFile: string;
let stats: DirectionStatsFile;
let scratch: string;

const drawn = <D>(s: PageSession, id: string) => inPage<Drawn<D> | null>(s.page, READ_CHART, id);

async function show(theme: 'dark' | 'light' = 'dark', state?: unknown): Promise<{ panel: DirectionChartPanel; s: PageSession }> {
  const panel = await charts.openDirectionChart(statsFile);
  const s = await h.open(panel.panel as unknown as FakePanel, { theme, state });
  await waitForChart(s.page, 'projection-histogram');
  return { panel, s };
}

/** Counts of the file's projections in each drawn bin, per label (the last bin holds its right edge). */
function expectedCounts(hook: string, split: 'all' | 'train' | 'heldout', bins: HistDatum[]): Record<Subset, number[]> {
  const values = stats.projections[hook]!.filter((p) => split === 'all' || p.split === split);
  const out = { reasoning: [] as number[], memorization: [] as number[] };
  for (const subset of ['reasoning', 'memorization'] as const) {
    out[subset] = bins.map((b, i) => values.filter((p) => p.subset === subset && p.value >= b.binLow && (p.value < b.binHigh || (i === bins.length - 1 && p.value <= b.binHigh))).length);
  }
  return out;
}

async function checkHistogram(s: PageSession, hook: string, split: 'all' | 'train' | 'heldout'): Promise<void> {
  const c = (await drawn<HistDatum>(s, 'projection-histogram'))!;
  const [r, m] = c.datasets;
  assert.match(r!.label, /^reasoning/);
  assert.match(m!.label, /^memorization/);
  const bins = r!.data;
  for (let i = 1; i < bins.length; i++) assert.equal(bins[i]!.binLow, bins[i - 1]!.binHigh, 'bins are contiguous');
  const values = stats.projections[hook]!.filter((p) => split === 'all' || p.split === split);
  assert.equal(bins[0]!.binLow, Math.min(...values.map((p) => p.value)));
  assert.equal(bins.at(-1)!.binHigh, Math.max(...values.map((p) => p.value)));
  const want = expectedCounts(hook, split, bins);
  assert.deepEqual(r!.data.map((d) => d.y), want.reasoning);
  assert.deepEqual(m!.data.map((d) => d.y), want.memorization);
  for (const subset of ['reasoning', 'memorization'] as const) {
    assert.equal(want[subset].reduce((a, b) => a + b, 0), values.filter((p) => p.subset === subset).length, `every ${subset} record is counted once`);
  }
}

describe('direction chart page (headless Chromium, compute-directions on the demo model)', { skip: chromiumSkip }, () => {
  before(async () => {
    buildBundles();
    scratch = tmpDir('layerlab-webview-dir-');
    statsFile = prepareDemo(scratch, 'demo-a', 0).stats;
    stats = JSON.parse(fs.readFileSync(statsFile, 'utf8')) as DirectionStatsFile;
    charts = new ChartPanels(ctx as never, { log: () => undefined });
    charts.register();
    h = await WebviewHarness.start();
    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  });

  after(async () => {
    for (const p of charts.panels()) p.dispose();
    await h?.close();
  });

  it('draws AUC, Cohen\u2019s d and Pearson r per layer, train solid and held-out dashed, from the statistics file', async () => {
    const { panel, s } = await show();
    try {
      for (const [metric, id] of Object.entries(METRIC_CHARTS) as [keyof typeof METRIC_CHARTS, string][]) {
        const present = stats.layers.some((l) => Number.isFinite(l.train[metric] as number));
        const c = await drawn<MetricDatum>(s, id);
        if (!present) {
          assert.equal(c, null, `${metric}: no chart without values`);
          continue;
        }
        assert.ok(c, `${metric} is drawn`);
        let n = 0;
        for (const ds of c.datasets) {
          const split = ds.data[0]!.series.split;
          assert.equal(ds.borderDash.length > 0, split === 'heldOut', `${ds.label}: dashed exactly for held-out`);
          for (const d of ds.data) {
            const layer = stats.layers.find((l) => l.hook === d.point.hook)!;
            const st = split === 'train' ? layer.train : layer.heldOut!;
            assert.equal(d.y, st[metric], `${metric} ${split} at ${layer.hook}`);
            assert.equal(d.point.n, st.n);
            assert.equal(c.xTicks.find((t) => t.value === d.x)?.label, String(layer.block));
            n++;
          }
        }
        const expected = stats.layers.reduce((k, l) => k + [l.train, l.heldOut].filter((x) => x && Number.isFinite(x[metric] as number)).length, 0);
        assert.equal(n, expected, `${metric}: a point per layer and split`);
      }
      assert.deepEqual(s.problems(), []);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('histograms the projections of the chosen layer by label; a click on a layer and the records filter change it', async () => {
    const { panel, s } = await show();
    try {
      const first = await inPage<string>(s.page, `() => document.querySelector('#hist-hook').value`);
      await checkHistogram(s, first, 'all');

      // Click the AUC point of another layer.
      const target = stats.layers.find((l) => l.hook !== first)!;
      const auc = (await drawn<MetricDatum>(s, 'direction-auc'))!;
      const di = auc.datasets.findIndex((d) => d.data.some((x) => x.point.hook === target.hook));
      const pi = auc.datasets[di]!.data.findIndex((x) => x.point.hook === target.hook);
      const p = await inPage<{ x: number; y: number }>(s.page, POINT_POSITION, { id: 'direction-auc', dataset: di, index: pi });
      await s.page.mouse.click(p.x, p.y);
      await waitUntil(s.page, `(hook) => document.querySelector('#hist-hook').value === hook`, target.hook);
      await checkHistogram(s, target.hook, 'all');

      await choose(s.page, 'hist-split', 'held-out');
      await waitUntil(s.page, `() => document.querySelector('#hist-split').value === 'heldout'`);
      await checkHistogram(s, target.hook, 'heldout');
      assert.equal(s.lastState<DirectionsPageState>().ui.split, 'heldout');
      assert.equal(s.lastState<DirectionsPageState>().ui.hook, target.hook);
      assert.deepEqual(s.problems(), []);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('exports the histogram\u2019s data as CSV and the AUC chart as PNG through the host', async () => {
    const { panel, s } = await show();
    try {
      stub.saveAnswers.push(Uri.file(path.join(scratch, 'hist.csv')));
      const n = s.posted.length;
      await s.page.locator('[data-chart="projection-histogram"] [data-action="csv"]').click();
      const csv = await s.waitFor<PostedMessage & { content: string; fileName: string }>((m) => m.type === 'save', 10_000, n);
      assert.equal(csv.fileName, `${path.basename(statsFile, '.json')}.projection-histogram.csv`);
      const lines = csv.content.trim().split('\r\n').map((l) => l.split(','));
      assert.deepEqual(lines[0], ['hook', 'bin_low', 'bin_high', 'reasoning', 'memorization']);
      const c = (await drawn<HistDatum>(s, 'projection-histogram'))!;
      assert.deepEqual(
        lines.slice(1).map((l) => [Number(l[1]), Number(l[2]), Number(l[3]), Number(l[4])]),
        c.datasets[0]!.data.map((d, i) => [d.binLow, d.binHigh, d.y, c.datasets[1]!.data[i]!.y]),
      );
      await waitUntil(s.page, `() => (document.querySelector('[data-chart="projection-histogram"] .card-status').textContent || '').startsWith('Saved ')`);
      assert.equal(fs.readFileSync(path.join(scratch, 'hist.csv'), 'utf8'), csv.content);

      stub.saveAnswers.push(Uri.file(path.join(scratch, 'auc.png')));
      const n2 = s.posted.length;
      await s.page.locator('[data-chart="direction-auc"] [data-action="png"]').click();
      const png = await s.waitFor<PostedMessage & { content: string }>((m) => m.type === 'save', 10_000, n2);
      const bytes = Buffer.from(png.content, 'base64');
      assert.equal(bytes.readUInt32BE(0), 0x89504e47);
      const auc = (await drawn<MetricDatum>(s, 'direction-auc'))!;
      assert.deepEqual({ width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) }, auc.canvas);
      await waitUntil(s.page, `() => (document.querySelector('[data-chart="direction-auc"] .card-status').textContent || '').startsWith('Saved ')`);
      assert.deepEqual(fs.readFileSync(path.join(scratch, 'auc.png')), bytes);
      assert.deepEqual(s.problems(), []);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('a reload restores the chosen layer and records filter; screenshots in dark and light', async () => {
    const { panel, s } = await show();
    let restored: PageSession | undefined;
    try {
      const hooks = stats.layers.map((l) => l.hook);
      const target = hooks[hooks.length - 1]!;
      await choose(s.page, 'hist-hook', target);
      await waitUntil(s.page, `(hook) => document.querySelector('#hist-hook').value === hook`, target);
      await choose(s.page, 'hist-split', 'train');
      await waitUntil(s.page, `() => document.querySelector('#hist-split').value === 'train'`);
      const state = s.lastState<DirectionsPageState>();
      assert.deepEqual([state.statsPath, state.ui.hook, state.ui.split], [statsFile, target, 'train']);
      await s.close();
      panel.dispose();

      const fresh = stubWindow.createWebviewPanel(CHART_VIEW_TYPES.directions, 'Directions', {}, {});
      await stub.serializers.get(CHART_VIEW_TYPES.directions)!.deserializeWebviewPanel(fresh, state);
      restored = await h.open(fresh, { theme: 'dark', state });
      await waitForChart(restored.page, 'projection-histogram');
      assert.equal(await inPage(restored.page, `() => document.querySelector('#hist-hook').value`), target);
      assert.equal(await inPage(restored.page, `() => document.querySelector('#hist-split').value`), 'train');
      await checkHistogram(restored, target, 'train');

      for (const theme of ['dark', 'light'] as const) {
        if (theme === 'light') {
          await restored.setTheme('light');
          await waitUntil(restored.page, `() => document.body.classList.contains('vscode-light')`);
        }
        for (const id of [...Object.values(METRIC_CHARTS), 'projection-histogram']) {
          if (!(await restored.page.locator(`[data-chart="${id}"]`).count())) continue;
          await restored.page.locator(`[data-chart="${id}"]`).screenshot({ path: path.join(OUTPUT_DIR, `directions-${id.replace(/^direction-/, '')}-${theme}.png`) });
        }
        await restored.page.screenshot({ path: path.join(OUTPUT_DIR, `directions-page-${theme}.png`), fullPage: true });
      }
      assert.deepEqual(restored.problems(), []);
    } finally {
      await restored?.close();
      for (const p of charts.panels()) p.dispose();
    }
  });
});
