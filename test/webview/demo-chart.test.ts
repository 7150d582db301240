/**
 * The demo's chart, as "Run Demo" opens it: the demo pipeline on the model organism in a fresh
 * workspace, its sweep drawn by the run chart page in headless Chromium. The picture at the top of
 * the README is this test's screenshot (`LAYERLAB_README_IMAGES=1` writes it to docs/; it always
 * goes to test-output/webview/).
 */
import './vscodeStub';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChartPanels } from '../../extension/chartPanel';
import { demoPaths, runDemoPipeline, writeDemoInputs } from '../../runtime/demo';
import type { DemoSummary } from '../../runtime/demoSummary';
import { openModel } from '../../runtime/openModel';
import type { RunFile } from '../../runtime/protocol/results';
import { tmpDir } from '../helpers/tmp';
import { buildBundles, chromiumSkip, inPage, OUTPUT_DIR, READ_CHART, ROOT, waitForChart, WebviewHarness } from './harness';
import { fakeContext, type FakePanel } from './vscodeStub';

export const README_IMAGE = path.join(ROOT, 'docs', 'demo-chart.png');

interface Drawn {
  datasets: { label: string; data: { y: number; lo: number; hi: number; point: { interventionId: string } }[]; borderDash: number[] }[];
  bands: { lo: number; hi: number; value: number }[];
}

describe('the demo\u2019s chart (organism sweep in headless Chromium)', { skip: chromiumSkip }, () => {
  let h: WebviewHarness;
  let runFile: string;
  let run: RunFile;
  let summary: DemoSummary;
  let charts: ChartPanels;
  const ctx = fakeContext(ROOT);

  before(async () => {
    buildBundles();
    const ws = tmpDir('layerlab-demo-chart-');
    const p = demoPaths({ modelsPath: path.join(ws, 'models'), datasetsPath: path.join(ws, 'datasets'), outputPath: path.join(ws, 'output') });
    writeDemoInputs(p);
    const opened = await openModel(p.modelDir, { provider: 'cpu', graphCacheDir: path.join(ws, 'graphs') });
    try {
      const r = await runDemoPipeline(opened, p, { step: () => {}, log: () => {} });
      runFile = r.runFile;
      summary = r.summary;
    } finally {
      await opened.model.release();
    }
    run = JSON.parse(fs.readFileSync(runFile, 'utf8')) as RunFile;
    charts = new ChartPanels(ctx as never, { log: () => {}, listRuns: async () => [runFile] });
    charts.register();
    h = await WebviewHarness.start();
    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  });

  after(async () => {
    for (const p of charts.panels()) p.dispose();
    await h?.close();
  });

  it('draws the headline effect outside the baseline band and its random control inside it; screenshot for the README', async () => {
    const panel = await charts.openRunChart(runFile);
    const s = await h.open(panel.panel as unknown as FakePanel, { theme: 'light', width: 1100, height: 900 });
    try {
      const head = summary.headline!;
      assert.ok(head, 'the demo found an effect');
      const chartId = `accuracy-${head.subset}`;
      await waitForChart(s.page, chartId);
      const c = (await inPage<Drawn | null>(s.page, READ_CHART, chartId))!;
      const base = run.results.find((r) => r.intervention.kind === 'none')!.summary[head.subset];
      assert.deepEqual([c.bands[0]!.lo, c.bands[0]!.hi, c.bands[0]!.value], [...base.ci95, base.accuracy]);
      const point = (id: string) => c.datasets.flatMap((d) => d.data).find((d) => d.point.interventionId === id)!;
      const moved = point(head.intervention);
      assert.ok(moved, `${head.intervention} is drawn`);
      const ctl = point(head.control!.intervention);
      // Drawn exactly as the run file says.
      const summaryOf = (id: string) => run.results.find((r) => r.intervention.id === id)!.summary[head.subset];
      for (const [d, id] of [[moved, head.intervention], [ctl, head.control!.intervention]] as const) {
        assert.deepEqual([d.y, d.lo, d.hi], [summaryOf(id).accuracy, ...summaryOf(id).ci95], id);
      }
      assert.ok(moved.hi < base.accuracy || moved.lo > base.accuracy, 'its error bar does not reach the baseline');
      assert.ok(ctl.lo <= base.accuracy && base.accuracy <= ctl.hi, 'the random control\u2019s bar spans the baseline');
      assert.deepEqual(s.problems(), []);

      // Both subsets' charts under the run's header: the top of the page down to the second chart.
      await waitForChart(s.page, 'accuracy-reasoning');
      await waitForChart(s.page, 'accuracy-memorization');
      const box = await s.page.locator('[data-chart="accuracy-memorization"]').boundingBox();
      assert.ok(box);
      const file = path.join(OUTPUT_DIR, 'demo-chart.png');
      await s.page.screenshot({ path: file, clip: { x: 0, y: 0, width: 1100, height: Math.ceil(box.y + box.height + 8) } });
      const png = fs.readFileSync(file);
      assert.equal(png.readUInt32BE(0), 0x89504e47, 'a PNG');
      if (process.env.LAYERLAB_README_IMAGES === '1') {
        fs.mkdirSync(path.dirname(README_IMAGE), { recursive: true });
        fs.copyFileSync(file, README_IMAGE);
      }
    } finally {
      await s.close();
      panel.dispose();
    }
  });
});
