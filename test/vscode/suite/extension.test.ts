/**
 * LayerLab inside a real VS Code (code-server here, desktop VS Code through
 * @vscode/test-electron): the installed extension activates, contributes its commands, runs the
 * demo through its runtime process (spawned with the editor's own Node), fills its views,
 * loads a model, cancels a job and restarts its runtime. The workspace is a fresh folder.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { LayerLabApi } from '../../../extension/extension';
import type { RunJobResult } from '../../../runtime/protocol/requests';

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

  it('Run Demo writes the demo model and its result, opens it and fills the views', async () => {
    const r = (await vscode.commands.executeCommand('layerlab.runDemo')) as RunJobResult | undefined;
    assert.ok(r, 'Run Demo returned a result (see the LayerLab output for the error)');
    const gen = path.join(ws, '.layerlab', 'output', 'demo', 'generations.json');
    assert.ok(fs.existsSync(gen), `${gen} exists`);
    assert.ok(fs.existsSync(path.join(ws, '.layerlab', 'models', 'demo', 'model.safetensors')));
    assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, gen, 'the result is open');
    assert.deepEqual((await api.views.models.nodes()).map((n) => n.label), ['demo']);
    assert.deepEqual((await api.views.runs.nodes()).map((n) => n.label), ['demo generations']);
    assert.equal(api.client.state, 'ready');
  });

  it('Select Model loads the demo model and reports its provider', async () => {
    const [demo] = await api.views.models.nodes();
    await vscode.commands.executeCommand('layerlab.selectModel', demo);
    const m = api.client.model;
    assert.ok(m, 'a model is loaded');
    assert.equal(m.architecture, 'llama');
    assert.equal(m.nBlocks, 2);
    assert.equal(m.provider, 'cpu');
    assert.match((await api.views.models.nodes())[0].description ?? '', /· CPU · loaded$/);
  });

  it('cancelling a job stops it in the runtime', async () => {
    const cts = new vscode.CancellationTokenSource();
    const s = api.settings()!;
    const job = api.client.runJob('demo', ['--models_path', s.modelsPath, '--output_path', path.join(s.outputPath, 'cancelled'), '--prompts', '100000'], {
      token: cts.token,
      onProgress: (p) => {
        if (p.done >= 3) cts.cancel();
      },
    });
    await assert.rejects(job, (e: Error & { kind?: string }) => e.kind === 'cancelled');
    assert.equal(api.client.state, 'ready');
  });

  it('Restart Runtime starts a fresh runtime process', async () => {
    const before = api.client.info?.pid;
    await vscode.commands.executeCommand('layerlab.restartRuntime');
    assert.equal(api.client.state, 'ready');
    assert.ok(api.client.info?.pid && api.client.info.pid !== before);
  });
});
