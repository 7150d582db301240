// The whole extension in a mocked `vscode` against the real runtime process: "Run Demo" from
// activation to its chart panel and the views showing its model, dataset, cache and run; the
// cache's direction chart; then Select Model and the status bar. Then the job API's promises:
// a model selected once serves the palette's jobs without a second load, their progress comes
// as work-done progress, and the Evaluate prompt knows huginn's 132 blocks before any load.
import { fakeContext, mock } from '../extension/vscodeMock';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import * as vscode from 'vscode';
import { activateWith, deactivate } from '../../extension/extension';
import type { JobResult } from '../../runtime/protocol/jobs';
import { writeDemoModel } from '../../models/demo';
import { writeTinyHuginn } from '../../models/huginn/demo';
import { tmpDir } from '../helpers/tmp';

const REPO = path.resolve(__dirname, '..', '..');
const children: ChildProcess[] = [];
async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
// Deactivating stops the client's runtime for good; killing a child under a live client would
// only make it restart one (and a restarted runtime would keep this test process alive).
afterEach(() => deactivate());
after(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL')));

/** The real runtime process (TypeScript sources through tsx) in workspace `ws`, as VS Code would start it. */
function realRuntime(ws: string) {
  return () => {
    // cwd is the workspace (as in VS Code), so tsx is named by path, not resolved from there.
    const tsx = pathToFileURL(path.join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const c = spawn(process.execPath, ['--import', tsx, path.join(REPO, 'runtime', 'server', 'main.ts'), '--parent-pid', String(process.pid)], {
      cwd: ws,
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', LAYERLAB_CACHE_DIR: path.join(ws, 'graph-cache') },
    });
    children.push(c);
    return c;
  };
}

describe('extension with the real runtime', () => {
  it('Run Demo opens the sweep chart and fills every view; Select Model shows in the status bar', async () => {
    mock.reset();
    const ws = tmpDir('layerlab-ws-');
    mock.workspaceFolder = ws;
    mock.config = { 'layerlab.provider': 'cpu' };
    const context = fakeContext(REPO);
    const api = activateWith(context as never, { spawner: realRuntime(ws) });
    assert.deepEqual(await api.views.models.nodes(), [], 'nothing before the demo');

    const r = (await vscode.commands.executeCommand('layerlab.runDemo')) as JobResult<'demo'> | undefined;
    assert.ok(r, `Run Demo failed: ${JSON.stringify(mock.shown)}`);
    const runsDir = path.join(ws, '.layerlab', 'output', 'runs', 'demo');
    const [runName] = fs.readdirSync(runsDir);
    const run = path.join(runsDir, runName);
    assert.equal(r.runFile, run);
    assert.equal(JSON.parse(fs.readFileSync(run, 'utf8')).complete, true);

    // The sweep opens as a chart, not as text.
    assert.deepEqual(mock.openedDocuments, []);
    assert.deepEqual(mock.panels.map((p) => [p.viewType, p.title]), [['layerlab.runChart', `Run: ${runName}`]]);
    assert.deepEqual(api.charts(), [{ page: 'run', file: run, title: `Run: ${runName}`, visible: true }]);
    const panel = mock.panels[0];
    assert.match(panel.webview.html, /<body data-page="run">/);
    panel.webview.receive({ type: 'ready', page: 'run' });
    await waitFor(() => panel.webview.posted.length > 0);
    const shown = panel.webview.posted[0] as { type: string; run: { path: string; run: { spec: { command: string } } } };
    assert.equal(shown.type, 'showRun');
    assert.equal(shown.run.path, run);
    assert.equal(shown.run.run.spec.command, 'sweep');

    assert.equal(mock.progress[0].title, 'LayerLab: Run Demo');
    assert.ok(mock.progress[0].reports.length >= 2, 'progress reached the notification');
    assert.equal(Math.round(mock.progress[0].reports.reduce((a, p) => a + (p.increment ?? 0), 0)), 100);
    assert.equal(
      mock.shown.at(-1)!.message,
      `LayerLab: demo finished. ${r.findings.find((l) => l.startsWith('Largest effect'))} ` +
        `The sweep's chart is open (.layerlab/output/runs/demo/${runName}); the LayerLab log has the other findings.`,
    );
    assert.match(r.findings.join('\n'), /separates the two kinds best at blocks\.\d\.hook_resid_post: AUC 0\.9\d\d/);
    assert.ok(mock.log.some((l) => l.level === 'info' && l.message.startsWith('Run Demo: layerlab demo --models_path')), 'the CLI twin line is logged');

    const models = await api.views.models.nodes();
    // The demo's model (the organism) stays open in the runtime (the lease), which says so.
    assert.deepEqual(models.map((n) => [n.label, n.description]), [['demo', 'llama · 4 blocks · d_model 128 · CPU · loaded']]);
    assert.equal(mock.statusBar.text, '$(beaker) LayerLab · CPU · demo');
    const datasets = await api.views.datasets.nodes();
    assert.deepEqual(datasets.map((n) => n.label), ['demo-reason-mem.json']);
    assert.match(datasets[0].description!, /^200 records · /);
    const runs = await api.views.runs.nodes();
    assert.deepEqual(runs.map((n) => [n.label, n.resourcePath]), [['sweep · demo-reason-mem', run]]);
    const caches = await api.views.cache.nodes();
    assert.deepEqual(caches.map((n) => [n.kind, n.label]), [['cacheEntry', 'demo-reason-mem']], 'the runtime describes the demo cache');
    assert.match(caches[0].description!, /^demo-reason-mem\.safetensors · 200 rows · float32 · complete$/);
    assert.deepEqual(caches[0].children!.map((c) => c.label), ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_post', 'blocks.3.hook_resid_post']);

    // The cache's context action: its direction quality chart.
    const stats = await vscode.commands.executeCommand('layerlab.chartDirections', caches[0]);
    assert.equal(stats, path.join(ws, '.layerlab', 'output', 'hidden_states', 'demo', 'demo-reason-mem.directions.json'));
    assert.deepEqual(mock.panels.map((p) => p.viewType), ['layerlab.runChart', 'layerlab.directionChart']);
    // The run's node opens its chart again: the open panel is revealed, not duplicated.
    await vscode.commands.executeCommand(runs[0].command!.command, ...(runs[0].command!.arguments ?? []));
    assert.equal(mock.panels.length, 2);
    assert.equal(panel.reveals, 1);

    await vscode.commands.executeCommand('layerlab.selectModel', models[0]);
    assert.equal(mock.statusBar.text, '$(beaker) LayerLab · CPU · demo');
    const loaded = await api.views.models.nodes();
    assert.match(loaded[0].description!, /^llama · 4 blocks · d_model 128 · CPU · loaded$/);

    const pid = api.client.info!.pid;
    await deactivate();
    assert.equal(api.client.state, 'stopped');
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the runtime process is gone');
  });

  it('Select Model, then Save Hidden States and Evaluate from the palette: one model load in all, progress as work-done progress', async () => {
    mock.reset();
    const ws = tmpDir('layerlab-ws-');
    mock.workspaceFolder = ws;
    mock.config = { 'layerlab.provider': 'cpu' };
    const s = { models: path.join(ws, '.layerlab', 'models'), datasets: path.join(ws, '.layerlab', 'datasets') };
    const model = writeDemoModel(path.join(s.models, 'tiny')).dir;
    fs.mkdirSync(s.datasets, { recursive: true });
    const data = path.join(s.datasets, 'qa.json');
    fs.writeFileSync(data, JSON.stringify(Array.from({ length: 24 }, (_, i) => ({
      question_id: i, question: `Is ${i} even?`, options: ['yes', 'no'], answer: i % 2 ? 'B' : 'A', answer_index: i % 2, cot_content: '', category: 'math', src: 't', memory_reason_score: i % 3 ? 0.8 : 0.2,
    }))));
    const api = activateWith(fakeContext(REPO) as never, { spawner: realRuntime(ws) });

    await vscode.commands.executeCommand('layerlab.selectModel', { id: 'm', kind: 'model', label: 'tiny', resourcePath: model });
    assert.equal(api.client.model?.path, model, 'the runtime holds the selected model');
    assert.equal((await api.client.runtimeStatus()).sessionsCreated, 1);

    const saved = (await vscode.commands.executeCommand('layerlab.saveHiddenStates')) as JobResult<'save-hidden-states'> | undefined;
    assert.ok(saved, `Save Hidden States failed: ${JSON.stringify(mock.shown)}`);
    const cache = saved.cacheFile;
    mock.inputs = ['1', '2']; // layer 1, scale 2
    mock.quickPicks = ['post'];
    const evaluated = (await vscode.commands.executeCommand('layerlab.evaluate', { id: 'c', kind: 'cacheEntry', label: 'qa', resourcePath: cache })) as JobResult<'evaluate'> | undefined;
    assert.ok(evaluated, `Evaluate failed: ${JSON.stringify(mock.shown)}`);
    assert.match(evaluated.lines.join('\n'), /^Layer \[1\] - Reasoning Subset Accuracy: /m);

    const status = await api.client.runtimeStatus();
    assert.equal(status.sessionsCreated, 1, 'exactly one ONNX Runtime session: the jobs reused the selected model');
    assert.equal(status.model?.path, model);
    // Progress came through the job's work-done token, as done/total, into the notifications.
    const titles = mock.progress.map((p) => p.title);
    assert.deepEqual(titles, ['LayerLab: Select Model', 'LayerLab: Save Hidden States', 'LayerLab: Evaluate Accuracy with Intervention']);
    for (const p of mock.progress.slice(1)) {
      assert.ok(p.reports.length > 0, `${p.title} showed progress`);
      assert.equal(Math.round(p.reports.reduce((a, r) => a + (r.increment ?? 0), 0)), 100, `${p.title} reached 100%`);
      assert.match(p.reports.at(-1)!.message ?? '', /^\d+\/\d+ \(100%\)/);
    }
    // Each palette job logged its CLI twin.
    assert.ok(mock.log.some((l) => l.message.startsWith(`Save Hidden States: layerlab save-hidden-states --model ${model} --provider cpu --data_file_path ${data}`)));
    assert.ok(mock.log.some((l) => /^Evaluate Accuracy with Intervention: layerlab evaluate --model .* --with_intervention --layer_indices 1 --with_post_hook --scale 2$/.test(l.message)));
    await deactivate();
  });

  it("the Evaluate prompt accepts huginn's layer 66 at 32 steps before any model is loaded: the runtime reads the block map", async () => {
    mock.reset();
    const ws = tmpDir('layerlab-ws-');
    mock.workspaceFolder = ws;
    mock.config = { 'layerlab.provider': 'cpu' };
    const huginn = path.join(ws, '.layerlab', 'models', 'huginn-tiny');
    writeTinyHuginn(huginn); // mean_recurrence 32: 2 prelude + 4 × 32 core + 2 coda blocks
    const data = path.join(ws, '.layerlab', 'datasets', 'qa.json');
    fs.mkdirSync(path.dirname(data), { recursive: true });
    fs.writeFileSync(data, JSON.stringify([{ question: 'q', options: ['a', 'b'], answer: 'A', memory_reason_score: 0.9 }]));
    const cache = path.join(ws, '.layerlab', 'output', 'hidden_states', 'huginn-tiny', 'qa.safetensors');
    fs.mkdirSync(path.dirname(cache), { recursive: true });
    fs.writeFileSync(cache, 'not read: the prompt comes first');
    const api = activateWith(fakeContext(REPO) as never, { spawner: realRuntime(ws) });
    mock.inputs = [(validate: (v: string) => string | undefined, value: string, prompt: string) => {
      assert.equal(value, '66', "the proposed layer is the middle of 132 blocks, the seed's");
      assert.match(prompt, /0\.\.131/);
      assert.equal(validate('66'), undefined, 'layer 66 is accepted');
      assert.match(validate('132') ?? '', /layer 132 does not exist: the model has blocks 0\.\.131/);
      return undefined; // dismiss: this test is about the prompt
    }];
    await vscode.commands.executeCommand('layerlab.evaluate');
    assert.equal(mock.inputCalls.length, 1, 'the layer prompt was shown');
    assert.equal((await api.client.runtimeStatus()).sessionsCreated, 0, 'nothing was loaded to answer it');
    assert.equal(api.client.model, undefined);
    await deactivate();
  });
});
