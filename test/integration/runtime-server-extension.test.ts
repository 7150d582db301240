// The whole extension in a mocked `vscode` against the real runtime process: "Run Demo" from
// activation to its chart panel and the views showing its model, dataset, cache and run; the
// cache's direction chart; then Select Model and the status bar. Then the job API's promises:
// a model selected once serves the palette's jobs without a second load, their progress comes
// as work-done progress, and the Evaluate form knows huginn's 132 blocks before any load. Then
// the palette's forms end to end: the hook points chosen in Save Hidden States are the cache's,
// Evaluate runs with the baseline and log-likelihood scoring, two runs of the same data get
// labels that tell them apart, a cache from another model is used only after a confirmation
// while the status bar names the job's model, a crash says what happened and what is lost, and
// the Models view lists a llama2.c checkpoint in a folder of its own.
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
import { readSafetensorsHeader } from '../../extension/workspaceScan';
import { sharedFile } from '../helpers/sharedData';
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

type Line = { label: string; description?: string; detail?: string; line?: { id: string } };
/** Answers a job form's quick pick with the line of that id (`run`, `field:scoring`, `input:model`). */
const line = (id: string) => (items: Line[]) => {
  const found = items.find((i) => i.line?.id === id);
  if (!found) throw new Error(`no line ${id} in ${items.map((i) => i.line?.id ?? i.label).join(', ')}`);
  return found;
};

/** A labelled MMLU-style dataset of `n` records. */
function writeQa(file: string, n: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(Array.from({ length: n }, (_, i) => ({
    question_id: i, question: `Is ${i} even?`, options: ['yes', 'no'], answer: i % 2 ? 'B' : 'A', answer_index: i % 2, cot_content: '', category: 'math', src: 't', memory_reason_score: i % 3 ? 0.8 : 0.2,
  }))));
}

/** A workspace with a tiny 2-block model `tiny` and a 24-record dataset `qa.json`. */
function tinyWorkspace(ws: string, records = 24): { model: string; data: string } {
  const model = writeDemoModel(path.join(ws, '.layerlab', 'models', 'tiny')).dir;
  const data = path.join(ws, '.layerlab', 'datasets', 'qa.json');
  writeQa(data, records);
  return { model, data };
}

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
    assert.deepEqual(runs.map((n) => [n.label, n.resourcePath]), [['sweep · demo-reason-mem · demo', run]]);
    const caches = await api.views.cache.nodes();
    assert.deepEqual(caches.map((n) => [n.kind, n.label]), [['cacheEntry', 'demo-reason-mem · demo']], 'the runtime describes the demo cache, with its model');
    assert.match(caches[0].description!, /^demo-reason-mem\.safetensors · post of blocks 0–3 · 200 rows · float32 · complete$/);
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

  it('Select Model, then Save Hidden States (hook points: pre) and Evaluate (baseline, loglik) from the palette: one model load in all, progress as work-done progress', async () => {
    mock.reset();
    const ws = tmpDir('layerlab-ws-');
    mock.workspaceFolder = ws;
    mock.config = { 'layerlab.provider': 'cpu' };
    const { model, data } = tinyWorkspace(ws);
    const api = activateWith(fakeContext(REPO) as never, { spawner: realRuntime(ws) });

    await vscode.commands.executeCommand('layerlab.selectModel', { id: 'm', kind: 'model', label: 'tiny', resourcePath: model });
    assert.equal(api.client.model?.path, model, 'the runtime holds the selected model');
    assert.equal((await api.client.runtimeStatus()).sessionsCreated, 1);

    // The form: hook points "pre" (every block's input), then Run.
    mock.quickPicks = [line('field:hooks'), 'pre', line('run')];
    const saved = (await vscode.commands.executeCommand('layerlab.saveHiddenStates')) as JobResult<'save-hidden-states'> | undefined;
    assert.ok(saved, `Save Hidden States failed: ${JSON.stringify(mock.shown)}`);
    assert.equal((await api.client.runtimeStatus()).sessionsCreated, 1, 'caching reused the session Select Model opened');
    const header = await readSafetensorsHeader(saved.cacheFile);
    assert.deepEqual(header.tensors.map((t) => t.name).sort(), ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre'], 'the hook points chosen in the form are the cache’s');

    // Evaluate on that cache at block 1's input, with the baseline, scored by log-likelihood.
    mock.quickPicks = [line('field:withPreHook'), line('field:withBaseline'), line('field:scoring'), 'loglik', line('run')];
    const evaluated = (await vscode.commands.executeCommand('layerlab.evaluate', { id: 'c', kind: 'cacheEntry', label: 'qa', resourcePath: saved.cacheFile })) as JobResult<'evaluate'> | undefined;
    assert.ok(evaluated, `Evaluate failed: ${JSON.stringify(mock.shown)}`);
    assert.match(evaluated.lines.join('\n'), /^Layer \[1\] - Reasoning Subset Accuracy: /m);
    const runFile = JSON.parse(fs.readFileSync(evaluated.runFile, 'utf8'));
    assert.equal(runFile.spec.scoring, 'loglik');
    assert.deepEqual(runFile.results.map((r: { intervention: { kind: string; hook: string | null } }) => [r.intervention.kind, r.intervention.hook]), [['none', null], ['direction', 'hook_resid_pre']]);

    // Block 1's output is not in this cache of inputs (no block 2 to borrow it from): refused at
    // Run, before any prompt is read, saying what to cache. (Block 0's output is block 1's input: covered.)
    mock.shown = [];
    mock.quickPicks = [line('field:withPreHook'), line('run'), undefined]; // the form remembered --with_pre_hook: off again
    const refusedAt = mock.progress.length;
    assert.equal(await vscode.commands.executeCommand('layerlab.evaluate', { id: 'c', kind: 'cacheEntry', label: 'qa', resourcePath: saved.cacheFile }), undefined);
    assert.equal(mock.progress.length, refusedAt, 'no job started');
    assert.match(mock.shown.find((m) => m.modal)?.message ?? JSON.stringify(mock.shown), /^LayerLab: The directions file qa\.directions\.safetensors has no direction for blocks\.1\.hook_resid_post: it holds blocks\.0\.hook_resid_pre, blocks\.1\.hook_resid_pre\. Edits at the blocks' outputs need their hidden states/);

    const status = await api.client.runtimeStatus();
    // The jobs reused the selected model: each said so, and none opened or released one.
    assert.equal(mock.log.filter((l) => /^\[job (save-hidden-states|evaluate)-[^\]]+\] using the loaded model /.test(l.message)).length, 2);
    assert.ok(!mock.log.some((l) => /releasing .* to open/.test(l.message)), 'no model was released to open another');
    assert.equal(status.model?.path, model);
    // Progress came through the job's work-done token, as done/total, into the notifications.
    const titles = mock.progress.map((p) => p.title);
    assert.deepEqual(titles, ['LayerLab: Select Model', 'LayerLab: Save Hidden States', 'LayerLab: Evaluate Accuracy with Intervention']);
    for (const p of mock.progress.slice(1)) {
      assert.ok(p.reports.length > 0, `${p.title} showed progress`);
      assert.equal(Math.round(p.reports.reduce((a, r) => a + (r.increment ?? 0), 0)), 100, `${p.title} reached 100%`);
      assert.match(p.reports.at(-1)!.message ?? '', /^\d+\/\d+ \(100%\)/);
    }
    // Each palette job logged its CLI twin, with the form's choices.
    assert.ok(mock.log.some((l) => l.message.startsWith(`Save Hidden States: layerlab save-hidden-states --model ${model} --provider cpu --data_file_path ${data}`) && / --hooks pre( |$)/.test(l.message)));
    assert.ok(mock.log.some((l) => /^Evaluate Accuracy with Intervention: layerlab evaluate --model .* --scoring loglik .*--with_intervention --layer_indices 1 --with_pre_hook .*--with_baseline/.test(l.message)), 'the CLI twin carries the baseline and loglik');

    // A second evaluation of the same data, scored by generation: the Runs view tells the two apart.
    mock.quickPicks = [line('field:scoring'), 'generate', line('field:maxNewTokens'), line('run')];
    mock.inputs = ['4'];
    assert.ok(await vscode.commands.executeCommand('layerlab.evaluate', { id: 'c', kind: 'cacheEntry', label: 'qa', resourcePath: saved.cacheFile }), JSON.stringify(mock.shown));
    const runs = await api.views.runs.nodes();
    assert.deepEqual(runs.map((r) => r.label).sort(), ['evaluate · qa · tiny · generate ≤4 tokens', 'evaluate · qa · tiny · loglik']);
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
    mock.quickPicks = [
      (items: Line[]) => {
        const layers = items.find((i) => i.line?.id === 'field:layerIndices')!;
        assert.equal(layers.description, '66 · suggested', "the proposed layer is the middle of 132 blocks, the seed's");
        return layers;
      },
      undefined,
    ];
    mock.inputs = [(validate: (v: string) => string | undefined, value: string, prompt: string) => {
      assert.equal(value, '66');
      assert.match(prompt, /blocks to edit/);
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

  it('a cache from another model runs only after "Use Anyway"; meanwhile the status bar names the job’s model, not the selected one', async () => {
    mock.reset();
    const ws = tmpDir('layerlab-ws-');
    mock.workspaceFolder = ws;
    mock.config = { 'layerlab.provider': 'cpu' };
    const { model: tiny } = tinyWorkspace(ws);
    // Same width and depth, other weights and architecture: its hidden states are not tiny's.
    const qwen = writeDemoModel(path.join(ws, '.layerlab', 'models', 'qwen2-tiny'), { modelType: 'qwen2', seed: 7 }).dir;
    const api = activateWith(fakeContext(REPO) as never, { spawner: realRuntime(ws) });

    await vscode.commands.executeCommand('layerlab.selectModel', { id: 'm', kind: 'model', label: 'tiny', resourcePath: tiny });
    mock.quickPicks = [line('run')];
    const saved = (await vscode.commands.executeCommand('layerlab.saveHiddenStates')) as JobResult<'save-hidden-states'> | undefined;
    assert.ok(saved, JSON.stringify(mock.shown));
    assert.equal(api.client.model?.path, tiny);

    // Evaluate qwen2-tiny with tiny's cache: the form marks it, Run asks; "Cancel" runs nothing.
    const evaluateQwen = [line('input:model'), 'qwen2-tiny', line('input:hiddenStatesCachePath'), (items: Line[]) => items.find((i) => i.detail === saved.cacheFile), line('field:maxNewTokens'), line('run')];
    mock.quickPicks = [...evaluateQwen];
    mock.inputs = ['2'];
    mock.messageAnswers = [undefined];
    mock.quickPicks.push(undefined); // back at the form after the refusal to confirm: Escape
    mock.shown = [];
    assert.equal(await vscode.commands.executeCommand('layerlab.evaluate'), undefined);
    const modal = mock.shown.find((m) => m.modal)!;
    assert.match(modal.message, /^LayerLab: The hidden-state cache qa\.safetensors was saved from tiny \(hash [0-9a-f]{12}…\), not from qwen2-tiny \(hash [0-9a-f]{12}…\)/);
    assert.deepEqual(modal.actions, ['Use Anyway']);
    assert.equal(fs.existsSync(path.join(ws, '.layerlab', 'output', 'runs', 'qwen2-tiny')), false, 'nothing ran');

    // Confirmed: it runs, and the status bar names qwen2-tiny for the whole job.
    const seen: string[] = [];
    const sub = api.client.onDidProgress(() => seen.push(mock.statusBar.text));
    mock.quickPicks = [...evaluateQwen];
    mock.inputs = ['2'];
    mock.messageAnswers = ['Use Anyway'];
    mock.shown = [];
    const r = (await vscode.commands.executeCommand('layerlab.evaluate')) as JobResult<'evaluate'> | undefined;
    sub.dispose();
    assert.ok(r, JSON.stringify(mock.shown));
    // Every state the status bar showed from the job's start to its end.
    const during = seen;
    assert.ok(during.length >= 3, `the status bar changed during the job: ${JSON.stringify(seen)}`);
    assert.equal(during[0], '$(sync~spin) LayerLab · opening qwen2-tiny', 'from the start, before the runtime released tiny');
    for (const t of during) assert.doesNotMatch(t, /· tiny$/, `never the selected model while the job runs another: ${t}`);
    assert.ok(during.some((t) => /^\$\(sync~spin\) LayerLab \d+%.* · CPU · qwen2-tiny$/.test(t)), `then the job's model, loaded: ${JSON.stringify(during)}`);
    assert.equal(mock.statusBar.text, '$(beaker) LayerLab · CPU · qwen2-tiny', 'after the job: the model the runtime now holds');
    // The run records the mismatch, and the closing message says it.
    assert.match(r.warnings.join('\n'), /computed from another model/);
    assert.match(mock.shown.find((m) => /evaluation finished/.test(m.message))!.message, /Warning: the directions in .* were computed from another model/);
    await deactivate();
  });

  it('a crash during a job says what happened, that the runtime restarts, and what is lost and kept; the views show the partial cache', async () => {
    mock.reset();
    const ws = tmpDir('layerlab-ws-');
    mock.workspaceFolder = ws;
    mock.config = { 'layerlab.provider': 'cpu', 'layerlab.batchSize': 1 };
    const { model } = tinyWorkspace(ws, 400);
    const api = activateWith(fakeContext(REPO) as never, { spawner: realRuntime(ws) });
    await vscode.commands.executeCommand('layerlab.selectModel', { id: 'm', kind: 'model', label: 'tiny', resourcePath: model });
    const pid = api.client.info!.pid;
    let killed = false;
    const sub = api.client.onDidProgress((p) => {
      // Once batches are on disk: a crash in the middle of the work.
      if (!killed && p && p.job === 'save-hidden-states' && p.done >= 20) {
        killed = true;
        process.kill(pid, 'SIGKILL');
      }
    });
    mock.quickPicks = [line('run')];
    assert.equal(await vscode.commands.executeCommand('layerlab.saveHiddenStates'), undefined);
    sub.dispose();
    assert.ok(killed, 'the runtime was killed during the job');
    const failure = mock.shown.find((m) => m.severity === 'error')!;
    assert.equal(
      failure.message,
      'LayerLab: Save Hidden States failed because the LayerLab runtime stopped unexpectedly (killed by SIGKILL). LayerLab is restarting it (restart 1 of 3 restarts within 3 minutes). ' +
        `The model it held (${model}) was unloaded: the next job loads it again. The batches already cached are kept: running Save Hidden States again resumes after them. ` +
        'See the LayerLab output (LayerLab: Show Runtime Log) for its last messages.',
    );
    assert.deepEqual(failure.actions, ['Show Runtime Log', 'Restart Runtime']);
    assert.equal(mock.shown.filter((m) => /stopped unexpectedly/.test(m.message)).length, 1, 'one message for one crash');
    assert.equal(api.client.model, undefined);
    await waitFor(() => api.client.state === 'ready', 30_000);
    const caches = await api.views.cache.nodes();
    assert.match(caches.map((c) => c.description).join('\n'), /partial \d+\/400/, 'the Cache view shows the partial cache without a manual refresh');

    // A crash between jobs is said too, as soon as it happens.
    mock.shown = [];
    process.kill(api.client.info!.pid, 'SIGKILL');
    await waitFor(() => mock.shown.length > 0, 10_000);
    assert.equal(mock.shown[0].severity, 'warning');
    assert.match(mock.shown[0].message, /^LayerLab: The LayerLab runtime stopped unexpectedly \(killed by SIGKILL\)\. LayerLab is restarting it \(restart 2 of 3 restarts within 3 minutes\)\.$/);
    await waitFor(() => api.client.state === 'ready', 30_000);
    await deactivate();
  });

  const stories = sharedFile('stories260K/stories260K.bin');
  it('the Models view lists a llama2.c checkpoint in a folder of its own (beside its tok512.bin), described by the runtime', { skip: stories.skip }, async () => {
    mock.reset();
    const ws = tmpDir('layerlab-ws-');
    mock.workspaceFolder = ws;
    mock.config = { 'layerlab.provider': 'cpu' };
    const dir = path.join(ws, '.layerlab', 'models', 'stories260K');
    fs.mkdirSync(dir, { recursive: true });
    for (const f of ['stories260K.bin', 'tok512.bin']) fs.copyFileSync(path.join(path.dirname(stories.path), f), path.join(dir, f));
    const api = activateWith(fakeContext(REPO) as never, { spawner: realRuntime(ws) });
    await api.client.start();
    api.views.models.refresh();
    const models = await api.views.models.nodes();
    assert.deepEqual(models.map((m) => [m.label, m.description]), [['stories260K/stories260K.bin', 'llama2c · 5 blocks · d_model 64']]);
    assert.deepEqual(models[0].children!.map((c) => c.label), ['architecture', 'blocks', 'd_model', 'vocab', 'format']);
    await deactivate();
  });
});
