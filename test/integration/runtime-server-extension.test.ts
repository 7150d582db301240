// The whole extension in a mocked `vscode` against the real runtime process: "Run Demo" from
// activation to its chart panel and the views showing its model, dataset, cache and run; the
// cache's direction chart; then Select Model and the status bar.
import { fakeContext, mock } from '../extension/vscodeMock';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import * as vscode from 'vscode';
import { activateWith, deactivate } from '../../extension/extension';
import type { RunJobResult } from '../../runtime/protocol/requests';
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
after(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL')));

describe('extension with the real runtime', () => {
  it('Run Demo opens the sweep chart and fills every view; Select Model shows in the status bar', async () => {
    mock.reset();
    const ws = tmpDir('layerlab-ws-');
    mock.workspaceFolder = ws;
    mock.config = { 'layerlab.provider': 'cpu' };
    const context = fakeContext(REPO);
    const api = activateWith(context as never, {
      spawner: () => {
        // cwd is the workspace (as in VS Code), so tsx is named by path, not resolved from there.
        const tsx = pathToFileURL(path.join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
        const c = spawn(process.execPath, ['--import', tsx, path.join(REPO, 'runtime', 'server', 'main.ts'), '--parent-pid', String(process.pid)], {
          cwd: ws,
          env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
        });
        children.push(c);
        return c;
      },
    });
    assert.deepEqual(await api.views.models.nodes(), [], 'nothing before the demo');

    const r = (await vscode.commands.executeCommand('layerlab.runDemo')) as RunJobResult | undefined;
    assert.ok(r, `Run Demo failed: ${JSON.stringify(mock.shown)}`);
    const runsDir = path.join(ws, '.layerlab', 'output', 'runs', 'demo');
    const [runName] = fs.readdirSync(runsDir);
    const run = path.join(runsDir, runName);
    assert.equal(r.files[0], run);
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
      'LayerLab: demo finished. The demo model (.layerlab/models/demo) has random weights, so the numbers show the pipeline working, not a finding. ' +
        `It cached hidden states, computed directions and swept interventions; the sweep's chart is open (.layerlab/output/runs/demo/${runName}).`,
    );
    assert.ok(mock.log.some((l) => l.level === 'info' && l.message.startsWith('Run Demo: layerlab demo --models_path')), 'the CLI twin line is logged');

    const models = await api.views.models.nodes();
    assert.deepEqual(models.map((n) => [n.label, n.description]), [['demo', 'llama · 4 layers · d_model 128 · selected']], 'the demo model is the organism');
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
});
