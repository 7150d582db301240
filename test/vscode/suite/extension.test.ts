/**
 * LayerLab inside a real VS Code (code-server here, desktop VS Code through
 * @vscode/test-electron): the installed extension activates, contributes its commands, runs the
 * demo pipeline through its runtime process (spawned with the editor's own Node), opens the
 * sweep's chart panel, fills its views, opens the direction chart, loads a model, cancels a job
 * and restarts its runtime. The workspace is a fresh folder.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { LayerLabApi } from '../../../extension/extension';
import type { JobResult } from '../../../runtime/protocol/jobs';

describe('LayerLab in VS Code', () => {
  let api: LayerLabApi;
  let ws: string;

  before(async () => {
    const ext = vscode.extensions.getExtension<LayerLabApi>('layerlab.layerlab');
    assert.ok(ext, 'the LayerLab extension is installed');
    api = await ext.activate();
    assert.ok(vscode.workspace.workspaceFolders?.length, 'a folder is open');
    ws = vscode.workspace.workspaceFolders![0].uri.fsPath;
  });

  it('contributes every command it declares, in category LayerLab', async () => {
    const ext = vscode.extensions.getExtension('layerlab.layerlab')!;
    const declared: { command: string; category: string }[] = ext.packageJSON.contributes.commands;
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const c of declared) {
      assert.ok(registered.has(c.command), `${c.command} is registered`);
      assert.equal(c.category, 'LayerLab');
    }
    assert.ok(declared.length >= 10);
  });

  it('Run Demo runs the pipeline on the demo model, opens the sweep as a chart and fills the views', async () => {
    const r = (await vscode.commands.executeCommand('layerlab.runDemo')) as JobResult<'demo'> | undefined;
    assert.ok(r, 'Run Demo returned a result (see the LayerLab output for the error)');
    const runsDir = path.join(ws, '.layerlab', 'output', 'runs', 'demo');
    const runs = fs.readdirSync(runsDir);
    assert.equal(runs.length, 1, `one run file in ${runsDir}: ${runs}`);
    const run = path.join(runsDir, runs[0]);
    assert.equal(r.runFile, run);
    assert.equal(JSON.parse(fs.readFileSync(run, 'utf8')).complete, true);
    assert.ok(fs.existsSync(path.join(ws, '.layerlab', 'models', 'demo', 'model.safetensors')));
    assert.ok(fs.existsSync(path.join(ws, '.layerlab', 'datasets', 'demo-reason-mem.json')));

    // The chart panel is open on the run, as an editor tab of its own.
    assert.deepEqual(api.charts().map((c) => [c.page, c.file]), [['run', run]]);
    const chartTab = () =>
      vscode.window.tabGroups.all
        .flatMap((g) => g.tabs)
        .find((t) => t.input instanceof vscode.TabInputWebview && /layerlab\.runChart$/.test(t.input.viewType));
    // The tab model follows the panel asynchronously.
    for (let i = 0; i < 50 && !chartTab(); i++) await new Promise((r) => setTimeout(r, 100));
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).map((t) => t.label);
    assert.equal(chartTab()?.label, `Run: ${runs[0]}`, `a run chart tab among ${JSON.stringify(tabs)}`);

    assert.deepEqual((await api.views.models.nodes()).map((n) => n.label), ['demo']);
    assert.deepEqual((await api.views.datasets.nodes()).map((n) => n.label), ['demo-reason-mem.json']);
    assert.deepEqual((await api.views.runs.nodes()).map((n) => n.label), ['sweep · demo-reason-mem · demo']);
    const caches = await api.views.cache.nodes();
    assert.deepEqual(caches.map((n) => n.label), ['demo-reason-mem · demo']);
    assert.equal(caches[0].children?.length, 4, 'four hook points');
    assert.equal(api.client.state, 'ready');
  });

  it('Open Run Chart reveals the open chart; Chart Direction Quality opens the cache’s directions', async () => {
    const [runNode] = await api.views.runs.nodes();
    await vscode.commands.executeCommand('layerlab.openRunChart', runNode.resourcePath);
    assert.equal(api.charts().length, 1, 'the open panel is revealed, not duplicated');
    const [cache] = await api.views.cache.nodes();
    const stats = await vscode.commands.executeCommand('layerlab.chartDirections', cache);
    assert.equal(stats, path.join(ws, '.layerlab', 'output', 'hidden_states', 'demo', 'demo-reason-mem.directions.json'));
    assert.deepEqual(api.charts().map((c) => c.page).sort(), ['directions', 'run']);
  });

  it('Select Model loads the demo model and reports its provider', async () => {
    const [demo] = await api.views.models.nodes();
    await vscode.commands.executeCommand('layerlab.selectModel', demo);
    const m = api.client.model;
    assert.ok(m, 'a model is loaded');
    assert.equal(m.architecture, 'llama');
    assert.equal(m.nBlocks, 4, 'the demo model is the organism');
    assert.equal(m.provider, 'cpu');
    assert.match((await api.views.models.nodes())[0].description ?? '', /· CPU · loaded$/);
  });

  it('a job from the palette waits in its form: closing the form runs nothing', async () => {
    const runs = () => fs.readdirSync(path.join(ws, '.layerlab', 'output', 'runs', 'demo'));
    const before = runs();
    const pending = vscode.commands.executeCommand('layerlab.evaluate');
    // The form is a quick pick: give it time to open, then close it as Escape would.
    await new Promise((r) => setTimeout(r, 1500));
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    assert.equal(await pending, undefined);
    assert.deepEqual(runs(), before, 'no run was written');
  });

  it('cancelling a job stops it in the runtime', async () => {
    const cts = new vscode.CancellationTokenSource();
    const s = api.settings()!;
    const out = path.join(s.outputPath, 'cancelled');
    const job = api.client.runJob('demo', { modelsPath: s.modelsPath, datasetsPath: s.datasetsPath, outputPath: out }, {
      token: cts.token,
      onProgress: (p) => {
        // Once it is caching hidden states (past writing the inputs and loading the model).
        if (p.done >= 1) cts.cancel();
      },
    });
    await assert.rejects(job, (e: Error & { kind?: string }) => e.kind === 'cancelled');
    assert.equal(api.client.state, 'ready');
    assert.ok(!fs.existsSync(path.join(out, 'runs')), 'no run was written');
  });

  it('Restart Runtime starts a fresh runtime process', async () => {
    const before = api.client.info?.pid;
    await vscode.commands.executeCommand('layerlab.restartRuntime');
    assert.equal(api.client.state, 'ready');
    assert.ok(api.client.info?.pid && api.client.info.pid !== before);
  });
});
