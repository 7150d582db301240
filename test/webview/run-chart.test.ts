/**
 * The run chart page in headless Chromium, hosted by the real extension code, drawing run files
 * the runtime produced on the demo model (sweeps of two demo models and an evaluate run with
 * generation; see realRuns.ts). Every expected number is read from those files here.
 */
import './vscodeStub';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChartPanels, type RunChartPanel } from '../../extension/chartPanel';
import { contentSecurityPolicy } from '../../extension/webviewHost';
import type { InterventionResult, RunFile, Subset } from '../../runtime/protocol/results';
import { CHART_VIEW_TYPES, type RunPageState } from '../../runtime/protocol/webview';
import { tmpDir } from '../helpers/tmp';
import {
  buildBundles,
  choose,
  chromiumSkip,
  inPage,
  OUTPUT_DIR,
  POINT_POSITION,
  READ_CHART,
  ROOT,
  THEMES,
  TOOLTIP_LINES,
  waitForChart,
  waitUntil,
  WebviewHarness,
  type PageSession,
  type PostedMessage,
} from './harness';
import { makeRealRuns, type RealRuns } from './realRuns';
import { fakeContext, stub, Uri, window as stubWindow, type FakePanel } from './vscodeStub';

interface Datum {
  x: number;
  y: number;
  lo: number;
  hi: number;
  point: { interventionId: string; subset: Subset; correct: number; total: number; unparsed: number; layers: number[]; role: 'primary' | 'compare' };
  cell?: never;
}
interface HeatDatum {
  x: number;
  y: number;
  cell: { interventionId: string; delta: number; correct: number; total: number; col: number; row: number };
}
interface Drawn<D> {
  type: string;
  datasets: { label: string; data: D[]; borderDash: number[]; borderColor: string; pointStyle: string | string[] }[];
  bands: { lo: number; hi: number; value: number; label: string; outline?: boolean }[];
  matrix: { col: number; row: number; color: string }[];
  xTicks: { value: number; label: string }[];
  yTicks: { value: number; label: string }[];
  canvas: { width: number; height: number };
}

const SUBSETS: Subset[] = ['reasoning', 'memorization'];
const ctx = fakeContext(ROOT);
const hostLog: string[] = [];
let h: WebviewHarness;
let runs: RealRuns;
let A: RunFile;
let B: RunFile;
let E: RunFile;
let scratch: string;

const readRun = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as RunFile;

function resultOf(run: RunFile, id: string): InterventionResult {
  const r = run.results.find((x) => x.intervention.id === id);
  assert.ok(r, `no result ${id} in the run file`);
  return r;
}

function baselineOf(run: RunFile): InterventionResult {
  const r = run.results.find((x) => x.intervention.kind === 'none');
  assert.ok(r, 'the run has a baseline');
  return r;
}

let charts: ChartPanels;

async function show(file: string, theme: 'dark' | 'light' = 'dark', state?: unknown): Promise<{ panel: RunChartPanel; s: PageSession }> {
  const panel = await charts.openRunChart(file);
  const s = await h.open(panel.panel as unknown as FakePanel, { theme, state });
  await waitForChart(s.page, 'accuracy-reasoning');
  return { panel, s };
}

const drawn = <D>(s: PageSession, id: string) => inPage<Drawn<D> | null>(s.page, READ_CHART, id);

const rowIds = (s: PageSession) => inPage<string[]>(s.page, `() => [...document.querySelectorAll('#drill-table vscode-table-row')].map((r) => r.getAttribute('data-item'))`);

/** Waits until the drill-down lists exactly `ids` (in order), then checks it. */
async function expectRows(s: PageSession, ids: string[]): Promise<void> {
  try {
    await waitUntil(s.page, `(ids) => JSON.stringify([...document.querySelectorAll('#drill-table vscode-table-row')].map((r) => r.getAttribute('data-item'))) === JSON.stringify(ids)`, ids, 5000);
  } finally {
    assert.deepEqual(await rowIds(s), ids);
  }
}

async function clickPoint(s: PageSession, chart: string, dataset: number, index: number, move = false): Promise<void> {
  const p = await inPage<{ x: number; y: number }>(s.page, POINT_POSITION, { id: chart, dataset, index });
  if (move) await s.page.mouse.move(p.x, p.y);
  else await s.page.mouse.click(p.x, p.y);
}

/** The drawn datum of intervention `id` in a chart: [dataset, index, datum]. */
function locate<D extends { point: { interventionId: string; role: string } }>(c: Drawn<D>, id: string, role = 'primary'): [number, number, D] {
  for (const [i, ds] of c.datasets.entries()) {
    const j = ds.data.findIndex((d) => d.point.interventionId === id && d.point.role === role);
    if (j >= 0) return [i, j, ds.data[j]!];
  }
  assert.fail(`intervention ${id} (${role}) is not drawn`);
}

function measured(run: RunFile, layer: number, scale: number, alpha: number): InterventionResult {
  const r = run.results.find((x) => x.intervention.kind === 'direction' && x.intervention.layers.join() === String(layer) && x.intervention.scale === scale && x.intervention.alpha === alpha);
  assert.ok(r, `the sweep has post@${layer} scale=${scale} alpha=${alpha}`);
  return r;
}

function noProblems(s: PageSession): void {
  assert.deepEqual(s.problems(), [], 'no CSP violations or console errors');
}

function pngSize(bytes: Buffer): { width: number; height: number } {
  assert.equal(bytes.readUInt32BE(0), 0x89504e47, 'PNG signature');
  assert.equal(bytes.toString('ascii', 12, 16), 'IHDR');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

/** RFC 4180 CSV as the export writes it (quoted fields may hold commas, quotes, line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let f = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (q) {
      if (c === '"' && text[i + 1] === '"') (f += '"'), i++;
      else if (c === '"') q = false;
      else f += c;
    } else if (c === '"') q = true;
    else if (c === ',') row.push(f), (f = '');
    else if (c === '\r' && text[i + 1] === '\n') (row.push(f), rows.push(row), (row = []), (f = ''), i++);
    else f += c;
  }
  return rows;
}

describe('run chart page (headless Chromium, real run files from the demo model)', { skip: chromiumSkip }, () => {
  before(async () => {
    buildBundles();
    scratch = tmpDir('layerlab-webview-');
    runs = await makeRealRuns(scratch);
    A = readRun(runs.sweepA);
    B = readRun(runs.sweepB);
    E = readRun(runs.evaluateA);
    charts = new ChartPanels(ctx as never, { log: (level, m) => hostLog.push(`${level}: ${m}`), listRuns: async () => [runs.sweepA, runs.sweepB, runs.evaluateA] });
    charts.register();
    h = await WebviewHarness.start();
    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  });

  after(async () => {
    for (const p of charts.panels()) p.dispose();
    await h?.close();
  });

  it('is hosted under the strict CSP with a nonce and only dist/webview as resource root', async () => {
    const { panel, s } = await show(runs.sweepA);
    try {
      const html = panel.panel.webview.html;
      const nonce = /<script nonce="([^"]+)" src=/.exec(html)?.[1];
      assert.ok(nonce && nonce.length >= 24, 'the script carries a nonce');
      assert.ok(html.includes(`content="${contentSecurityPolicy(h.origin, nonce).replace(/'/g, '&#39;')}"`), 'the page runs under the host policy');
      assert.equal(html.match(/<script/g)?.length, 1, 'one script, no inline code');
      const roots = (panel.panel as unknown as FakePanel).webview.options.localResourceRoots!.map((u) => u.fsPath);
      assert.deepEqual(roots, [path.join(ROOT, 'dist', 'webview')]);
      // The handshake: the page said ready, then (and only then) the host sent the run.
      assert.equal(s.posted[0]?.type, 'ready');
      const sent = (panel.panel as unknown as FakePanel).webview.sent as PostedMessage[];
      assert.equal(sent[0]?.type, 'showRun');
      noProblems(s);
      // The monitor is live: an inline script (no nonce) is refused and reported.
      await inPage(s.page, `() => { const x = document.createElement('script'); x.textContent = 'window.injected = 1'; document.body.append(x); }`);
      await waitUntil(s.page, `() => window.__cspViolations.length > 0`);
      assert.equal(await inPage(s.page, `() => window.injected === undefined`), true, 'the inline script did not run');
      assert.match(s.problems()[0] ?? '', /CSP script-src/);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('draws each subset\u2019s accuracy per layer from the run file: points, Wilson bars, baseline band, dashed controls', async () => {
    const { panel, s } = await show(runs.sweepA);
    try {
      for (const subset of SUBSETS) {
        const c = (await drawn<Datum>(s, `accuracy-${subset}`))!;
        const seen: string[] = [];
        for (const ds of c.datasets) {
          const specs = ds.data.map((d) => resultOf(A, d.point.interventionId).intervention);
          // One line per setting: same kind, hook, scale and α along the line, one point per layer.
          assert.equal(new Set(specs.map((x) => JSON.stringify([x.kind, x.hook, x.scale, x.alpha, x.randomIndex ?? null]))).size, 1, ds.label);
          assert.equal(new Set(specs.map((x) => x.layers.join())).size, specs.length, `${ds.label}: one point per layer`);
          assert.equal(ds.borderDash.length > 0, specs[0]!.kind === 'random-direction', `${ds.label}: dashed exactly when it is the random control`);
          for (const d of ds.data) {
            const r = resultOf(A, d.point.interventionId);
            const a = r.summary[subset];
            assert.equal(d.y, a.accuracy);
            assert.deepEqual([d.lo, d.hi], a.ci95);
            assert.deepEqual([d.point.correct, d.point.total, d.point.unparsed], [a.correct, a.total, a.unparsed]);
            const tick = c.xTicks.find((t) => t.value === Math.round(d.x));
            assert.equal(tick?.label, r.intervention.layers.join(','), `${r.intervention.id} is drawn at its layer`);
            seen.push(r.intervention.id);
          }
        }
        const expected = A.results.filter((r) => r.intervention.kind !== 'none' && r.summary[subset].total > 0).map((r) => r.intervention.id);
        assert.deepEqual([...seen].sort(), [...expected].sort(), 'every intervention is drawn once');
        const base = baselineOf(A).summary[subset];
        assert.equal(c.bands.length, 1);
        assert.deepEqual([c.bands[0]!.lo, c.bands[0]!.hi, c.bands[0]!.value], [...base.ci95, base.accuracy]);
        assert.ok(c.bands[0]!.label.includes(`(${base.correct}/${base.total})`));
      }
      noProblems(s);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('hover shows the counts (c/n), the interval and the unparsed answers', async () => {
    const { panel, s } = await show(runs.sweepA);
    try {
      const c = (await drawn<Datum>(s, 'accuracy-memorization'))!;
      const r = measured(A, 2, 4, 0);
      const [i, j] = locate(c, r.intervention.id);
      await clickPoint(s, 'accuracy-memorization', i, j, true);
      await waitUntil(s.page, `(id) => { const c = document.querySelector('[data-chart="' + id + '"] canvas'); const t = window.LayerLabChart.getChart(c).tooltip; return !!(t && t.opacity); }`, 'accuracy-memorization');
      const tip = (await inPage<{ title: string[]; body: string[] }>(s.page, TOOLTIP_LINES, 'accuracy-memorization'))!;
      const a = r.summary.memorization;
      assert.deepEqual(tip.title, ['layer 2']);
      assert.ok(tip.body.some((l) => l.includes(`(${a.correct}/${a.total})`)), tip.body.join(' | '));
      assert.ok(tip.body.includes(`unparsed: ${a.unparsed}`), tip.body.join(' | '));
      assert.ok(tip.body.some((l) => l.startsWith('95% CI')), tip.body.join(' | '));
      noProblems(s);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('draws the sweep heatmap as the change versus the baseline, diverging around the theme background', async () => {
    const { panel, s } = await show(runs.sweepA);
    try {
      await s.page.locator('vscode-tab-header[data-tab="heatmap"]').click();
      for (const subset of SUBSETS) {
        await waitForChart(s.page, `heatmap-${subset}`);
        const c = (await drawn<HeatDatum>(s, `heatmap-${subset}`))!;
        const base = baselineOf(A).summary[subset];
        const cells = c.datasets[0]!.data;
        const expected = A.results.filter((r) => r.intervention.kind === 'direction' && r.summary[subset].total > 0);
        assert.equal(cells.length, expected.length, 'a cell per measured intervention (random controls are not in the matrix)');
        const bg = THEMES.dark.vars['--vscode-editor-background']!;
        const bgRgb = [1, 3, 5].map((k) => parseInt(bg.slice(k, k + 2), 16));
        for (const d of cells) {
          const r = resultOf(A, d.cell.interventionId);
          assert.equal(r.intervention.kind, 'direction');
          assert.ok(Math.abs(d.cell.delta - (r.summary[subset].accuracy - base.accuracy)) < 1e-12, `${r.intervention.id} Δ`);
          assert.equal(c.xTicks.find((t) => t.value === d.x)?.label, r.intervention.layers.join(','));
          const rowLabel = c.yTicks.find((t) => t.value === d.y)?.label ?? '';
          assert.ok(rowLabel.includes(`scale=${r.intervention.scale}`) && rowLabel.includes(`α=${r.intervention.alpha}`), `${r.intervention.id} row ${rowLabel}`);
          const painted = c.matrix.find((m) => m.col === d.x && m.row === d.y)!;
          const [R, , Bl] = painted.color.match(/\d+(\.\d+)?/g)!.map(Number);
          if (d.cell.delta > 0) assert.ok(Bl! > R!, `${r.intervention.id}: a gain is blue (${painted.color})`);
          else if (d.cell.delta < 0) assert.ok(R! > Bl!, `${r.intervention.id}: a loss is red (${painted.color})`);
          else assert.equal(painted.color, `rgb(${bgRgb.join(', ')})`, 'no change is the background');
        }
      }
      noProblems(s);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('drill-down: a point lists its items; the layer, answer and subset filters and a heatmap cell change them; an item opens beside its baseline', async () => {
    const { panel, s } = await show(runs.sweepA);
    try {
      const r = measured(A, 1, -4, 0);
      const c = (await drawn<Datum>(s, 'accuracy-reasoning'))!;
      const [i, j] = locate(c, r.intervention.id);
      await clickPoint(s, 'accuracy-reasoning', i, j);
      await expectRows(s, r.items.filter((x) => x.subset === 'reasoning').map((x) => x.id));
      const summary = await s.page.locator('#drill-summary').textContent();
      const n = r.items.filter((x) => x.subset === 'reasoning');
      assert.ok(summary!.includes(`${n.length} item(s), ${n.filter((x) => x.correct).length} correct`), summary!);

      // Another layer, same setting.
      await choose(s.page, 'drill-layer', 'layer 3');
      const r3 = measured(A, 3, -4, 0);
      await expectRows(s, r3.items.filter((x) => x.subset === 'reasoning').map((x) => x.id));
      await choose(s.page, 'drill-correctness', 'wrong');
      await expectRows(s, r3.items.filter((x) => x.subset === 'reasoning' && !x.correct).map((x) => x.id));
      await choose(s.page, 'drill-subset', 'all');
      await expectRows(s, r3.items.filter((x) => !x.correct).map((x) => x.id));
      await choose(s.page, 'drill-correctness', 'all');
      await expectRows(s, r3.items.map((x) => x.id));

      // An item beside its baseline.
      const item = r3.items[1]!;
      const baseItem = baselineOf(A).items.find((x) => x.id === item.id)!;
      await s.page.locator(`#drill-table vscode-table-row[data-item="${item.id}"] vscode-table-cell`).first().click();
      await s.page.locator('#item-detail').waitFor();
      assert.equal(await s.page.locator('#item-detail .intervened .parsed').textContent(), item.parsed ?? '— (unparsed)');
      assert.equal(await s.page.locator('#item-detail .baseline .parsed').textContent(), baseItem.parsed ?? '— (unparsed)');
      assert.equal(await s.page.locator('#item-detail pre.question').textContent(), item.question);
      await s.page.locator('[data-chart="accuracy-reasoning"]').scrollIntoViewIfNeeded();
      await s.page.locator('#drilldown').screenshot({ path: path.join(OUTPUT_DIR, 'run-drilldown-dark.png') });

      // The baseline is a layer choice too.
      await choose(s.page, 'drill-layer', 'no intervention (baseline)');
      await expectRows(s, baselineOf(A).items.map((x) => x.id));

      // A heatmap cell.
      await s.page.locator('vscode-tab-header[data-tab="heatmap"]').click();
      await waitForChart(s.page, 'heatmap-memorization');
      const hm = (await drawn<HeatDatum>(s, 'heatmap-memorization'))!;
      const k = hm.datasets[0]!.data.findIndex((d) => d.cell.interventionId === measured(A, 2, 4, 2).intervention.id);
      await clickPoint(s, 'heatmap-memorization', 0, k);
      await expectRows(s, measured(A, 2, 4, 2).items.filter((x) => x.subset === 'memorization').map((x) => x.id));
      noProblems(s);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('an evaluate run with generation shows each item\u2019s generated text beside its baseline generation', async () => {
    const { panel, s } = await show(runs.evaluateA);
    try {
      const r = E.results.find((x) => x.intervention.kind === 'direction')!;
      const subset: Subset = r.summary.reasoning.total > 0 ? 'reasoning' : 'memorization';
      const c = (await drawn<Datum>(s, `accuracy-${subset}`))!;
      const [i, j] = locate(c, r.intervention.id);
      await clickPoint(s, `accuracy-${subset}`, i, j);
      const items = r.items.filter((x) => x.subset === subset);
      await expectRows(s, items.map((x) => x.id));
      const item = items[0]!;
      const baseItem = baselineOf(E).items.find((x) => x.id === item.id)!;
      assert.equal(typeof item.generated, 'string', 'generate scoring records the generation');
      await s.page.locator(`#drill-table vscode-table-row[data-item="${item.id}"] vscode-table-cell`).first().click();
      await s.page.locator('#item-detail').waitFor();
      assert.equal(await s.page.locator('#item-detail .intervened pre.generated').textContent(), item.generated);
      assert.equal(await s.page.locator('#item-detail .baseline pre.generated').textContent(), baseItem.generated);
      await s.page.locator('#item-detail').screenshot({ path: path.join(OUTPUT_DIR, 'run-item-side-by-side-dark.png') });
      noProblems(s);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('overlays a second run picked through the host, and removes it', async () => {
    const { panel, s } = await show(runs.sweepA);
    try {
      let offered: string[] = [];
      stub.quickPick = (items) => {
        offered = items.map((x) => x.file ?? x.label);
        return items.find((x) => x.file === runs.sweepB);
      };
      // A's colours before the overlay, by the interventions each line draws.
      const colourOf = (c: Drawn<Datum>, role: string) =>
        new Map(c.datasets.filter((d) => d.data[0]?.point.role === role).map((d) => [d.data.map((x) => x.point.interventionId).join('|'), d.borderColor]));
      const alone = colourOf((await drawn<Datum>(s, 'accuracy-reasoning'))!, 'primary');
      await s.page.locator('#pick-compare').click();
      await waitUntil(s.page, `() => { const c = document.querySelector('[data-chart="accuracy-reasoning"] canvas'); const ch = c && window.LayerLabChart.getChart(c); return !!ch && ch.data.datasets.some((d) => d.label.startsWith('B: ')); }`);
      assert.deepEqual(colourOf((await drawn<Datum>(s, 'accuracy-reasoning'))!, 'primary'), alone, "the overlay keeps run A's colours");
      // The header says what differs: another model (demo seed 7); B swept no α, so it has half the controls.
      const diffs = await inPage<string[][]>(s.page, `() => [...document.querySelectorAll('#compare-differences tr[data-aspect]')].map((r) => [...r.children].map((c) => c.textContent))`);
      assert.deepEqual(diffs.map((d) => d[0]), ['model', 'interventions', 'random controls'], JSON.stringify(diffs));
      assert.match(diffs[0]![1]!, new RegExp(`^demo-a \\(llama, ${A.spec.model.contentHash.slice(0, 8)}\\)$`));
      assert.match(diffs[0]![2]!, new RegExp(`^demo-b \\(llama, ${B.spec.model.contentHash.slice(0, 8)}\\)$`));
      assert.match(await s.page.locator('#compare-differences').innerText(), /A and B differ in model: their accuracies measure different things/);
      assert.ok(!offered.includes(runs.sweepA) && offered.includes(runs.sweepB), 'the shown run is not offered against itself');
      assert.equal(panel.compare, runs.sweepB);
      for (const subset of SUBSETS) {
        const c = (await drawn<Datum>(s, `accuracy-${subset}`))!;
        const fromB = c.datasets.filter((d) => d.label.startsWith('B: '));
        const ids = fromB.flatMap((d) => d.data.map((x) => x.point.interventionId));
        assert.deepEqual(ids.sort(), B.results.filter((r) => r.intervention.kind !== 'none').map((r) => r.intervention.id).sort());
        for (const ds of fromB) {
          for (const d of ds.data) {
            assert.equal(d.point.role, 'compare');
            const a = resultOf(B, d.point.interventionId).summary[subset];
            assert.deepEqual([d.y, d.lo, d.hi, d.point.correct, d.point.total], [a.accuracy, ...a.ci95, a.correct, a.total]);
          }
        }
        assert.equal(c.datasets.filter((d) => d.label.startsWith('A: ')).length, c.datasets.length - fromB.length, 'run A is tagged too');
        const bandB = c.bands.find((b) => b.outline)!;
        assert.deepEqual([bandB.lo, bandB.hi, bandB.value], [...baselineOf(B).summary[subset].ci95, baselineOf(B).summary[subset].accuracy]);
      }
      await s.page.locator('[data-chart="accuracy-reasoning"]').screenshot({ path: path.join(OUTPUT_DIR, 'run-compare-accuracy-reasoning-dark.png') });

      // A compare point drills into run B's items.
      const c = (await drawn<Datum>(s, 'accuracy-reasoning'))!;
      const rb = measured(B, 0, 4, 0);
      const [i, j] = locate(c, rb.intervention.id, 'compare');
      await clickPoint(s, 'accuracy-reasoning', i, j);
      await expectRows(s, rb.items.filter((x) => x.subset === 'reasoning').map((x) => x.id));

      await s.page.locator('#clear-compare').click();
      await waitUntil(s.page, `() => { const c = document.querySelector('[data-chart="accuracy-reasoning"] canvas'); const ch = c && window.LayerLabChart.getChart(c); return !!ch && !ch.data.datasets.some((d) => d.label.startsWith('B: ')); }`);
      await waitUntil(s.page, `() => !document.querySelector('#clear-compare')`);
      assert.equal(panel.compare, null, 'the host stopped following the compared run');
      noProblems(s);
    } finally {
      stub.quickPick = null;
      await s.close();
      panel.dispose();
    }
  });

  it('a run whose answers are all unparsed is flagged, not drawn as a plain 0%: the header says why and the points are crosses', async () => {
    // The generation run with every answer made unreadable, as a model that never says "the answer is".
    const run = readRun(runs.evaluateA);
    for (const r of run.results) {
      for (const it of r.items) Object.assign(it, { parsed: null, correct: false, unparsed: true });
      for (const subset of SUBSETS) {
        const n = r.items.filter((x) => x.subset === subset).length;
        r.summary[subset] = { correct: 0, total: n, unparsed: n, accuracy: 0, ci95: [0, 0.3] };
      }
    }
    const file = path.join(scratch, 'runs', 'demo-a', 'demo.evaluate.unparsed.json');
    fs.writeFileSync(file, JSON.stringify(run));
    const { panel, s } = await show(file);
    try {
      const warning = await s.page.locator('#run-warnings li').first().innerText();
      const total = run.results.reduce((a, r) => a + r.items.length, 0);
      assert.match(warning, new RegExp(`^Mostly unparsed answers in every result: ${total} of ${total} answers had no readable answer and count as wrong`));
      assert.match(warning, /raise --max_new_tokens \(now 12\), try --lenient, or score by option log-probability \(--scoring loglik\)/);
      for (const subset of SUBSETS) {
        const c = (await drawn<Datum>(s, `accuracy-${subset}`))!;
        assert.ok(c.datasets.length > 0);
        for (const d of c.datasets) assert.deepEqual(d.pointStyle, d.data.map(() => 'crossRot'), `${d.label}: drawn as crosses`);
        assert.match(c.bands[0]!.label, /⚠ \d+ unparsed$/);
        assert.match(await s.page.locator(`[data-chart="accuracy-${subset}"] .card-note`).innerText(), /mostly unparsed answers, counted as wrong/);
      }
      await s.page.locator('.page-header').screenshot({ path: path.join(OUTPUT_DIR, 'run-unparsed-header-dark.png') });
      noProblems(s);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('exports PNG and CSV through the host\u2019s save dialog: the posted payloads are the chart and its numbers', async () => {
    const { panel, s } = await show(runs.sweepA);
    try {
      const out = path.join(scratch, 'exports');
      // PNG
      stub.saveAnswers.push(Uri.file(path.join(out, 'chart.png')));
      const before = s.posted.length;
      await s.page.locator('[data-chart="accuracy-reasoning"] [data-action="png"]').click();
      const png = await s.waitFor<PostedMessage & { format: string; chart: string; fileName: string; content: string }>((m) => m.type === 'save', 10_000, before);
      assert.equal(png.format, 'png');
      assert.equal(png.chart, 'accuracy-reasoning');
      assert.equal(png.fileName, 'demo.sweep.accuracy-reasoning.png');
      const bytes = Buffer.from(png.content, 'base64');
      const c = (await drawn<Datum>(s, 'accuracy-reasoning'))!;
      assert.deepEqual(pngSize(bytes), c.canvas, 'the image is the chart canvas');
      await waitUntil(s.page, `() => (document.querySelector('[data-chart="accuracy-reasoning"] .card-status').textContent || '').startsWith('Saved ')`);
      assert.deepEqual(fs.readFileSync(path.join(out, 'chart.png')), bytes, 'the host wrote the posted bytes');
      assert.equal(stub.saveDialogs.at(-1)!.defaultUri!.fsPath, path.join(path.dirname(runs.sweepA), 'demo.sweep.accuracy-reasoning.png'), 'the dialog proposes the file beside the run');

      // CSV
      stub.saveAnswers.push(Uri.file(path.join(out, 'data.csv')));
      const before2 = s.posted.length;
      await s.page.locator('[data-chart="accuracy-memorization"] [data-action="csv"]').click();
      const csv = await s.waitFor<PostedMessage & { format: string; content: string }>((m) => m.type === 'save', 10_000, before2);
      assert.equal(csv.format, 'csv');
      const [head, ...rows] = parseCsv(csv.content);
      const col = (name: string) => head!.indexOf(name);
      assert.ok(col('intervention') >= 0 && col('accuracy') >= 0);
      const expectedIds = A.results.filter((r) => r.summary.memorization.total > 0).map((r) => r.intervention.id);
      assert.deepEqual(rows.map((r) => r[col('intervention')]).sort(), [...expectedIds].sort(), 'a row per intervention and the baseline');
      for (const row of rows) {
        const a = resultOf(A, row[col('intervention')]!).summary.memorization;
        assert.deepEqual(
          ['accuracy', 'ci95_low', 'ci95_high', 'correct', 'total', 'unparsed'].map((k) => Number(row[col(k)])),
          [a.accuracy, a.ci95[0], a.ci95[1], a.correct, a.total, a.unparsed],
          `CSV row of ${row[col('intervention')]} carries the file's numbers in full precision`,
        );
      }
      await waitUntil(s.page, `() => (document.querySelector('[data-chart="accuracy-memorization"] .card-status').textContent || '').startsWith('Saved ')`);
      assert.equal(fs.readFileSync(path.join(out, 'data.csv'), 'utf8'), csv.content);

      // Dismissed dialog: nothing written, the page is told.
      const before3 = s.posted.length;
      await s.page.locator('[data-chart="accuracy-memorization"] [data-action="csv"]').click();
      await s.waitFor((m) => m.type === 'save', 10_000, before3);
      await waitUntil(s.page, `() => document.querySelector('[data-chart="accuracy-memorization"] .card-status').textContent === ''`);
      noProblems(s);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('each chart has a data-table view with the plotted numbers', async () => {
    const { panel, s } = await show(runs.sweepA);
    try {
      const btn = s.page.locator('[data-chart="accuracy-memorization"] [data-action="table"]');
      await btn.click();
      assert.equal(await btn.getAttribute('aria-pressed'), 'true');
      const table = await inPage<{ head: string[]; rows: string[][]; caption: string }>(
        s.page,
        `() => { const t = document.querySelector('[data-chart="accuracy-memorization"] table.data-table'); return { caption: t.caption.textContent, head: [...t.tHead.rows[0].cells].map((c) => c.textContent), rows: [...t.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.textContent)) }; }`,
      );
      assert.match(table.caption, /Memorization accuracy per layer/);
      const col = (n: string) => table.head.indexOf(n);
      assert.equal(table.rows.length, A.results.filter((r) => r.summary.memorization.total > 0).length);
      for (const row of table.rows) {
        const a = resultOf(A, row[col('intervention')]!).summary.memorization;
        assert.equal(row[col('correct')], String(a.correct));
        assert.equal(row[col('total')], String(a.total));
        assert.ok(Math.abs(Number(row[col('accuracy')]) - a.accuracy) <= 5e-5, 'shown to 4 decimals');
      }
      await s.page.locator('[data-chart="accuracy-memorization"]').screenshot({ path: path.join(OUTPUT_DIR, 'run-accuracy-memorization-table-dark.png') });
      await btn.click();
      assert.equal(await s.page.locator('[data-chart="accuracy-memorization"] .card-table').isHidden(), true);
      noProblems(s);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('a window reload restores the panel from its state: same file, overlay, tab, drill-down and tables', async () => {
    const { panel, s } = await show(runs.sweepA);
    let restored: PageSession | undefined;
    try {
      stub.quickPick = (items) => items.find((x) => x.file === runs.sweepB);
      await s.page.locator('#pick-compare').click();
      await waitUntil(s.page, `() => !!document.querySelector('#clear-compare')`);
      const r = measured(A, 2, -4, 2);
      const c = (await drawn<Datum>(s, 'accuracy-memorization'))!;
      const [i, j] = locate(c, r.intervention.id);
      await clickPoint(s, 'accuracy-memorization', i, j);
      const rows = r.items.filter((x) => x.subset === 'memorization').map((x) => x.id);
      await expectRows(s, rows);
      await s.page.locator(`#drill-table vscode-table-row[data-item="${rows[0]}"] vscode-table-cell`).first().click();
      await s.page.locator('#item-detail').waitFor();
      await s.page.locator('[data-chart="accuracy-reasoning"] [data-action="table"]').click();
      await s.page.locator('vscode-tab-header[data-tab="heatmap"]').click();
      await waitUntil(s.page, `() => true`);
      const state = s.lastState<RunPageState>();
      assert.equal(state.page, 'run');
      assert.equal(state.runPath, runs.sweepA);
      assert.equal(state.comparePath, runs.sweepB);
      assert.equal(state.ui.tab, 'heatmap');

      // The reload: the panel and its document go; VS Code hands the saved state to the serializer.
      await s.close();
      panel.dispose();
      const fresh = stubWindow.createWebviewPanel(CHART_VIEW_TYPES.run, 'Run: demo.sweep.json', {}, {});
      await stub.serializers.get(CHART_VIEW_TYPES.run)!.deserializeWebviewPanel(fresh, state);
      const again = charts.panels().find((p) => p.panel === (fresh as unknown)) as RunChartPanel;
      assert.ok(again, 'the serializer made a chart panel of it');
      assert.equal(again.compare, runs.sweepB);
      assert.deepEqual(fresh.webview.options.localResourceRoots!.map((u) => u.fsPath), [path.join(ROOT, 'dist', 'webview')], 'restored panels get the same narrow roots');
      restored = await h.open(fresh, { theme: 'dark', state });
      await waitForChart(restored.page, 'heatmap-reasoning');
      assert.equal(await restored.page.locator('vscode-tabs').getAttribute('selected-index'), '1');
      await expectRows(restored, rows);
      await restored.page.locator('#item-detail').waitFor();
      assert.equal(await restored.page.locator('[data-chart="accuracy-reasoning"] .card-table').isVisible(), false, 'the table is on the hidden tab');
      assert.equal(await restored.page.locator('[data-chart="accuracy-reasoning"] [data-action="table"]').getAttribute('aria-pressed'), 'true');
      const cr = (await drawn<Datum>(restored, 'accuracy-reasoning'))!;
      assert.ok(cr.datasets.some((d) => d.label.startsWith('B: ')), 'the overlay is back');
      noProblems(restored);
    } finally {
      stub.quickPick = null;
      await restored?.close();
      for (const p of charts.panels()) p.dispose();
    }
  });

  it('a run file rewritten on disk (a partial run checkpointed) is redrawn; an unreadable one is reported in the panel', async () => {
    const file = path.join(scratch, 'runs', 'demo-a', 'partial.sweep.json');
    const partial: RunFile = { ...A, complete: false, results: A.results.slice(0, 5), progress: { done: 5 * A.results[0]!.items.length, total: A.progress.total } };
    fs.writeFileSync(file, JSON.stringify(partial));
    const { panel, s } = await show(file);
    try {
      const ids = async () => {
        const c = (await drawn<Datum>(s, 'accuracy-reasoning'))!;
        return c.datasets.flatMap((d) => d.data.map((x) => x.point.interventionId)).sort();
      };
      assert.deepEqual(await ids(), partial.results.filter((r) => r.intervention.kind !== 'none').map((r) => r.intervention.id).sort());
      assert.match((await s.page.locator('.page-header .badge').textContent())!, new RegExp(`partial: ${partial.progress.done}/${partial.progress.total}`));

      fs.writeFileSync(file, JSON.stringify(A));
      assert.ok(stub.fileChanged(file) > 0, 'the host watches the shown file');
      await waitUntil(s.page, `(n) => { const c = document.querySelector('[data-chart="accuracy-reasoning"] canvas'); const ch = c && window.LayerLabChart.getChart(c); return !!ch && ch.data.datasets.reduce((k, d) => k + d.data.length, 0) === n; }`, A.results.length - 1);
      assert.deepEqual(await ids(), A.results.filter((r) => r.intervention.kind !== 'none').map((r) => r.intervention.id).sort());
      assert.equal(await s.page.locator('.page-header .badge').textContent(), 'complete');

      // Hidden, then shown again: VS Code recreates the document, which says ready again; the
      // file is now damaged, and the panel says so instead of going blank.
      fs.writeFileSync(file, '{"format": "layerlab-run", "version": 1, "res');
      (panel.panel as unknown as FakePanel).setVisible(false);
      (panel.panel as unknown as FakePanel).setVisible(true);
      const before = s.posted.length;
      await s.page.reload();
      await s.waitFor((m) => m.type === 'ready', 10_000, before);
      await s.page.locator('#load-error').waitFor();
      assert.match((await s.page.locator('#load-error').textContent())!, /partial\.sweep\.json is not valid JSON/);
      noProblems(s);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('reads in dark, light and high-contrast themes: colours follow the theme variables; screenshots of every chart', async () => {
    const { panel, s } = await show(runs.sweepA);
    try {
      const shoot = async (theme: 'dark' | 'light') => {
        for (const subset of SUBSETS) {
          await s.page.locator(`[data-chart="accuracy-${subset}"]`).screenshot({ path: path.join(OUTPUT_DIR, `run-accuracy-${subset}-${theme}.png`) });
        }
        await s.page.locator('vscode-tab-header[data-tab="heatmap"]').click();
        for (const subset of SUBSETS) {
          await waitForChart(s.page, `heatmap-${subset}`);
          await s.page.locator(`[data-chart="heatmap-${subset}"]`).screenshot({ path: path.join(OUTPUT_DIR, `run-heatmap-${subset}-${theme}.png`) });
        }
        await s.page.screenshot({ path: path.join(OUTPUT_DIR, `run-page-${theme}.png`), fullPage: true });
        await s.page.locator('vscode-tab-header[data-tab="accuracy"]').click();
      };
      const firstColor = async () => (await drawn<Datum>(s, 'accuracy-reasoning'))!.datasets[0]!.borderColor;
      const hexToRgb = (x: string) => `rgb(${[1, 3, 5].map((k) => parseInt(x.slice(k, k + 2), 16)).join(', ')})`;
      assert.equal(await firstColor(), hexToRgb(THEMES.dark.vars['--vscode-charts-blue']!));
      await shoot('dark');
      await s.setTheme('light');
      await waitUntil(s.page, `(c) => { const x = document.querySelector('[data-chart="accuracy-reasoning"] canvas'); const ch = x && window.LayerLabChart.getChart(x); return !!ch && ch.data.datasets[0].borderColor === c; }`, hexToRgb(THEMES.light.vars['--vscode-charts-blue']!));
      await shoot('light');
      await s.setTheme('high-contrast');
      await waitUntil(s.page, `(c) => { const x = document.querySelector('[data-chart="accuracy-reasoning"] canvas'); const ch = x && window.LayerLabChart.getChart(x); return !!ch && ch.data.datasets[0].borderColor === c; }`, hexToRgb(THEMES['high-contrast'].vars['--vscode-charts-blue']!));
      for (const subset of SUBSETS) await s.page.locator(`[data-chart="accuracy-${subset}"]`).screenshot({ path: path.join(OUTPUT_DIR, `run-accuracy-${subset}-high-contrast.png`) });
      for (const f of ['run-accuracy-reasoning-dark.png', 'run-heatmap-memorization-light.png']) assert.ok(fs.statSync(path.join(OUTPUT_DIR, f)).size > 5000, f);
      noProblems(s);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('openChart picks the page by the file\u2019s format and refuses files that are not LayerLab results', async () => {
    const p = await charts.openChart(runs.directionsA);
    assert.equal(p.page, 'directions');
    p.dispose();
    const other = path.join(scratch, 'notes.json');
    fs.writeFileSync(other, JSON.stringify({ format: 'something-else', items: [] }));
    await assert.rejects(charts.openRunChart(other), /notes\.json is not a LayerLab run file/);
    assert.deepEqual(hostLog.filter((l) => l.startsWith('error')), []);
  });
});
