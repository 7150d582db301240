/**
 * The probing pages in headless Chromium, hosted by the real extension code (probePanels.ts)
 * and fed real job results on the generated demo model. Expected values come from elsewhere:
 * the lens grid from a trace of the same prompt (its logits, and the lens applied to its rows),
 * the projection colours from a direction constructed from one token's traced state (that token
 * must be the strongest) and package.json's colour defaults, the compare view from the
 * steer-compare result the runtime returned.
 */
import './vscodeStub';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeDemoModel } from '../../models/demo';
import { openSafetensors } from '../../models/safetensors';
import { openModel, type OpenedModel } from '../../runtime/openModel';
import { lensLogits } from '../../runtime/probe/lens';
import { logSoftmax } from '../../runtime/probe/trace';
import { ProbePanels, type ComparePanel } from '../../extension/probePanels';
import type { JobParamsIn } from '../../runtime/protocol/jobs';
import type { CompareForm } from '../../runtime/protocol/webview';
import { jobRunner, type JobRunner } from '../helpers/jobs';
import { tmpDir } from '../helpers/tmp';
import { buildBundles, chromiumSkip, contributedColorVars, inPage, OUTPUT_DIR, READ_CHART, ROOT, waitForChart, waitUntil, WebviewHarness, type PageSession, type ThemeName } from './harness';
import { fakeContext, stub, Uri, type FakePanel } from './vscodeStub';

const root = tmpDir('layerlab-webview-probe-');
const PROMPT = 'The cat sat on the mat.';
let h: WebviewHarness;
let jobs: JobRunner;
let opened: OpenedModel;
let model: string;
let panels: ProbePanels;
const runs: JobParamsIn<'steer-compare'>[] = [];

/** `rgb(r, g, b)` / `rgba(…)` of a #rrggbbaa colour, as getComputedStyle writes it. */
function cssOf(hex: string): string {
  const n = (i: number) => parseInt(hex.slice(i, i + 2), 16);
  const a = hex.length === 9 ? n(7) / 255 : 1;
  return a === 1 ? `rgb(${n(1)}, ${n(3)}, ${n(5)})` : `rgba(${n(1)}, ${n(3)}, ${n(5)}, ${Number(a.toFixed(3))})`;
}

function sameColor(got: string, want: string): boolean {
  const parse = (s: string) => s.match(/[\d.]+/g)!.map(Number);
  const [g, w] = [parse(got), parse(want)];
  return g.length === w.length && g.every((x, i) => Math.abs(x - w[i]!) <= (i === 3 ? 0.01 : 0.5));
}

describe('probing pages (headless Chromium, the demo model)', { skip: chromiumSkip }, () => {
  before(async () => {
    buildBundles();
    process.env.LAYERLAB_CACHE_DIR = path.join(root, 'cache');
    model = writeDemoModel(path.join(root, 'demo')).dir;
    jobs = jobRunner();
    opened = await openModel(model, { provider: 'cpu', threads: 1, graphCacheDir: path.join(root, 'cache', 'graphs') });
    panels = new ProbePanels(fakeContext(ROOT) as never, {
      log: () => undefined,
      compare: {
        run: async (p) => {
          runs.push(p);
          return jobs.run('steer-compare', p);
        },
        pickVector: async () => undefined,
      },
      modelFields: (m) => ({ model: m, provider: 'cpu', threads: 1 }),
      onProjectionLayer: () => undefined,
    });
    panels.register();
    h = await WebviewHarness.start();
    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  });

  after(async () => {
    for (const p of panels?.panels() ?? []) p.dispose();
    await h?.close();
    await jobs?.release();
    await opened?.model.release();
  });

  async function open(panel: { panel: unknown }, theme: ThemeName = 'dark'): Promise<PageSession> {
    return h.open(panel.panel as FakePanel, { theme });
  }

  it('the logit-lens grid\u2019s cells are the trace\u2019s: the lens applied to its rows, and its logits in the output row', async () => {
    const lens = await jobs.run('logit-lens', { model, prompt: PROMPT, topK: 3 });
    const traceFile = path.join(root, 'lens.trace.safetensors');
    await jobs.run('trace', { model, prompt: PROMPT, hooks: lens.hooks, logits: 'all', out: traceFile });
    const trace = openSafetensors(traceFile);
    const panel = panels.openLens({ type: 'showLens', lens, model: 'demo' });
    const s = await open(panel);
    try {
      await waitForChart(s.page, 'logit-lens');
      const drawn = (await inPage<{ datasets: { data: { x: number; y: number; cell: { prob: number; top: { id: number; prob: number }[] } }[] }[]; yTicks: { label: string }[] }>(s.page, READ_CHART, 'logit-lens'))!;
      const cells = drawn.datasets[0]!.data;
      const V = opened.model.spec.vocabSize;
      const S = lens.prompt.tokens.length;
      assert.equal(cells.length, (lens.hooks.length + 1) * S);
      assert.deepEqual(drawn.yTicks.map((t) => t.label), [...lens.labels, 'model output']);
      const expectTop = (logits: Float32Array, p: number) => {
        const lp = logSoftmax(logits.subarray(p * V, (p + 1) * V));
        const best = [...lp.keys()].sort((a, b) => lp[b]! - lp[a]! || a - b)[0]!;
        return { id: best, prob: Math.exp(lp[best]!) };
      };
      for (const [row, hook] of lens.hooks.entries()) {
        const rows = await lensLogits(opened.model, trace.read(hook).data);
        for (let p = 0; p < S; p++) {
          const c = cells.find((x) => x.y === row && x.x === p)!;
          const want = expectTop(rows, p);
          assert.equal(c.cell.top[0]!.id, want.id, `${hook} position ${p}`);
          assert.ok(Math.abs(c.cell.prob - want.prob) <= 1e-5, `${hook} position ${p}: ${c.cell.prob} vs ${want.prob}`);
        }
      }
      const logits = trace.read('logits').data;
      for (let p = 0; p < S; p++) {
        const c = cells.find((x) => x.y === lens.hooks.length && x.x === p)!;
        assert.equal(c.cell.top[0]!.id, expectTop(logits, p).id, `output position ${p}`);
      }
      for (const theme of ['light', 'dark', 'high-contrast'] as const) {
        await s.setTheme(theme);
        await waitForChart(s.page, 'logit-lens');
        await s.page.screenshot({ path: path.join(OUTPUT_DIR, `logit-lens-${theme}.png`), fullPage: true });
      }
      assert.deepEqual(s.problems(), []);
    } finally {
      await s.close();
      panel.dispose();
    }
  });

  it('Show Projection colours each token by x·d̂ at the chosen layer with the theme\u2019s colours; the token the direction was built from is the strongest; hover shows the layers', async () => {
    const hook = 'blocks.1.hook_resid_post';
    const traceFile = path.join(root, 'proj.trace.safetensors');
    await jobs.run('trace', { model, prompt: PROMPT, hooks: ['post'], out: traceFile });
    const x = openSafetensors(traceFile).read(hook).data;
    const d = opened.model.spec.dModel;
    const chosen = 5;
    // The constructed direction: token 5's own state at the hook, as a .npy file.
    const dir = x.slice(chosen * d, (chosen + 1) * d);
    const npy = path.join(root, 'dir.npy');
    const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${d},), }`;
    const header = dict.padEnd(Math.ceil((10 + dict.length + 1) / 64) * 64 - 11) + '\n';
    const len = Buffer.alloc(2);
    len.writeUInt16LE(header.length);
    fs.writeFileSync(npy, Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY\x01\x00', 'latin1'), len, Buffer.from(header, 'latin1'), Buffer.from(dir.buffer.slice(0))]));
    const projection = await jobs.run('projection', { model, prompt: PROMPT, direction: npy, steerHooks: ['blocks.0.hook_resid_post'], steerVector: npy, steerStrength: 0.5, steerPositions: 'last' });
    const hi = projection.hooks.indexOf(hook);
    // Values by hand from the trace: x_t · d̂ (the steering is at block 0, so block 1 moves only at the last token).
    const n = Math.hypot(...dir);
    const S = projection.prompt.tokens.length;
    const byHand = Array.from({ length: S }, (_, t) => x.subarray(t * d, (t + 1) * d).reduce((a, v, j) => a + (v * dir[j]!) / n, 0));
    for (let t = 0; t < S - 1; t++) assert.ok(Math.abs(projection.values[hi]![t]! - byHand[t]!) <= 1e-4, `token ${t}`);
    assert.deepEqual(projection.editedPositions, [S - 1]);
    const panel = panels.openProjection({ type: 'showProjection', projection, model: 'demo', hook });
    for (const theme of ['dark', 'light', 'high-contrast'] as const) {
      const s = await open(panel, theme);
      try {
        await waitUntil(s.page, `() => document.querySelectorAll('#projection-text .token').length > 0`);
        const tokens = await inPage<{ token: number; level: number; bg: string; outline: string }[]>(
          s.page,
          `() => [...document.querySelectorAll('#projection-text .token')].map((e) => ({ token: Number(e.dataset.token), level: Number(e.dataset.level), bg: getComputedStyle(e).backgroundColor, outline: getComputedStyle(e).outlineStyle }))`,
        );
        const colors = contributedColorVars(theme === 'high-contrast' ? 'highContrast' : theme);
        const values = projection.values[hi]!;
        const max = Math.max(...values.map(Math.abs));
        assert.equal(Math.abs(values[chosen]!), max, 'the constructed direction\u2019s own token is the strongest');
        for (const t of tokens) {
          const v = values[t.token]!;
          // The scale's definition: five levels a side, the largest |x·d̂| at level 5.
          const want = v === 0 ? 0 : Math.sign(v) * Math.min(5, Math.max(1, Math.ceil((Math.abs(v) / max) * 5 - 1e-9)));
          assert.equal(t.level, want, `token ${t.token} (${v})`);
          if (want !== 0) {
            const id = `--vscode-layerlab-projection-${want > 0 ? 'positive' : 'negative'}${Math.abs(want)}`;
            assert.ok(sameColor(t.bg, cssOf(colors[id]!)), `token ${t.token}: ${t.bg} vs ${colors[id]}`);
          }
          assert.equal(t.outline !== 'none', t.token === S - 1, `token ${t.token} outlined exactly where steered`);
        }
        assert.equal(tokens.find((t) => t.token === chosen)!.level, 5);
        // Hover: the token id and the value across every layer.
        await s.page.locator(`#projection-text .token[data-token="${chosen}"]`).hover();
        await waitUntil(s.page, `() => !document.querySelector('.token-tip').hidden`);
        const tip = await inPage<{ text: string; points: number }>(s.page, `() => ({ text: document.querySelector('.token-tip').textContent, points: document.querySelector('.token-tip polyline').getAttribute('points').split(' ').length })`);
        assert.match(tip.text, new RegExp(`id ${projection.prompt.tokens[chosen]!.id} · position ${chosen}`));
        assert.equal(tip.points, projection.hooks.length);
        await waitForChart(s.page, 'projection-layers');
        await s.page.screenshot({ path: path.join(OUTPUT_DIR, `projection-${theme}.png`), fullPage: true });
        if (theme === 'dark') {
          // The layer picker re-colours the text and tells the host (the editor follows).
          await s.page.locator('#projection-layer').evaluate((el, v) => {
            (el as unknown as { value: string }).value = v;
            el.dispatchEvent(new Event('change'));
          }, projection.hooks[0]!);
          await s.waitFor((m) => m.type === 'projectionLayer' && m.hook === projection.hooks[0]);
        }
        assert.deepEqual(s.problems(), []);
      } finally {
        await s.close();
      }
    }
    panel.dispose();
  });

  it('Steer & Compare shows both generations and their diff; the strength slider re-runs; the experiment saved runs again', async () => {
    const vec = path.join(root, 'steer.npy');
    const d = opened.model.spec.dModel;
    const v = Float32Array.from({ length: d }, (_, i) => 30 * Math.cos(i * 0.9));
    const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${d},), }`;
    const header = dict.padEnd(Math.ceil((10 + dict.length + 1) / 64) * 64 - 11) + '\n';
    const len = Buffer.alloc(2);
    len.writeUInt16LE(header.length);
    fs.writeFileSync(vec, Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY\x01\x00', 'latin1'), len, Buffer.from(header, 'latin1'), Buffer.from(v.buffer)]));
    const form: CompareForm = { prompt: 'Q: What is 2+2?\nA:', steerHooks: ['blocks.1.hook_resid_post'], steerMethod: 'add', steerStrength: 2, steerTarget: 0, steerNorm: 'absolute', steerPositions: 'all', maxNewTokens: 12 };
    const panel: ComparePanel = panels.openCompare({ type: 'showCompare', source: { model, steerVector: vec }, form, result: null, busy: false });
    const s = await open(panel);
    try {
      await panel.runForm(form);
      const first = panel.state.result!;
      assert.ok(first, panel.state.error);
      await waitUntil(s.page, `() => !!document.querySelector('#compare-steered')`);
      const shown = await inPage<{ base: string; steered: string; ins: string[]; del: string[]; diff: string }>(
        s.page,
        `() => ({ base: document.querySelector('#compare-base .generation').textContent, steered: document.querySelector('#compare-steered .generation').textContent, ins: [...document.querySelectorAll('#compare-diff ins')].map((e) => e.textContent), del: [...document.querySelectorAll('#compare-diff del')].map((e) => e.textContent), diff: document.querySelector('#compare-diff').textContent })`,
      );
      assert.equal(shown.base, first.prompt.text + first.base.text);
      assert.equal(shown.steered, first.prompt.text + first.steered.text);
      assert.deepEqual(shown.ins, first.diff.filter((p) => p.op === 'added').map((p) => p.text));
      assert.deepEqual(shown.del, first.diff.filter((p) => p.op === 'removed').map((p) => p.text));
      assert.notEqual(first.base.text, first.steered.text, 'this vector changes the generation');
      await waitForChart(s.page, 'steer-kl');
      const kl = (await inPage<{ datasets: { data: { y: number }[] }[] }>(s.page, READ_CHART, 'steer-kl'))!;
      assert.deepEqual(kl.datasets[0]!.data.map((p) => p.y), first.kl);
      for (const theme of ['light', 'dark', 'high-contrast'] as const) {
        await s.setTheme(theme);
        await waitForChart(s.page, 'steer-kl');
        await s.page.screenshot({ path: path.join(OUTPUT_DIR, `steer-compare-${theme}.png`), fullPage: true });
      }

      // The slider: set it and let go; the page asks the host to run again with that strength.
      const before = runs.length;
      await s.page.locator('#compare-strength').evaluate((el) => {
        (el as HTMLInputElement).value = '0';
        el.dispatchEvent(new Event('input'));
        el.dispatchEvent(new Event('change'));
      });
      await s.waitFor((m) => m.type === 'compareRun' && (m.form as CompareForm).steerStrength === 0);
      await waitUntil(s.page, `() => document.querySelector('#compare-diff') && !document.querySelector('#compare-diff ins, #compare-diff del') && !!document.querySelector('#compare-steered')`, undefined, 60_000);
      assert.equal(runs.at(-1)!.steerStrength, 0);
      assert.ok(runs.length > before);
      assert.equal(panel.state.result!.steered.text, panel.state.result!.base.text, 'strength 0 steers nothing');

      // Save as experiment, then run it again from the file.
      await s.page.locator('#compare-strength').evaluate((el) => {
        (el as HTMLInputElement).value = '2';
        el.dispatchEvent(new Event('change'));
      });
      await waitUntil(s.page, `() => !!document.querySelector('#compare-diff ins, #compare-diff del')`, undefined, 60_000);
      const file = path.join(root, 'experiment.json');
      stub.saveAnswers.push(Uri.file(file));
      s.panel.webview.receive({ type: 'saveExperiment' });
      // The host says so once the file is written.
      for (let i = 0; i < 200 && !stub.messages.some((m) => m.text.includes('experiment.json')); i++) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(stub.saveDialogs.at(-1)!.filters, { 'LayerLab run': ['json'] });
      const again = await jobs.run('steer-compare', { experiment: file });
      assert.equal(again.steered.text, panel.state.result!.steered.text);
      assert.equal(again.base.text, panel.state.result!.base.text);
      assert.deepEqual(s.problems(), []);
    } finally {
      await s.close();
      panel.dispose();
    }
  });
});
