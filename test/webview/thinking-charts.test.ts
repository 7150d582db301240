/**
 * The reasoning-behaviour pages in headless Chromium, hosted by the real extension code
 * (extension/thinking/panels.ts), drawing the files the workflow wrote on stories260K through the
 * CLI (test/helpers/thinkingRun.ts). Everything drawn is compared with those files: the layer
 * effects per layer (exact solid, estimate dashed, selected layers enlarged), the vector norms and
 * cosines, the steering fractions with their Wilson intervals, and the side-by-side chains whose
 * highlighted text is exactly the steering file's spans. Screenshots in light, dark and high
 * contrast; no CSP violation or console error.
 */
import './vscodeStub';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ThinkingPanels } from '../../extension/thinking/panels';
import { effectsFileSchema, steeringFileSchema, vectorStatsFileSchema, type EffectsFile, type SteeringFile, type VectorStatsFile } from '../../runtime/protocol/thinking';
import { sharedFile } from '../helpers/sharedData';
import { runThinkingPipeline, type ThinkingRun } from '../helpers/thinkingRun';
import { tmpDir } from '../helpers/tmp';
import { buildBundles, choose, chromiumSkip, inPage, OUTPUT_DIR, READ_CHART, ROOT, waitForChart, WebviewHarness, type PageSession, type ThemeName } from './harness';
import type { FakePanel } from './vscodeStub';

interface Datum {
  x: number;
  y: number;
  lo: number;
  hi: number;
}
interface Drawn {
  datasets: { label: string; data: Datum[]; borderDash: number[]; borderColor: string }[];
  xTicks: { value: number; label: string }[];
}

const stories = sharedFile('stories260K/stories260K.bin');
let h: WebviewHarness;
let panels: ThinkingPanels;
let run: ThinkingRun;
let effects: EffectsFile;
let stats: VectorStatsFile;
let steering: SteeringFile;

const read = (s: PageSession, id: string) => inPage<Drawn | null>(s.page, READ_CHART, id);

async function open(file: string, chart: string, theme: ThemeName = 'dark'): Promise<PageSession> {
  const p = await panels.openChart(file);
  const s = await h.open(p.panel as unknown as FakePanel, { theme });
  await waitForChart(s.page, chart, 30_000);
  return s;
}

describe('reasoning-behaviour pages (headless Chromium, the workflow run on stories260K)', { skip: chromiumSkip || stories.skip }, () => {
  before(async () => {
    buildBundles();
    const dir = tmpDir('layerlab-webview-thinking-');
    run = runThinkingPipeline(stories.path, dir, { chainTasks: 10, maxNewTokens: 480, heldOut: 2, steerTokens: 40, env: { LAYERLAB_CACHE_DIR: path.join(dir, 'cache') } });
    effects = effectsFileSchema.parse(JSON.parse(fs.readFileSync(run.effects, 'utf8')));
    stats = vectorStatsFileSchema.parse(JSON.parse(fs.readFileSync(run.vectorStats, 'utf8')));
    steering = steeringFileSchema.parse(JSON.parse(fs.readFileSync(run.steering, 'utf8')));
    panels = new ThinkingPanels({ fsPath: ROOT } as never, () => undefined);
    panels.register();
    h = await WebviewHarness.start();
    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  });

  after(async () => {
    panels?.dispose();
    await h?.close();
  });

  it('layer effects: exact solid and estimate dashed per behaviour, a point per layer, from the effects file', async () => {
    const s = await open(run.effects, 'thinking-effects');
    try {
      const c = (await read(s, 'thinking-effects'))!;
      assert.equal(c.datasets.length, 2 * effects.categories.length);
      effects.categories.forEach((cat, i) => {
        for (const [k, kind] of (['exact', 'estimate'] as const).entries()) {
          const ds = c.datasets[2 * i + k]!;
          assert.equal(ds.label, `${cat.category} (${kind})`);
          assert.equal(ds.borderDash.length > 0, kind === 'estimate');
          assert.deepEqual(ds.data.map((d) => d.y), cat[kind].mean);
          ds.data.forEach((d, j) => {
            assert.equal(Math.round(d.x) + 0, effects.blocks[j], 'at its block (the two series of a behaviour drawn a little apart)');
            assert.ok(Math.abs(d.hi - d.lo - 2 * cat[kind].se[j]!) < 1e-12, '± one standard error');
          });
        }
      });
      const radii = await inPage<number[][]>(s.page, `() => { const c = window.LayerLabChart.getChart(document.querySelector('[data-chart="thinking-effects"] canvas')); return c.data.datasets.map((d) => d.pointRadius); }`);
      effects.categories.forEach((cat, i) => assert.deepEqual(radii[2 * i]!.map((r, j) => (r > 3 ? j : -1)).filter((j) => j >= 0), cat.selected, 'selected layers enlarged'));
      const note = await inPage<string>(s.page, `() => document.querySelector('[data-chart="thinking-effects"] .card-note').textContent`);
      for (const cat of effects.categories) assert.ok(note.includes(`${cat.category}: ${cat.positions} positions`), note);
      for (const theme of ['dark', 'light', 'high-contrast'] as const) {
        await s.setTheme(theme);
        await s.page.screenshot({ path: path.join(OUTPUT_DIR, `thinking-effects-${theme}.png`), fullPage: true });
      }
      assert.deepEqual(s.problems(), []);
    } finally {
      await s.close();
    }
  });

  it('vectors: ‖u‖ per layer and behaviour, and the cosine table of the chosen layer, from the statistics', async () => {
    const s = await open(run.vectorStats, 'thinking-vector-norms', 'light');
    try {
      const c = (await read(s, 'thinking-vector-norms'))!;
      stats.categories.forEach((cat, i) => assert.deepEqual(c.datasets[i]!.data.map((d) => d.y), cat.norms, cat.category));
      assert.deepEqual(c.datasets.at(-1)!.data.map((d) => d.y), stats.meanNorms);
      const cells = () => inPage<string[][]>(s.page, `() => [...document.querySelectorAll('table[data-table="cosine"] tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.dataset.value))`);
      const last = stats.hooks.length - 1;
      assert.deepEqual(await cells(), stats.cosine[last]!.map((row) => row.map((v) => (v === null ? '' : String(v)))));
      await choose(s.page, 'cosine-hook', stats.hooks[0]!);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(await cells(), stats.cosine[0]!.map((row) => row.map((v) => (v === null ? '' : String(v)))));
      await s.page.screenshot({ path: path.join(OUTPUT_DIR, 'thinking-vectors-light.png'), fullPage: true });
      assert.deepEqual(s.problems(), []);
    } finally {
      await s.close();
    }
  });

  it('steering: fractions with Wilson intervals per condition, and a steered chain beside its baseline with the file\'s spans', async () => {
    const s = await open(run.steering, 'thinking-steering');
    try {
      const c = (await read(s, 'thinking-steering'))!;
      assert.deepEqual(c.datasets.map((d) => d.label), ['baseline', '+', '−', 'random +', 'random −']);
      const cats = [...new Set(steering.conditions.flatMap((x) => (x.category ? [x.category] : [])))];
      assert.deepEqual(c.xTicks.map((t) => t.label), cats);
      const base = steering.conditions[0]!;
      cats.forEach((cat, slot) => {
        const at = (label: string) => c.datasets.find((d) => d.label === label)!.data.find((d) => Math.round(d.x) === slot)!;
        const b = at('baseline');
        assert.deepEqual([b.y, b.lo, b.hi], [base.fractions[cat]!.fraction, ...base.fractions[cat]!.ci95]);
        for (const cond of steering.conditions.filter((x) => x.category === cat)) {
          const label = `${cond.kind === 'random' ? 'random ' : ''}${cond.sign > 0 ? '+' : '−'}`;
          const d = at(label);
          assert.deepEqual([d.y, d.lo, d.hi], [cond.fractions[cat]!.fraction, ...cond.fractions[cat]!.ci95], `${cond.id}`);
        }
      });
      // Side by side: both texts whole, the highlighted pieces exactly the spans' text.
      const cond = steering.conditions[1]!;
      const task = steering.tasks.ids[0]!;
      const shown = await inPage<{ text: string; marks: string[] }[]>(
        s.page,
        `() => ['baseline', 'steered'].map((id) => { const el = document.querySelector('[data-chain="' + id + '"]'); return { text: el.textContent, marks: [...el.querySelectorAll('mark')].map((m) => m.textContent) }; })`,
      );
      const spanText = (ch: SteeringFile['conditions'][number]['chains'][number]) => ch.spans.map((sp) => Array.from(ch.text).slice(sp.start, sp.end).join(''));
      const bc = base.chains.find((x) => x.task === task)!;
      const sc = cond.chains.find((x) => x.task === task)!;
      assert.equal(shown[0]!.text, bc.text);
      assert.equal(shown[1]!.text, sc.text);
      assert.deepEqual(shown[0]!.marks, spanText(bc));
      assert.deepEqual(shown[1]!.marks, spanText(sc));
      // Another condition and task redraw the steered column from the file.
      const other = steering.conditions.at(-1)!;
      await choose(s.page, 'steer-condition', other.id);
      await choose(s.page, 'steer-task', steering.tasks.ids.at(-1)!);
      await new Promise((r) => setTimeout(r, 200));
      const steeredNow = await inPage<string>(s.page, `() => document.querySelector('[data-chain="steered"]').textContent`);
      assert.equal(steeredNow, other.chains.find((x) => x.task === steering.tasks.ids.at(-1))!.text);
      for (const theme of ['dark', 'light', 'high-contrast'] as const) {
        await s.setTheme(theme);
        await s.page.screenshot({ path: path.join(OUTPUT_DIR, `thinking-steering-${theme}.png`), fullPage: true });
      }
      assert.deepEqual(s.problems(), []);
    } finally {
      await s.close();
    }
  });
});
