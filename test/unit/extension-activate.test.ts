// The extension inside a mocked `vscode`: the manifest and the code agree, untrusted
// workspaces are refused, and commands ask only for what is missing, send typed params (logged
// as the CLI twin), read typed results, show progress, map Cancel to cancellation and word
// failures.
import { mock, fakeContext } from '../extension/vscodeMock';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import * as vscode from 'vscode';
import { INTERNAL_COMMANDS, LayerLabCommands, PALETTE_COMMANDS, type ChartOpener, type CommandDeps, type ViewName } from '../../extension/commands';
import { activateWith } from '../../extension/extension';
import { RuntimeRequestError, type RunJobOptions } from '../../extension/runtimeClient';
import { resolveSettings, SETTING_DEFAULTS } from '../../extension/settings';
import type { TreeNodeData } from '../../extension/treeData';
import { NodeTreeProvider } from '../../extension/views';
import { THINKING_COMMANDS, THINKING_INTERNAL_COMMANDS } from '../../extension/thinking/commands';
import { THINKING_VIEW_TYPE } from '../../runtime/protocol/thinkingWebview';
import { JOBS, type JobName, type JobParamsIn, type JobResult, type ModelRef } from '../../runtime/protocol/jobs';
import type { ModelFacts, ModelInfo } from '../../runtime/protocol/requests';
import { CHART_VIEW_TYPES } from '../../runtime/protocol/webview';
import { fixtureRun } from '../helpers/runFixtures';
import { tmpDir } from '../helpers/tmp';

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));

function write(file: string, content: string | object): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
}

beforeEach(() => mock.reset());

describe('manifest and code agree', () => {
  it('every palette command is contributed with its title in category LayerLab, and registered', () => {
    const contributed = new Map<string, { title: string; category: string }>(pkg.contributes.commands.map((c: { command: string }) => [c.command, c]));
    const palette = { ...PALETTE_COMMANDS, ...THINKING_COMMANDS };
    const internal = { ...INTERNAL_COMMANDS, ...THINKING_INTERNAL_COMMANDS };
    for (const [id, title] of Object.entries({ ...palette, ...internal })) {
      assert.equal(contributed.get(id)?.title, title, id);
      assert.equal(contributed.get(id)?.category, 'LayerLab', id);
    }
    assert.equal(contributed.size, Object.keys(palette).length + Object.keys(internal).length, 'no contributed command without code');
    const hidden = pkg.contributes.menus.commandPalette.filter((m: { when: string }) => m.when === 'false').map((m: { command: string }) => m.command);
    assert.deepEqual(hidden.sort(), Object.keys(internal).sort(), 'internal commands are hidden from the palette');

    mock.workspaceFolder = tmpDir();
    const api = activateWith(fakeContext(tmpDir()) as never, { spawner: () => assert.fail('activation must not start the runtime') });
    assert.deepEqual([...mock.registered.keys()].sort(), [...contributed.keys()].sort());
    assert.deepEqual(
      [...Object.values(api.views), api.thinking.view].map((v) => v.viewId).sort(),
      pkg.contributes.views.layerlab.map((v: { id: string }) => v.id).sort(),
    );
    assert.equal(mock.statusBar.text, '$(circle-outline) LayerLab');
    assert.deepEqual([...mock.serializers.keys()].sort(), [...Object.values(CHART_VIEW_TYPES), THINKING_VIEW_TYPE].sort(), 'chart panels are restored after a reload');
  });

  it('activates when VS Code restores a chart panel, and ships the chart pages', () => {
    for (const viewType of [...Object.values(CHART_VIEW_TYPES), THINKING_VIEW_TYPE]) assert.ok(pkg.activationEvents.includes(`onWebviewPanel:${viewType}`), viewType);
    const ignore = fs.readFileSync(path.join(__dirname, '..', '..', '.vscodeignore'), 'utf8');
    for (const f of ['*.js', '*.css', '*.ttf']) assert.match(ignore, new RegExp(`^!dist/webview/${f.replace('.', '\\.').replace('*', '\\*')}$`, 'm'));
  });

  it('context menus name only node kinds the views create', () => {
    const kinds = new Set(['model', 'dataset', 'cacheEntry', 'cacheFile', 'cacheHook', 'run', 'detail', 'message', 'thinkingGroup', 'chains', 'annotations', 'vectors', 'thinkingChart']);
    for (const m of pkg.contributes.menus['view/item/context'] as { when: string }[]) {
      const named = [...m.when.matchAll(/viewItem == (\w+)/g)].map((x) => x[1]);
      const re = /viewItem =~ \/(.+)\/$/.exec(m.when)?.[1];
      const matched = re ? [...kinds].filter((k) => new RegExp(re).test(k)) : [];
      assert.ok(named.length || matched.length, `${m.when} matches a node kind`);
      for (const n of named) assert.ok(kinds.has(n), `${m.when}: no node kind ${n}`);
    }
  });

  it('declares limited untrusted support and settings with the code’s defaults', () => {
    assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
    assert.deepEqual(pkg.capabilities.untrustedWorkspaces.restrictedConfigurations, ['layerlab.nodePath']);
    const props = pkg.contributes.configuration.properties;
    for (const [k, v] of Object.entries(SETTING_DEFAULTS)) assert.equal(props[`layerlab.${k}`].default, v, k);
    assert.equal(props['layerlab.batchSize'].default, null, "no batch size setting: each job's own default");
    assert.deepEqual(props['layerlab.provider'].enum, ['auto', 'cuda', 'cpu']);
    assert.equal(props['layerlab.nodePath'].default, '');
    assert.equal(pkg.contributes.viewsContainers.activitybar[0].title, 'LayerLab');
    assert.ok(fs.existsSync(path.join(__dirname, '..', '..', pkg.contributes.viewsContainers.activitybar[0].icon)), 'activity bar icon exists');
    assert.equal(pkg.main, './dist/extension.js');
  });
});

describe('untrusted workspace', () => {
  it('browses but refuses to run models, without starting the runtime', async () => {
    mock.trusted = false;
    const ws = tmpDir();
    mock.workspaceFolder = ws;
    write(path.join(ws, '.layerlab', 'models', 'demo', 'config.json'), { model_type: 'llama', num_hidden_layers: 2, hidden_size: 64 });
    let spawned = false;
    const api = activateWith(fakeContext(tmpDir()) as never, {
      spawner: () => {
        spawned = true;
        throw new Error('no');
      },
    });
    assert.equal(mock.statusBar.text, '$(shield) LayerLab: restricted');
    assert.deepEqual((await api.views.models.nodes()).map((n) => n.label), ['demo'], 'the Models view still lists models');
    for (const id of ['layerlab.runDemo', 'layerlab.selectModel', 'layerlab.evaluate', 'layerlab.restartRuntime']) {
      mock.shown = [];
      assert.equal(await vscode.commands.executeCommand(id), undefined);
      assert.equal(mock.shown.length, 1, id);
      assert.equal(mock.shown[0].severity, 'warning');
      assert.match(mock.shown[0].message, /needs a trusted workspace/);
    }
    assert.equal(spawned, false);
    assert.equal(mock.progress.length, 0);
  });
});

const facts = (model: string, nBlocks: number): ModelFacts => ({
  path: model, format: 'huggingface', architecture: 'llama', modelType: 'llama', contentHash: 'h', dModel: 64, vocabSize: 259, maxSeqLen: 512, nBlocks,
  blocks: Array.from({ length: nBlocks }, (_, index) => ({ index, part: 'layer', label: `layer ${index}` })), hookPoints: 2 * nBlocks, options: {}, tokenizer: model,
});

/** Typed results a job might return, for the fake runtime. */
function resultOf(job: JobName, params: Record<string, unknown>): unknown {
  const accuracy = { correct: 1, total: 2, unparsed: 0, accuracy: 0.5, ci95: [0.1, 0.9] };
  switch (job) {
    case 'save-hidden-states':
      return { cacheFile: '/o/c.safetensors', records: 2, hooks: ['blocks.0.hook_resid_post'], resumedFrom: 0, alreadyComplete: false };
    case 'compute-directions':
      return { directionsFile: String(params.cache).replace(/\.safetensors$/, '.directions.safetensors'), statsFile: String(params.cache).replace(/\.safetensors$/, '.directions.json'), layers: [] };
    case 'evaluate':
    case 'sweep':
      return { runFile: '/o/runs/r.json', lines: [], summaries: [{ id: 'baseline', reasoning: accuracy, memorization: accuracy }], itemsPerSecond: 1, warnings: [] };
    case 'info':
      return { ...facts(String(params.model), 2), weightsBytes: 1, provider: 'cpu', graphDir: '/g' } satisfies ModelInfo;
    default:
      throw new Error(`no fake result for ${job}`);
  }
}

/** A runtime client that records what commands ask of it. */
class FakeClient {
  jobs: { job: JobName; params: Record<string, unknown>; opts: RunJobOptions }[] = [];
  described: ModelRef[] = [];
  model?: ModelInfo;
  info = undefined;
  behaviour: (job: JobName, opts: RunJobOptions, params: Record<string, unknown>) => Promise<unknown> = async (job, _opts, params) => resultOf(job, params);
  async runJob<N extends JobName>(job: N, params: JobParamsIn<N>, opts: RunJobOptions = {}): Promise<JobResult<N>> {
    // What the runtime would refuse, the fake refuses too: the params must fit the job's schema.
    JOBS[job].params.parse(params);
    this.jobs.push({ job, params: params as Record<string, unknown>, opts });
    return (await this.behaviour(job, opts, params as Record<string, unknown>)) as JobResult<N>;
  }
  async describeModel(ref: ModelRef): Promise<ModelFacts> {
    this.described.push(ref);
    return facts(ref.model!, 8);
  }
  async restart(): Promise<void> {}
}

function setup(opts: { models?: string[]; datasets?: string[]; caches?: string[]; selection?: Partial<Record<ViewName, TreeNodeData>> } = {}) {
  const ws = tmpDir();
  mock.workspaceFolder = ws;
  const s = resolveSettings({ provider: 'cpu', threads: 2, batchSize: 3 }, ws);
  for (const m of opts.models ?? []) write(path.join(s.modelsPath, m, 'config.json'), { model_type: 'llama' });
  for (const d of opts.datasets ?? []) write(path.join(s.datasetsPath, d), [{ question: 'q' }]);
  for (const c of opts.caches ?? []) write(path.join(s.outputPath, 'hidden_states', c), 'x');
  const client = new FakeClient();
  const state = fakeContext(ws).workspaceState;
  const views = Object.fromEntries(
    (['models', 'datasets', 'cache', 'runs'] as const).map((v) => [v, new NodeTreeProvider(`layerlab.${v}`, async () => [], () => {})]),
  ) as Record<ViewName, NodeTreeProvider>;
  const log = { info() {}, warn() {}, error() {}, show() {} };
  const charts = { opened: [] as [keyof ChartOpener, string][] } as ChartOpener & { opened: [keyof ChartOpener, string][] };
  for (const k of ['openChart', 'openRunChart', 'openDirectionChart'] as const) charts[k] = async (f: string) => void charts.opened.push([k, f]);
  const deps: CommandDeps = {
    client: client as unknown as CommandDeps['client'],
    settings: () => s,
    log,
    workspaceState: state as never,
    views,
    selection: (v) => opts.selection?.[v],
    charts,
  };
  const commands = new LayerLabCommands(deps);
  commands.register();
  return { ws, s, client, state, charts };
}

/** Lets a message's button handler (not awaited by the command) run. */
const settle = () => new Promise((r) => setTimeout(r, 10));

describe('commands', () => {
  it('Evaluate asks only for what is missing, offers the runtime\'s block count, and sends typed params under a cancellable progress', async () => {
    const { s, client } = setup({ models: ['demo'], datasets: ['a.json', 'b.json'], caches: ['mmlu.safetensors'] });
    mock.quickPicks = ['b.json', 'pre'];
    mock.inputs = [null, '0.5']; // layers: accept the proposed middle layer; scale 0.5
    const r = await vscode.commands.executeCommand('layerlab.evaluate');
    assert.ok(r, `command failed: ${JSON.stringify(mock.shown)}`);
    // One model and one cache: not asked. Two datasets and the hook: asked.
    assert.equal(mock.quickPickCalls.length, 2);
    assert.match(mock.quickPickCalls[0].placeHolder!, /^Dataset/);
    const model = path.join(s.modelsPath, 'demo');
    assert.deepEqual(client.described, [{ model, provider: 'cpu', threads: 2 }], 'the block count comes from the runtime, without loading');
    assert.equal(mock.inputCalls[0].value, '4', 'default layer is the middle of 8 blocks');
    assert.match(mock.inputCalls[0].prompt!, /0\.\.7/);
    assert.equal(mock.inputCalls[1].value, '0.1', "the scale's default is the job's");
    assert.equal(client.jobs.length, 1);
    assert.equal(client.jobs[0].job, 'evaluate');
    assert.deepEqual(client.jobs[0].params, {
      model,
      provider: 'cpu',
      threads: 2,
      hiddenStatesCachePath: path.join(s.outputPath, 'hidden_states', 'mmlu.safetensors'),
      dataFile: path.join(s.datasetsPath, 'b.json'),
      withIntervention: true,
      layerIndices: [4],
      withPreHook: true,
      scale: 0.5,
      outputPath: path.join(s.outputPath, 'runs'),
      batchSize: 3,
    });
    assert.deepEqual(mock.progress.map((p) => [p.title, p.cancellable]), [['LayerLab: Evaluate Accuracy with Intervention', true]]);
  });

  it('takes the model and dataset from the tree selection instead of asking', async () => {
    const { s, client } = setup({
      models: ['a', 'b'],
      datasets: ['x.json', 'y.json'],
      selection: {
        models: { id: 'm', kind: 'model', label: 'b', resourcePath: '/elsewhere/b' },
        datasets: { id: 'd', kind: 'dataset', label: 'y', resourcePath: '/elsewhere/y.json' },
      },
    });
    await vscode.commands.executeCommand('layerlab.saveHiddenStates');
    assert.equal(mock.quickPickCalls.length, 0);
    assert.deepEqual(client.jobs[0].params, {
      model: '/elsewhere/b',
      provider: 'cpu',
      threads: 2,
      dataFilePath: '/elsewhere/y.json',
      outputPath: path.join(s.outputPath, 'hidden_states'),
      dataBatchSize: 3,
    });
  });

  it('a context-menu node wins over the selection', async () => {
    const { client } = setup({ models: ['a'], datasets: ['x.json'], selection: { datasets: { id: 'd', kind: 'dataset', label: 'x', resourcePath: '/sel.json' } } });
    await vscode.commands.executeCommand('layerlab.saveHiddenStates', { id: 'n', kind: 'dataset', label: 'n', resourcePath: '/node.json' });
    assert.equal(client.jobs[0].params.dataFilePath, '/node.json');
  });

  it('reports progress as increments and turns Cancel into a cancelled job', async () => {
    const { client } = setup();
    mock.cancelOnFirstReport = true;
    client.behaviour = async (_job, opts) => {
      opts.onProgress?.({ done: 1, total: 4, message: 'writing', rate: 0.5, etaSeconds: 6 });
      assert.equal(opts.token?.isCancellationRequested, true, 'Cancel reached the token given to the client');
      throw new RuntimeRequestError('cancelled', 'cancelled');
    };
    assert.equal(await vscode.commands.executeCommand('layerlab.runDemo'), undefined);
    assert.deepEqual(mock.progress[0].reports, [{ increment: 25, message: '1/4 (25%), 0.5/s, ETA 6 s, writing' }]);
    assert.equal(mock.shown.length, 1);
    assert.equal(mock.shown[0].severity, 'info');
    assert.match(mock.shown[0].message, /Run Demo was cancelled/);
  });

  it('Escape on a prompt ends the command quietly', async () => {
    const { client } = setup({ models: ['a'], datasets: ['x.json', 'y.json'] });
    mock.quickPicks = [undefined];
    assert.equal(await vscode.commands.executeCommand('layerlab.saveHiddenStates'), undefined);
    assert.equal(client.jobs.length, 0);
    assert.deepEqual(mock.shown, []);
  });

  it('says what is missing and offers the command that makes it', async () => {
    setup({ models: ['a'] });
    mock.messageAnswers = ['Add Dataset'];
    mock.openDialogs = [undefined];
    await vscode.commands.executeCommand('layerlab.saveHiddenStates');
    assert.equal(mock.shown[0].severity, 'error');
    assert.match(mock.shown[0].message, /no datasets in .*\.layerlab\/datasets\. Add one/);
    assert.deepEqual(mock.shown[0].actions, ['Add Dataset']);
    await new Promise((r) => setImmediate(r));
    assert.ok(mock.executed.some((e) => e.command === 'layerlab.addDataset'), 'the action ran Add Dataset');
  });

  it('a model the runtime cannot read is reported with the runtime\'s words and the log to look at', async () => {
    const { client } = setup({ caches: ['c.safetensors'] });
    client.behaviour = async () => {
      throw new RuntimeRequestError('data', '/o/c.safetensors: not a LayerLab cache');
    };
    await vscode.commands.executeCommand('layerlab.computeDirections');
    assert.equal(mock.shown[0].severity, 'error');
    assert.match(mock.shown[0].message, /Compute Directions failed: \/o\/c\.safetensors: not a LayerLab cache/);
    assert.deepEqual(mock.shown[0].actions, ['Show Runtime Log']);
  });

  it('Select Model loads with the provider and threads from settings and remembers the choice', async () => {
    const { s, client, state } = setup({ models: ['a', 'b'] });
    mock.quickPicks = ['b'];
    const r = await vscode.commands.executeCommand('layerlab.selectModel');
    assert.equal(r, path.join(s.modelsPath, 'b'));
    assert.deepEqual(client.jobs.map((j) => [j.job, j.params]), [['info', { model: path.join(s.modelsPath, 'b'), provider: 'cpu', threads: 2 }]], 'the info job, whose model the runtime keeps');
    assert.equal(state.get('layerlab.selectedModel'), path.join(s.modelsPath, 'b'));
    assert.match(mock.shown[0].message, /b loaded — llama \(llama graph\), 2 blocks, d_model 64, on CPU/);
    // The remembered model is now the default: Save Hidden States does not ask for one.
    write(path.join(s.datasetsPath, 'x.json'), []);
    await vscode.commands.executeCommand('layerlab.saveHiddenStates');
    assert.equal(client.jobs[1].params.model, path.join(s.modelsPath, 'b'));
  });

  it('Add Dataset copies the file into the datasets folder and refuses other files', async () => {
    const { s } = setup();
    const src = path.join(tmpDir(), 'gsm8k.jsonl');
    write(src, '{"question":"q"}\n');
    mock.openDialogs = [[src]];
    const target = await vscode.commands.executeCommand('layerlab.addDataset');
    assert.equal(target, path.join(s.datasetsPath, 'gsm8k.jsonl'));
    assert.equal(fs.readFileSync(target as string, 'utf8'), '{"question":"q"}\n');
    await vscode.commands.executeCommand('layerlab.addDataset', path.join(tmpDir(), 'notes.txt'));
    assert.match(mock.shown.at(-1)!.message, /notes\.txt is not a dataset file/);
  });

  it('Open Run Chart lists the runs and opens the chosen one as a chart', async () => {
    const { s, charts } = setup();
    const run = path.join(s.outputPath, 'runs', 'demo', 'demo-reason-mem.sweep.abc.json');
    const fixture = fixtureRun({ partialAfter: 1 });
    write(run, { ...fixture, spec: { ...fixture.spec, command: 'sweep', data: { ...fixture.spec.data, name: 'demo-reason-mem' } } });
    write(path.join(s.outputPath, 'runs', 'notes.json'), { format: 'other' });
    mock.quickPicks = [(items: { label: string }[]) => items[0]];
    assert.equal(await vscode.commands.executeCommand('layerlab.openRunChart'), run);
    assert.deepEqual(mock.quickPickCalls[0].items.map((i) => i.label), ['sweep · demo-reason-mem']);
    assert.match(mock.quickPickCalls[0].items[0].description!, /^partial · /);
    assert.deepEqual(charts.opened, [['openChart', run]]);
    assert.deepEqual(mock.openedDocuments, [], 'no text editor');
    // From the Runs view: the node's file, no question.
    await vscode.commands.executeCommand('layerlab.openRunChart', { id: 'r', kind: 'run', label: 'x', resourcePath: '/r.json' });
    assert.deepEqual(charts.opened[1], ['openChart', '/r.json']);
    assert.equal(mock.quickPickCalls.length, 1);
  });

  it('Open Run Chart without runs offers the demo', async () => {
    setup();
    await vscode.commands.executeCommand('layerlab.openRunChart');
    assert.match(mock.shown[0].message, /no runs in .*runs yet/);
    assert.deepEqual(mock.shown[0].actions, ['Run Demo']);
  });

  it('Run Demo sends the folders from settings, opens the sweep as a chart and says the weights are random', async () => {
    const { s, client, charts, state } = setup();
    const run = path.join(s.outputPath, 'runs', 'demo', 'demo-reason-mem.sweep.abc.json');
    client.behaviour = async () => ({ modelDir: path.join(s.modelsPath, 'demo'), dataFile: '', cacheFile: '', directionsFile: '', statsFile: '', runFile: run, lines: [] });
    const r = (await vscode.commands.executeCommand('layerlab.runDemo')) as JobResult<'demo'>;
    assert.equal(r.runFile, run);
    assert.deepEqual(client.jobs[0].params, { modelsPath: s.modelsPath, datasetsPath: s.datasetsPath, outputPath: s.outputPath, provider: 'cpu', threads: 2 });
    assert.deepEqual(charts.opened, [['openRunChart', run]]);
    assert.equal(state.get('layerlab.selectedModel'), path.join(s.modelsPath, 'demo'));
    assert.equal(mock.shown.length, 1);
    assert.match(mock.shown[0].message, /^LayerLab: demo finished\. The demo model \(\.layerlab\/models\/demo\) has random weights/);
    assert.match(mock.shown[0].message, /chart is open \(\.layerlab\/output\/runs\/demo\/demo-reason-mem\.sweep\.abc\.json\)/);
  });

  it('Run Demo still succeeds when the chart cannot open, and offers the run file', async () => {
    const { s, client, charts } = setup();
    const run = path.join(s.outputPath, 'runs', 'demo', 'd.sweep.x.json');
    client.behaviour = async () => ({ modelDir: '', dataFile: '', cacheFile: '', directionsFile: '', statsFile: '', runFile: run, lines: [] });
    charts.openRunChart = async () => {
      throw new Error('d.sweep.x.json: field results: Required');
    };
    mock.messageAnswers = ['Open Run File'];
    assert.ok(await vscode.commands.executeCommand('layerlab.runDemo'));
    assert.match(mock.shown[0].message, /the chart did not open: d\.sweep\.x\.json: field results/);
    await settle();
    assert.deepEqual(mock.openedDocuments, [run]);
  });

  it('Save Hidden States offers Compute Directions on the new cache; its chart follows', async () => {
    const { s, client, charts } = setup({ models: ['a'], datasets: ['x.json'] });
    const cache = path.join(s.outputPath, 'hidden_states', 'a', 'x.safetensors');
    const stats = path.join(s.outputPath, 'hidden_states', 'a', 'x.directions.json');
    client.behaviour = async (job, _opts, params) =>
      job === 'save-hidden-states' ? { cacheFile: cache, records: 1, hooks: [], resumedFrom: 0, alreadyComplete: false } : resultOf(job, params);
    mock.messageAnswers = ['Compute Directions', 'Open Chart'];
    await vscode.commands.executeCommand('layerlab.saveHiddenStates');
    assert.match(mock.shown[0].message, /hidden states of x\.json saved to \.layerlab\/output\/hidden_states\/a\/x\.safetensors/);
    await settle();
    assert.deepEqual(client.jobs.map((j) => j.job), ['save-hidden-states', 'compute-directions']);
    assert.deepEqual(client.jobs[1].params, { cache }, 'on the cache the first job named');
    assert.match(mock.shown[1].message, /directions computed from x\.safetensors/);
    assert.deepEqual(mock.shown[1].actions, ['Open Chart']);
    await settle();
    assert.deepEqual(charts.opened, [['openChart', stats]], "the statistics file the job's result names");
  });

  it('Chart Direction Quality opens the statistics beside the cache, or offers to compute them first', async () => {
    const { s, client, charts } = setup({ caches: ['a.safetensors', 'b.safetensors'] });
    const dir = path.join(s.outputPath, 'hidden_states');
    write(path.join(dir, 'a.directions.json'), {});
    write(path.join(dir, 'a.directions.safetensors'), 'x');
    const node = (f: string) => ({ id: f, kind: 'cacheEntry' as const, label: f, resourcePath: path.join(dir, f) });
    assert.equal(await vscode.commands.executeCommand('layerlab.chartDirections', node('a.safetensors')), path.join(dir, 'a.directions.json'));
    assert.deepEqual(charts.opened, [['openDirectionChart', path.join(dir, 'a.directions.json')]]);
    assert.equal(client.jobs.length, 0);

    mock.messageAnswers = ['Compute Directions'];
    assert.equal(await vscode.commands.executeCommand('layerlab.chartDirections', node('b.safetensors')), undefined);
    assert.match(mock.shown[0].message, /no directions have been computed from b\.safetensors yet/);
    await settle();
    assert.deepEqual(client.jobs.map((j) => [j.job, j.params]), [['compute-directions', { cache: path.join(dir, 'b.safetensors') }]]);
    assert.deepEqual(charts.opened[1], ['openDirectionChart', path.join(dir, 'b.directions.json')], 'the chart opens once computed');
    assert.equal(mock.shown.length, 1, 'no second offer');

    // From the palette: the caches to choose from leave the directions files out.
    mock.quickPicks = [(items: { label: string }[]) => items.find((i) => i.label === 'a.safetensors')];
    await vscode.commands.executeCommand('layerlab.chartDirections');
    assert.deepEqual(mock.quickPickCalls[0].items.map((i) => i.label), ['a.safetensors', 'b.safetensors']);
  });

  it('a finished sweep or evaluation offers the chart of the run file its result names', async () => {
    const { s, client, charts } = setup({ models: ['a'], datasets: ['x.json'], caches: ['c.safetensors'] });
    const run = path.join(s.outputPath, 'runs', 'a', 'x.sweep.new.json');
    client.behaviour = async () => ({ runFile: run, lines: [], summaries: [], itemsPerSecond: 1, warnings: [] });
    mock.quickPicks = ['post'];
    mock.inputs = [null];
    mock.messageAnswers = ['Open Chart'];
    await vscode.commands.executeCommand('layerlab.sweep');
    assert.deepEqual(client.jobs[0].params.scales, [0.1]);
    assert.equal(client.jobs[0].params.withPostHook, true);
    assert.match(mock.shown[0].message, /layer sweep finished: \.layerlab\/output\/runs\/a\/x\.sweep\.new\.json/);
    await settle();
    assert.deepEqual(charts.opened, [['openChart', run]]);

    mock.quickPicks = ['post'];
    mock.inputs = [null, null];
    mock.messageAnswers = ['Open Chart'];
    await vscode.commands.executeCommand('layerlab.evaluate');
    await settle();
    assert.deepEqual(charts.opened[1], ['openChart', run]);
  });
});
