// The whole extension in a mocked `vscode` against the real runtime process: "Run Demo" from
// activation to the views showing its model and result, then Select Model and the status bar.
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
after(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL')));

describe('extension with the real runtime', () => {
  it('Run Demo fills the Models and Runs views and opens the result; Select Model shows in the status bar', async () => {
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
    const gen = path.join(ws, '.layerlab', 'output', 'demo', 'generations.json');
    assert.ok(fs.existsSync(gen));
    assert.deepEqual(mock.openedDocuments, [gen], 'the result is opened');
    assert.equal(mock.progress[0].title, 'LayerLab: Run Demo');
    assert.ok(mock.progress[0].reports.length >= 2, 'progress reached the notification');
    assert.equal(Math.round(mock.progress[0].reports.reduce((a, p) => a + (p.increment ?? 0), 0)), 100);
    assert.equal(
      mock.shown.at(-1)!.message,
      'LayerLab: demo finished. The demo model is in .layerlab/models/demo; its generations (.layerlab/output/demo/generations.json) are open.',
    );
    assert.ok(mock.log.some((l) => l.level === 'info' && l.message.startsWith('Run Demo: layerlab demo --models_path')), 'the CLI twin line is logged');

    const models = await api.views.models.nodes();
    assert.deepEqual(models.map((n) => [n.label, n.description]), [['demo', 'llama · 2 layers · d_model 64 · selected']]);
    const runs = await api.views.runs.nodes();
    assert.deepEqual(runs.map((n) => n.label), ['demo generations']);
    assert.deepEqual(await api.views.cache.nodes(), [], 'the runtime lists no caches yet');

    await vscode.commands.executeCommand('layerlab.selectModel', models[0]);
    assert.equal(mock.statusBar.text, '$(beaker) LayerLab · CPU · demo');
    const loaded = await api.views.models.nodes();
    assert.match(loaded[0].description!, /^llama · 2 blocks · d_model 64 · CPU · loaded$/);

    const pid = api.client.info!.pid;
    await deactivate();
    assert.equal(api.client.state, 'stopped');
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the runtime process is gone');
  });
});
