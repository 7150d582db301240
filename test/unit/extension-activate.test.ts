// The extension inside a mocked `vscode`: the manifest and the code agree (commands, views,
// the walkthrough), untrusted workspaces are refused, and every job command states what it will
// use in its form before it runs — pre-filled from the tree selection, never silently — offers
// every parameter of its schema, checks that a cache belongs to the model, sends typed params
// (logged as the CLI twin), reads typed results, shows progress with rate and ETA, maps Cancel
// to cancellation, refreshes the views however a job ends and words failures.
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
import { writeSafetensors } from '../../models/safetensors';
import { fieldsOf } from '../../runtime/protocol/argv';
import { FORM_LAYOUTS } from '../../extension/jobForm';
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

  it('a first-run walkthrough: demo, model, dataset, cache, directions, evaluate — each step a button running a palette command', () => {
    const [w] = pkg.contributes.walkthroughs as { id: string; steps: { id: string; description: string; media: { markdown: string }; completionEvents: string[] }[] }[];
    assert.equal(w!.id, 'layerlab.start');
    const buttons = w!.steps.map((st) => [...st.description.matchAll(/\]\(command:([\w.]+)\)/g)].map((m) => m[1]));
    assert.deepEqual(buttons, [['layerlab.runDemo'], ['layerlab.selectModel'], ['layerlab.addDataset'], ['layerlab.saveHiddenStates'], ['layerlab.computeDirections'], ['layerlab.evaluate']]);
    for (const [i, st] of w!.steps.entries()) {
      assert.ok(buttons[i]![0]! in PALETTE_COMMANDS, `${st.id}: its button runs a palette command`);
      assert.deepEqual(st.completionEvents, [`onCommand:${buttons[i]![0]}`], `${st.id} is done once its command ran`);
      const media = path.join(__dirname, '..', '..', st.media.markdown);
      assert.ok(fs.existsSync(media), `${st.id}: ${st.media.markdown} exists`);
      assert.match(st.media.markdown, /^extension\/media\//, 'packaged: .vscodeignore keeps extension/media/**');
    }
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
    assert.deepEqual(props['layerlab.provider'].enum, ['auto', 'cuda', 'webgpu', 'cpu']);
    assert.deepEqual(props['layerlab.weights'].enum, ['fp32', 'fp16', 'int8', 'int4']);
    assert.equal(props['layerlab.weights'].enumDescriptions.length, 4);
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

const facts = (model: string, nBlocks: number, over: Partial<ModelFacts> = {}): ModelFacts => ({
  path: model, format: 'huggingface', architecture: 'llama', modelType: 'llama', contentHash: 'h', dModel: 64, vocabSize: 259, maxSeqLen: 512, nBlocks,
  blocks: Array.from({ length: nBlocks }, (_, index) => ({ index, part: 'layer', label: `layer ${index}` })), hookPoints: 2 * nBlocks, options: {}, tokenizer: model,
  ...over,
});

/** Typed results a job might return, for the fake runtime. */
function resultOf(job: JobName, params: Record<string, unknown>): unknown {
  const accuracy = { correct: 1, total: 2, unparsed: 0, accuracy: 0.5, ci95: [0.1, 0.9] };
  switch (job) {
    case 'save-hidden-states':
      return { cacheFile: '/o/c.safetensors', records: 2, hooks: ['blocks.0.hook_resid_post'], resumedFrom: 0, alreadyComplete: false, skipped: [], truncated: [] };
    case 'compute-directions':
      return { directionsFile: String(params.cache).replace(/\.safetensors$/, '.directions.safetensors'), statsFile: String(params.cache).replace(/\.safetensors$/, '.directions.json'), layers: [] };
    case 'evaluate':
    case 'sweep':
      return { runFile: '/o/runs/r.json', lines: [], summaries: [{ id: 'baseline', reasoning: accuracy, memorization: accuracy }], itemsPerSecond: 1, warnings: [] };
    case 'info':
      return { ...facts(String(params.model), 2), weights: 'fp32', weightsBytes: 1, provider: 'cpu', graphDir: '/g' } satisfies ModelInfo;
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
  gaveUp: string | undefined = undefined;
  /** What describeModel answers, by model path (default: 8 blocks, hash 'h', no options). */
  modelFacts = new Map<string, Partial<ModelFacts>>();
  behaviour: (job: JobName, opts: RunJobOptions, params: Record<string, unknown>) => Promise<unknown> = async (job, _opts, params) => resultOf(job, params);
  async runJob<N extends JobName>(job: N, params: JobParamsIn<N>, opts: RunJobOptions = {}): Promise<JobResult<N>> {
    // What the runtime would refuse, the fake refuses too: the params must fit the job's schema.
    JOBS[job].params.parse(params);
    this.jobs.push({ job, params: params as Record<string, unknown>, opts });
    return (await this.behaviour(job, opts, params as Record<string, unknown>)) as JobResult<N>;
  }
  async describeModel(ref: ModelRef): Promise<ModelFacts> {
    this.described.push(ref);
    return facts(ref.model!, 8, this.modelFacts.get(ref.model!) ?? {});
  }
  async restart(): Promise<void> {}
}

/**
 * A hidden-state cache file as save-hidden-states writes it (its header is what the pickers and
 * the compatibility check read): `model_hash` 'h' is the fake runtime's model by default.
 */
function writeCache(file: string, o: { modelPath?: string; modelHash?: string; options?: string; dataName?: string; hooks?: string[]; d?: number } = {}): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const d = o.d ?? 64;
  // Every hook point of the fake runtime's 8-block model, unless the test says otherwise.
  const hooks = o.hooks ?? Array.from({ length: 8 }, (_, b) => [`blocks.${b}.hook_resid_pre`, `blocks.${b}.hook_resid_post`]).flat();
  writeSafetensors(
    file,
    hooks.map((name) => ({ name, dtype: 'F32' as const, shape: [2, d], data: new Float32Array(2 * d) })),
    {
      format: 'layerlab-hidden-states',
      complete: 'true',
      rows: '2',
      positions: 'last',
      dtype: 'float32',
      model_path: o.modelPath ?? '/models/demo',
      model_hash: o.modelHash ?? 'h',
      model_options: o.options ?? '{}',
      data_name: o.dataName ?? path.basename(file, '.safetensors'),
      sample: 'all',
    },
  );
}

function setup(opts: { models?: string[]; datasets?: string[]; caches?: string[]; selection?: Partial<Record<ViewName, TreeNodeData>> } = {}) {
  const ws = tmpDir();
  mock.workspaceFolder = ws;
  const s = resolveSettings({ provider: 'cpu', threads: 2, batchSize: 3 }, ws);
  for (const m of opts.models ?? []) write(path.join(s.modelsPath, m, 'config.json'), { model_type: 'llama' });
  for (const d of opts.datasets ?? []) write(path.join(s.datasetsPath, d), [{ question: 'q' }]);
  for (const c of opts.caches ?? []) writeCache(path.join(s.outputPath, 'hidden_states', c));
  const client = new FakeClient();
  const state = fakeContext(ws).workspaceState;
  const refreshed: ViewName[] = [];
  const views = Object.fromEntries(
    (['models', 'datasets', 'cache', 'runs'] as const).map((v) => {
      const p = new NodeTreeProvider(`layerlab.${v}`, async () => [], () => {});
      p.onDidChangeTreeData(() => refreshed.push(v));
      return [v, p];
    }),
  ) as Record<ViewName, NodeTreeProvider>;
  const log = { info: (m: string) => void mock.log.push({ level: 'info', message: m }), warn() {}, error() {}, show() {} };
  const charts = { opened: [] as [keyof ChartOpener, string][] } as ChartOpener & { opened: [keyof ChartOpener, string][] };
  for (const k of ['openChart', 'openRunChart', 'openDirectionChart'] as const) charts[k] = async (f: string) => void charts.opened.push([k, f]);
  const selection: Partial<Record<ViewName, TreeNodeData>> = { ...opts.selection };
  const deps: CommandDeps = {
    client: client as unknown as CommandDeps['client'],
    settings: () => s,
    log,
    workspaceState: state as never,
    views,
    selection: (v) => selection[v],
    charts,
  };
  const commands = new LayerLabCommands(deps);
  commands.register();
  return { ws, s, client, state, charts, refreshed, selection };
}

/**
 * Lets a message's button handler (not awaited by the command) run until `done` holds (or 5 s
 * pass; the assertion that follows then says what is missing).
 */
async function settle(done: () => boolean): Promise<void> {
  for (const t0 = Date.now(); !done() && Date.now() - t0 < 5000; ) await new Promise((r) => setTimeout(r, 5));
}

type Line = { label: string; description?: string; detail?: string; line?: { id: string } };
/** Answers a form's quick pick with the line of that id (`run`, `input:dataFile`, `field:scoring`, `more`). */
const line = (id: string) => (items: Line[]) => {
  const found = items.find((i) => i.line?.id === id);
  if (!found) throw new Error(`no line ${id} in ${items.map((i) => i.line?.id ?? i.label).join(', ')}`);
  return found;
};
/** The lines of a form's quick pick, by id. */
const linesOf = (call: { items: Line[] }) => new Map((call.items as Line[]).map((i) => [i.line?.id ?? i.label, i]));
const formCalls = () => mock.quickPickCalls.filter((c) => (c.items as Line[]).some((i) => i.line?.id === 'run'));

describe('job forms: what a job will use, stated before it runs', () => {
  it('Evaluate lists the model, dataset, cache and directions with where each came from, and runs only when Run is picked', async () => {
    const { s, client } = setup({ models: ['demo'], datasets: ['a.json', 'b.json'], caches: ['demo/b.safetensors'] });
    mock.quickPicks = [line('run'), 'b.json', line('field:withPreHook'), line('field:scale'), line('run')];
    mock.inputs = ['0.5'];
    const r = await vscode.commands.executeCommand('layerlab.evaluate');
    assert.ok(r, `command failed: ${JSON.stringify(mock.shown)}`);
    const first = linesOf(formCalls()[0]);
    assert.match(first.get('run')!.label, /^\$\(error\) Cannot run yet: choose the dataset$/, 'two datasets: nothing is chosen for the user');
    assert.match(first.get('input:model')!.description!, /^demo · llama · 8 blocks · d_model 64 · the only one$/);
    assert.match(first.get('input:dataFile')!.description!, /^not chosen/);
    assert.match(first.get('input:hiddenStatesCachePath')!.description!, /^b · demo · .* · suggested$/, "the only cache of this model is proposed, and says so");
    assert.equal(first.get('input:directionFile')!.description, "the cache's (computed beside it if missing)");
    assert.match(first.get('field:layerIndices')!.description!, /^4 · suggested$/, "the middle of the runtime's 8 blocks");
    assert.match(first.get('field:withIntervention')!.description!, /^on · this command's choice$/);
    // Picking Run with a required input missing opens its picker instead.
    assert.match(mock.quickPickCalls[1].title!, /dataset/);
    assert.equal(client.jobs.length, 1);
    const model = path.join(s.modelsPath, 'demo');
    assert.deepEqual(client.jobs[0].params, {
      model,
      provider: 'cpu',
      weights: 'fp32',
      threads: 2,
      hiddenStatesCachePath: path.join(s.outputPath, 'hidden_states', 'demo', 'b.safetensors'),
      dataFile: path.join(s.datasetsPath, 'b.json'),
      withIntervention: true,
      layerIndices: [4],
      withPreHook: true,
      scale: 0.5,
      outputPath: path.join(s.outputPath, 'runs'),
      batchSize: 3,
    });
    const lastRun = linesOf(formCalls().at(-1)!).get('run')!;
    assert.match(lastRun.label, /^\$\(play\) Run Evaluate Accuracy with Intervention$/);
    assert.match(lastRun.detail!, /^layerlab evaluate --model .*demo --provider cpu --threads 2 .*--data_file .*b\.json .*--with_intervention --layer_indices 4 --with_pre_hook --scale 0\.5/, 'the Run line states the CLI twin');
    assert.deepEqual(mock.progress.map((p) => [p.title, p.cancellable]), [['LayerLab: Evaluate Accuracy with Intervention', true]]);
  });

  it('a highlighted dataset pre-fills Run Layer Sweep, which still asks; Escape runs nothing', async () => {
    const { s, client } = setup({
      models: ['a'],
      datasets: ['good.json', 'broken.json'],
      caches: ['a/good.safetensors'],
      selection: { datasets: { id: 'd', kind: 'dataset', label: 'broken.json', resourcePath: '/elsewhere/broken.json' } },
    });
    mock.quickPicks = [undefined];
    assert.equal(await vscode.commands.executeCommand('layerlab.sweep'), undefined);
    assert.equal(client.jobs.length, 0, 'the highlight did not run anything');
    const shown = linesOf(formCalls()[0]);
    assert.match(shown.get('input:dataFile')!.description!, /^broken\.json · highlighted in the view$/);
    assert.equal(shown.get('input:dataFile')!.detail, '/elsewhere/broken.json');
    assert.deepEqual(mock.shown, [], 'Escape ends the command quietly');

    mock.quickPicks = [line('input:dataFile'), 'good.json', line('run')];
    await vscode.commands.executeCommand('layerlab.sweep');
    assert.equal(client.jobs[0].params.dataFile, path.join(s.datasetsPath, 'good.json'), 'the pre-filled choice is replaced when the user picks another');
  });

  it('a context-menu node fills its input over the highlight, and the form still states it before running', async () => {
    const { client } = setup({ models: ['a'], datasets: ['x.json'], selection: { datasets: { id: 'd', kind: 'dataset', label: 'x', resourcePath: '/sel.json' } } });
    mock.quickPicks = [line('run')];
    await vscode.commands.executeCommand('layerlab.saveHiddenStates', { id: 'n', kind: 'dataset', label: 'n', resourcePath: '/node.json' });
    assert.match(linesOf(formCalls()[0]).get('input:dataFilePath')!.description!, /^node\.json · chosen for this run$/);
    assert.equal(client.jobs[0].params.dataFilePath, '/node.json');
  });

  it('Select Model from the palette asks, offering the highlighted model first; from a Models node it loads that one', async () => {
    const { s, client, selection } = setup({ models: ['a', 'b'] });
    const b = path.join(s.modelsPath, 'b');
    selection.models = { id: 'm', kind: 'model', label: 'b', resourcePath: b };
    mock.quickPicks = [undefined];
    await vscode.commands.executeCommand('layerlab.selectModel');
    assert.equal(client.jobs.length, 0, 'the highlighted model is not loaded without asking');
    assert.equal(mock.quickPickCalls.length, 1);
    assert.deepEqual(mock.quickPickCalls[0].items.map((i) => i.label), ['b', 'a', '$(folder-opened) Browse…'], 'the highlighted model is offered first');

    mock.quickPicks = ['b'];
    await vscode.commands.executeCommand('layerlab.selectModel', { id: 'n', kind: 'model', label: 'a', resourcePath: path.join(s.modelsPath, 'a') });
    assert.equal(mock.quickPickCalls.length, 1, 'a context-menu node is an explicit choice: no picker');
    assert.equal(client.jobs[0].params.model, path.join(s.modelsPath, 'a'));
    mock.quickPickCalls = [];
    await vscode.commands.executeCommand('layerlab.selectModel');
    assert.equal(client.jobs[1].params.model, b);
  });

  it('offers every parameter of the job’s schema — common ones first, the rest under More options — with the CLI’s defaults', async () => {
    setup({ models: ['a'], datasets: ['x.json'] });
    mock.quickPicks = [line('more'), undefined, undefined];
    await vscode.commands.executeCommand('layerlab.saveHiddenStates');
    const [review, more] = mock.quickPickCalls as { items: Line[] }[];
    const flags = (items: Line[]) => items.filter((i) => i.line?.id.startsWith('field:')).map((i) => i.label);
    // The common choices, in order, with their defaults as the CLI has them.
    assert.deepEqual(flags(review!.items), ['--hooks', '--positions', '--data_sample_size', '--on_long_prompt', '--template']);
    const byFlag = new Map(review!.items.map((i) => [i.label, i]));
    assert.equal(byFlag.get('--hooks')!.description, 'default: post');
    assert.equal(byFlag.get('--positions')!.description, 'last (default)');
    assert.equal(byFlag.get('--on_long_prompt')!.description, 'error (default)');
    assert.equal(byFlag.get('--data_sample_size')!.description, 'default: all');
    assert.match(byFlag.get('--positions')!.detail!, /last \(last prompt token\), mean/);
    // Inputs, common and more together are the CLI's flags, less the seed's second spelling of --model.
    const offered = new Set([...flags(review!.items), ...flags(more!.items)]);
    for (const i of FORM_LAYOUTS['save-hidden-states'].inputs) offered.add(`--${fieldsOf(JOBS['save-hidden-states']).find((f) => f.key === i.key)!.flag}`);
    const cli = fieldsOf(JOBS['save-hidden-states']).map((f) => `--${f.flag}`);
    assert.deepEqual([...offered].sort(), cli.filter((f) => f !== '--models_path' && f !== '--model_name').sort());
    const moreByFlag = new Map(more!.items.map((i) => [i.label, i]));
    assert.equal(moreByFlag.get('--data_batch_size')!.description, '3 · from settings', 'layerlab.batchSize fills the batch size');
    assert.equal(moreByFlag.get('--dtype')!.description, 'float32 (default)');
    assert.equal(moreByFlag.get('--seed')!.description, '0 (default)');
  });

  it('the hook points chosen in Save Hidden States are what the job is sent', async () => {
    const { client, s } = setup({ models: ['a'], datasets: ['x.json'] });
    mock.quickPicks = [line('field:hooks'), 'pre', line('field:positions'), 'mean', line('run')];
    await vscode.commands.executeCommand('layerlab.saveHiddenStates');
    const hooksPick = mock.quickPickCalls[1];
    assert.deepEqual(hooksPick.items.map((i) => i.label), ['post', 'pre', 'all', 'Choose hook points…']);
    assert.equal(client.jobs[0].params.hooks?.toString(), 'pre');
    assert.equal(client.jobs[0].params.positions, 'mean');
    assert.deepEqual(client.jobs[0].params, {
      model: path.join(s.modelsPath, 'a'), provider: 'cpu', weights: 'fp32', threads: 2, dataFilePath: path.join(s.datasetsPath, 'x.json'),
      outputPath: path.join(s.outputPath, 'hidden_states'), dataBatchSize: 3, hooks: ['pre'], positions: 'mean',
    });
    // Chosen hook points: the model's, from the runtime's description.
    mock.quickPicks = [line('field:hooks'), 'Choose hook points…', (items: { label: string }[]) => items.filter((i) => /^blocks\.(3|5)\.hook_resid_pre$/.test(i.label)), line('run')];
    mock.quickPickCalls = [];
    await vscode.commands.executeCommand('layerlab.saveHiddenStates');
    assert.equal(mock.quickPickCalls[2].canPickMany, true);
    assert.equal(mock.quickPickCalls[2].items.length, 16, "8 blocks' inputs and outputs");
    assert.deepEqual(client.jobs[1].params.hooks, ['blocks.3.hook_resid_pre', 'blocks.5.hook_resid_pre']);
  });

  it('Evaluate with the baseline and log-likelihood scoring from the palette; the values are remembered for the next run', async () => {
    const { client } = setup({ models: ['a'], datasets: ['x.json'], caches: ['a/x.safetensors'] });
    mock.quickPicks = [line('field:withBaseline'), line('field:scoring'), 'loglik', line('field:sampleSize'), line('run')];
    mock.inputs = ['20'];
    await vscode.commands.executeCommand('layerlab.evaluate');
    const p = client.jobs[0].params;
    assert.deepEqual([p.withBaseline, p.scoring, p.sampleSize, p.withIntervention], [true, 'loglik', 20, true]);
    assert.ok(mock.log.some((l) => / --with_baseline --scoring loglik --sample_size 20|--sample_size 20 .*--scoring loglik/.test(l.message) || (/--with_baseline/.test(l.message) && /--scoring loglik/.test(l.message) && /--sample_size 20/.test(l.message))), 'the CLI twin carries them');
    // An invalid entry is refused by the parameter's own schema, in the CLI's words.
    assert.equal(mock.inputCalls[0].validation, undefined);

    mock.quickPicks = [line('run')];
    mock.quickPickCalls = [];
    await vscode.commands.executeCommand('layerlab.evaluate');
    const again = linesOf(formCalls()[0]);
    assert.equal(again.get('field:scoring')!.description, 'loglik · last used');
    assert.equal(again.get('field:withBaseline')!.description, 'on · last used');
    assert.deepEqual([client.jobs[1].params.scoring, client.jobs[1].params.sampleSize], ['loglik', 20]);
  });

  it('an input box refuses what the CLI refuses, naming the flag', async () => {
    setup({ models: ['a'], datasets: ['x.json'] });
    let checked: string[] = [];
    mock.quickPicks = [line('field:sampleSize'), undefined];
    mock.inputs = [(validate) => ((checked = ['0', 'x', '12'].map((v) => validate(v) ?? 'ok')), undefined)];
    await vscode.commands.executeCommand('layerlab.evaluate');
    assert.deepEqual(checked, ['--sample_size must be >= 1', "--sample_size takes an integer, got 'x'", 'ok']);
  });

  it('switching the intervention off hides and drops what only applies with it', async () => {
    const { client } = setup({ models: ['a'], datasets: ['x.json'] });
    mock.quickPicks = [line('field:withIntervention'), line('run')];
    await vscode.commands.executeCommand('layerlab.evaluate');
    const after = linesOf(formCalls()[1]);
    assert.ok(!after.has('field:layerIndices') && !after.has('field:scale'), 'layer and scale lines are gone');
    assert.equal(client.jobs[0].params.withIntervention, false);
    assert.equal(client.jobs[0].params.layerIndices, undefined, 'a baseline run is not sent layers (the runtime would refuse them)');
  });
});

describe('job forms: caches and directions must come from the model', () => {
  it('the cache picker lists the model’s caches first and marks the others', async () => {
    const { s } = setup({ models: ['qwen'], datasets: ['x.json'] });
    const dir = path.join(s.outputPath, 'hidden_states');
    writeCache(path.join(dir, 'stories260K', 'mmlu-short.safetensors'), { modelPath: '/m/stories260K/stories260K.bin', modelHash: 'stories', dataName: 'mmlu-short' });
    writeCache(path.join(dir, 'qwen', 'mmlu-short.safetensors'), { modelPath: path.join(s.modelsPath, 'qwen'), dataName: 'mmlu-short' });
    writeCache(path.join(dir, 'huginn', 'mmlu-short.safetensors'), { modelPath: '/m/huginn', modelHash: 'huginn', options: '{"num_steps":32}', dataName: 'mmlu-short' });
    mock.quickPicks = [line('input:hiddenStatesCachePath'), undefined, undefined];
    await vscode.commands.executeCommand('layerlab.evaluate');
    const picker = mock.quickPickCalls[1];
    // The form proposed qwen's cache (the one matching the model): it is the current choice, first.
    assert.match(linesOf(formCalls()[0]).get('input:hiddenStatesCachePath')!.description!, /^mmlu-short · qwen · .* · suggested$/);
    assert.deepEqual(picker.items.map((i) => [i.label, i.description?.split(' · ')[0]]), [
      ['mmlu-short · qwen', '$(check) qwen'],
      ['No cache', 'the directions come from the directions file'],
      ['mmlu-short · stories260K', '$(warning) from stories260K: another model'],
      ['mmlu-short · huginn', '$(warning) from huginn: another model'],
      ['$(folder-opened) Browse…', 'a hidden-state cache anywhere'],
    ]);
  });

  it('a cache from another model of the same width runs only after an explicit confirmation', async () => {
    const { s, client } = setup({ models: ['qwen2-tiny'], datasets: ['x.json'] });
    const cache = path.join(s.outputPath, 'hidden_states', 'stories260K', 'x.safetensors');
    writeCache(cache, { modelPath: '/m/stories260K/stories260K.bin', modelHash: 'stories' });
    const node = { id: 'c', kind: 'cacheEntry' as const, label: 'x', resourcePath: cache };
    mock.quickPicks = [line('run'), undefined];
    mock.messageAnswers = [undefined];
    await vscode.commands.executeCommand('layerlab.evaluate', node);
    assert.equal(client.jobs.length, 0, 'dismissed: nothing ran');
    assert.equal(mock.shown[0].severity, 'warning');
    assert.equal(mock.shown[0].modal, true);
    assert.match(mock.shown[0].message, /^LayerLab: The hidden-state cache x\.safetensors was saved from stories260K \(hash stories…\), not from qwen2-tiny \(hash h…\)/);
    assert.deepEqual(mock.shown[0].actions, ['Use Anyway']);
    assert.match(linesOf(formCalls()[0]).get('input:hiddenStatesCachePath')!.description!, /from stories260K: another model/, 'the form marked it before Run');

    mock.shown = [];
    mock.quickPicks = [line('run')];
    mock.messageAnswers = ['Use Anyway'];
    await vscode.commands.executeCommand('layerlab.evaluate', node);
    assert.equal(client.jobs.length, 1);
    assert.equal(client.jobs[0].params.hiddenStatesCachePath, cache);
  });

  it('directions whose block indices mean other blocks (another model, other options) are refused, naming the model', async () => {
    const { s, client } = setup({ models: ['llama'], datasets: ['x.json'] });
    const cache = path.join(s.outputPath, 'hidden_states', 'huginn', 'x.safetensors');
    writeCache(cache, { modelPath: '/m/huginn-0125', modelHash: 'huginn', options: '{"num_steps":32,"state_init":"zeros"}' });
    mock.quickPicks = [line('run'), undefined];
    await vscode.commands.executeCommand('layerlab.sweep', cache);
    assert.equal(client.jobs.length, 0);
    assert.equal(mock.shown[0].severity, 'error');
    assert.equal(mock.shown[0].modal, true);
    assert.equal(mock.shown[0].actions.length, 0, 'no way to run it anyway: the runtime could not');
    assert.match(mock.shown[0].message, /was saved from huginn-0125, not from llama, and cannot be applied to it: its block indices were counted under num_steps=32 state_init=zeros, llama's under no architecture options/);

    // The same model opened with other options: refused, and the options are the reason.
    mock.registered.clear();
    const { s: s2, client: c2 } = setup({ models: ['huginn'], datasets: ['x.json'] });
    c2.modelFacts.set(path.join(s2.modelsPath, 'huginn'), { contentHash: 'huginn', options: { num_steps: 4, state_init: 'zeros' } });
    const cache2 = path.join(s2.outputPath, 'hidden_states', 'huginn', 'x.safetensors');
    writeCache(cache2, { modelPath: path.join(s2.modelsPath, 'huginn'), modelHash: 'huginn', options: '{"state_init":"zeros","num_steps":32}' });
    mock.shown = [];
    mock.quickPicks = [line('run'), undefined];
    await vscode.commands.executeCommand('layerlab.sweep', cache2);
    assert.equal(c2.jobs.length, 0);
    assert.match(mock.shown[0].message, /saved from huginn with num_steps=32 state_init=zeros, but the job opens it with num_steps=4 state_init=zeros: block indices mean different blocks/);
  });
});

describe('job forms: the blocks and hook chosen must have directions', () => {
  it('a sweep of block inputs on a cache of block outputs is refused at Run, before any work, saying what to cache', async () => {
    const { s: settings, client: c } = setup({ models: ['a'], datasets: ['x.json'] });
    writeCache(path.join(settings.outputPath, 'hidden_states', 'a', 'x.safetensors'), { hooks: Array.from({ length: 8 }, (_, b) => `blocks.${b}.hook_resid_post`) });
    mock.quickPicks = [line('field:withPreHook'), line('run'), undefined];
    await vscode.commands.executeCommand('layerlab.sweep');
    assert.equal(c.jobs.length, 0, 'nothing ran');
    const refusal = mock.shown.find((m) => m.modal)!;
    assert.equal(refusal.severity, 'error');
    assert.match(refusal.message, /^LayerLab: The hidden-state cache x\.safetensors has no direction for blocks\.0\.hook_resid_pre: it holds post of blocks 0–7\. Edits at the blocks' inputs need their hidden states: run Save Hidden States with --hooks pre \(or all\)/);

    // Edits at the outputs: covered, it runs.
    mock.shown = [];
    mock.quickPicks = [line('run')];
    await vscode.commands.executeCommand('layerlab.sweep');
    assert.equal(c.jobs.length, 1);
  });
});

describe('commands', () => {
  it('reports progress with rate and ETA as increments and turns Cancel into a cancelled job that says what it keeps', async () => {
    const { client } = setup({ models: ['a'], datasets: ['x.json'] });
    mock.cancelOnFirstReport = true;
    client.behaviour = async (_job, opts) => {
      opts.onProgress?.({ done: 1, total: 4, message: 'writing', rate: 0.5, etaSeconds: 6 });
      assert.equal(opts.token?.isCancellationRequested, true, 'Cancel reached the token given to the client');
      throw new RuntimeRequestError('cancelled', 'cancelled');
    };
    mock.quickPicks = [line('run')];
    assert.equal(await vscode.commands.executeCommand('layerlab.saveHiddenStates'), undefined);
    assert.deepEqual(mock.progress[0].reports, [{ increment: 25, message: '1/4 (25%), 0.5/s, ETA 6 s, writing' }]);
    assert.equal(mock.shown.length, 1);
    assert.equal(mock.shown[0].severity, 'info');
    assert.equal(mock.shown[0].message, 'LayerLab: Save Hidden States was cancelled. The batches already cached are kept: running Save Hidden States again resumes after them.');
  });

  it('refreshes every view when a job ends: success, failure and cancel', async () => {
    const { client, refreshed } = setup({ caches: ['c.safetensors'] });
    const ends: [string, () => Promise<unknown>][] = [
      ['success', async () => resultOf('compute-directions', { cache: '/o/c.safetensors' })],
      ['failure', async () => { throw new RuntimeRequestError('data', 'bad cache'); }],
      ['cancel', async () => { throw new RuntimeRequestError('cancelled', 'cancelled'); }],
    ];
    for (const [how, behaviour] of ends) {
      refreshed.length = 0;
      client.behaviour = behaviour;
      mock.quickPicks = [line('run')];
      await vscode.commands.executeCommand('layerlab.computeDirections');
      assert.deepEqual([...new Set(refreshed)].sort(), ['cache', 'datasets', 'models', 'runs'], `after ${how}`);
    }
  });

  it('once LayerLab gave up restarting the runtime, a job command says so before asking anything', async () => {
    const { client } = setup({ models: ['a'], datasets: ['x.json', 'y.json'] });
    client.gaveUp = 'The LayerLab runtime stopped unexpectedly again (killed by SIGKILL) after 3 restarts within 3 minutes, so it will not be restarted automatically.';
    await vscode.commands.executeCommand('layerlab.evaluate');
    assert.equal(mock.quickPickCalls.length, 0, 'no form, no picker');
    assert.equal(mock.shown[0].severity, 'error');
    assert.match(mock.shown[0].message, /^LayerLab: Evaluate Accuracy with Intervention cannot run: The LayerLab runtime stopped unexpectedly again/);
    assert.deepEqual(mock.shown[0].actions, ['Restart Runtime', 'Show Runtime Log']);
  });

  it('a job the runtime crashed under says what happened, that it restarts, and what is lost and kept', async () => {
    const { client } = setup({ models: ['a'], datasets: ['x.json'], caches: ['a/x.safetensors'] });
    client.behaviour = async () => {
      throw new RuntimeRequestError(
        'crashed',
        'the LayerLab runtime stopped unexpectedly (killed by SIGKILL). LayerLab is restarting it (restart 1 of 3 restarts within 3 minutes). The model it held (/m/a) was unloaded: the next job loads it again.',
        'See the LayerLab output (LayerLab: Show Runtime Log) for its last messages.',
      );
    };
    mock.quickPicks = [line('run')];
    await vscode.commands.executeCommand('layerlab.sweep');
    assert.equal(
      mock.shown[0].message,
      'LayerLab: Run Layer Sweep failed because the LayerLab runtime stopped unexpectedly (killed by SIGKILL). LayerLab is restarting it (restart 1 of 3 restarts within 3 minutes). ' +
        'The model it held (/m/a) was unloaded: the next job loads it again. The run file keeps the items done so far, marked partial; the rest were not evaluated. ' +
        'See the LayerLab output (LayerLab: Show Runtime Log) for its last messages.',
    );
    assert.deepEqual(mock.shown[0].actions, ['Show Runtime Log', 'Restart Runtime']);
  });

  it('says what is missing and offers the command that makes it', async () => {
    setup({ models: ['a'] });
    mock.quickPicks = [line('run')];
    mock.messageAnswers = ['Add Dataset'];
    mock.openDialogs = [undefined];
    await vscode.commands.executeCommand('layerlab.saveHiddenStates');
    assert.equal(mock.shown[0].severity, 'error');
    assert.match(mock.shown[0].message, /no datasets in .*\.layerlab\/datasets\. Add one/);
    assert.deepEqual(mock.shown[0].actions, ['Add Dataset']);
    await new Promise((r) => setImmediate(r));
    assert.ok(mock.executed.some((e) => e.command === 'layerlab.addDataset'), 'the action ran Add Dataset');
  });

  it('a file the runtime cannot read is reported with the runtime\'s words and the log to look at', async () => {
    const { client } = setup({ caches: ['c.safetensors'] });
    client.behaviour = async () => {
      throw new RuntimeRequestError('data', '/o/c.safetensors: not a LayerLab cache');
    };
    mock.quickPicks = [line('run')];
    await vscode.commands.executeCommand('layerlab.computeDirections');
    assert.equal(mock.shown[0].severity, 'error');
    assert.match(mock.shown[0].message, /Compute Directions failed: \/o\/c\.safetensors: not a LayerLab cache/);
    assert.deepEqual(mock.shown[0].actions, ['Show Runtime Log']);
  });

  it('Check Model runs check-model at the precision the settings choose and opens the report; a failing verdict is a warning naming the first reason', async () => {
    const { s, client } = setup({ models: ['a'] });
    const report = (verdict: 'pass' | 'fail') => ({
      model: { path: path.join(s.modelsPath, 'a'), format: 'hf', modelType: 'llama', contentHash: 'h', nBlocks: 2, options: {}, weights: 'int8', provider: 'cpu' },
      prompts: [],
      comparisons: [{ subject: 'int8 graph', baseline: 'fp32 graph', thresholds: { minTop1Agreement: 0.9, maxMeanKl: 0.05 }, blocks: [], nextToken: { positions: 4, top1Agreement: 0.5, ties: 0, meanKl: 0.2, maxKl: 0.4 }, verdict, reasons: verdict === 'fail' ? ['top-1 agreement 50% < 90%'] : [] }],
      verdict,
      seconds: 1,
      markdown: `# check-model: ${verdict.toUpperCase()}`,
    });
    client.behaviour = async () => report('fail');
    s.weights = 'int8';
    mock.quickPicks = ['a'];
    await vscode.commands.executeCommand('layerlab.checkModel');
    assert.deepEqual(client.jobs.map((j) => [j.job, j.params]), [['check-model', { model: path.join(s.modelsPath, 'a'), provider: 'cpu', weights: 'int8', threads: 2 }]]);
    assert.deepEqual([...mock.documentTexts.values()], ['# check-model: FAIL'], 'the report opens as a document');
    assert.equal(mock.shown[0].severity, 'warning');
    assert.match(mock.shown[0].message, /a at int8 on CPU: check FAILED\. top-1 agreement 50% < 90%/);
    client.behaviour = async () => report('pass');
    mock.quickPicks = ['a'];
    await vscode.commands.executeCommand('layerlab.checkModel');
    assert.equal(mock.shown[1].severity, 'info');
  });

  it('Select Model loads with the provider and threads from settings and remembers the choice for the next forms', async () => {
    const { s, client, state } = setup({ models: ['a', 'b'] });
    mock.quickPicks = ['b'];
    const r = await vscode.commands.executeCommand('layerlab.selectModel');
    assert.equal(r, path.join(s.modelsPath, 'b'));
    assert.deepEqual(client.jobs.map((j) => [j.job, j.params]), [['info', { model: path.join(s.modelsPath, 'b'), provider: 'cpu', weights: 'fp32', threads: 2 }]], 'the info job, whose model the runtime keeps');
    assert.equal(state.get('layerlab.selectedModel'), path.join(s.modelsPath, 'b'));
    assert.match(mock.shown[0].message, /b loaded — llama \(llama graph\), 2 blocks, d_model 64, on CPU/);
    // The selected model fills the next form, which says where it came from.
    write(path.join(s.datasetsPath, 'x.json'), []);
    mock.quickPicks = [line('run')];
    await vscode.commands.executeCommand('layerlab.saveHiddenStates');
    assert.match(linesOf(formCalls()[0]).get('input:model')!.description!, /^b · .* · last used$/);
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

  it('Open Run Chart labels runs of the same data apart and opens the chosen one as a chart', async () => {
    const { s, charts } = setup();
    const fixture = fixtureRun({ partialAfter: 1 });
    const spec = { ...fixture.spec, command: 'sweep' as const, data: { ...fixture.spec.data, name: 'mmlu-short' }, model: { ...fixture.spec.model, path: '/m/stories260K/stories260K.bin' } };
    const gen = path.join(s.outputPath, 'runs', 'stories260K', 'mmlu-short.sweep.a.json');
    const ll = path.join(s.outputPath, 'runs', 'stories260K', 'mmlu-short.sweep.b.json');
    write(gen, { ...fixture, spec });
    write(ll, { ...fixture, complete: true, spec: { ...spec, scoring: 'loglik' } });
    write(path.join(s.outputPath, 'runs', 'notes.json'), { format: 'other' });
    const t = Date.now() / 1000;
    fs.utimesSync(gen, t - 10, t - 10);
    mock.quickPicks = [(items: { label: string }[]) => items[1]];
    assert.equal(await vscode.commands.executeCommand('layerlab.openRunChart'), gen);
    assert.deepEqual(mock.quickPickCalls[0].items.map((i) => i.label), ['sweep · mmlu-short · stories260K · loglik', 'sweep · mmlu-short · stories260K · generate ≤8 tokens']);
    assert.match(mock.quickPickCalls[0].items[1].description!, /^partial /);
    assert.deepEqual(charts.opened, [['openChart', gen]]);
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
    client.behaviour = async () => ({
      modelDir: path.join(s.modelsPath, 'demo'), dataFile: '', cacheFile: '', directionsFile: '', statsFile: '', runFile: run, lines: [],
      findings: ['The direction separates the two kinds best at blocks.3.hook_resid_post.', 'Largest effect: scale −1 at block 0 changed reasoning accuracy.'],
    });
    const r = (await vscode.commands.executeCommand('layerlab.runDemo')) as JobResult<'demo'>;
    assert.equal(r.runFile, run);
    assert.deepEqual(client.jobs[0].params, { modelsPath: s.modelsPath, datasetsPath: s.datasetsPath, outputPath: s.outputPath, provider: 'cpu', threads: 2 });
    assert.deepEqual(charts.opened, [['openRunChart', run]]);
    assert.equal(state.get('layerlab.selectedModel'), path.join(s.modelsPath, 'demo'));
    assert.equal(mock.shown.length, 1);
    assert.match(mock.shown[0].message, /^LayerLab: demo finished\. Largest effect: scale −1 at block 0 changed reasoning accuracy\. /, 'what it found, first');
    assert.match(mock.shown[0].message, /chart is open \(\.layerlab\/output\/runs\/demo\/demo-reason-mem\.sweep\.abc\.json\)/);
  });

  it('Run Demo still succeeds when the chart cannot open, and offers the run file', async () => {
    const { s, client, charts } = setup();
    const run = path.join(s.outputPath, 'runs', 'demo', 'd.sweep.x.json');
    client.behaviour = async () => ({ modelDir: '', dataFile: '', cacheFile: '', directionsFile: '', statsFile: '', runFile: run, lines: [], findings: [] });
    charts.openRunChart = async () => {
      throw new Error('d.sweep.x.json: field results: Required');
    };
    mock.messageAnswers = ['Open Run File'];
    assert.ok(await vscode.commands.executeCommand('layerlab.runDemo'));
    assert.match(mock.shown[0].message, /the chart did not open: d\.sweep\.x\.json: field results/);
    await settle(() => mock.openedDocuments.length > 0);
    assert.deepEqual(mock.openedDocuments, [run]);
  });

  it('Save Hidden States offers Compute Directions on the new cache, through its form; its chart follows', async () => {
    const { s, client, charts } = setup({ models: ['a'], datasets: ['x.json'] });
    const cache = path.join(s.outputPath, 'hidden_states', 'a', 'x.safetensors');
    const stats = path.join(s.outputPath, 'hidden_states', 'a', 'x.directions.json');
    client.behaviour = async (job, _opts, params) =>
      job === 'save-hidden-states' ? { cacheFile: cache, records: 1, hooks: ['blocks.0.hook_resid_post'], resumedFrom: 0, alreadyComplete: false, skipped: [], truncated: [] } : resultOf(job, params);
    mock.quickPicks = [line('run'), line('run')];
    mock.messageAnswers = ['Compute Directions', 'Open Chart'];
    await vscode.commands.executeCommand('layerlab.saveHiddenStates');
    assert.match(mock.shown[0].message, /hidden states of x\.json saved to \.layerlab\/output\/hidden_states\/a\/x\.safetensors \(1 hook points × 1 records\)/);
    await settle(() => mock.shown.length > 1);
    assert.deepEqual(client.jobs.map((j) => j.job), ['save-hidden-states', 'compute-directions']);
    assert.match(linesOf(formCalls()[1]).get('input:cache')!.description!, /chosen for this run$/, "the new cache fills Compute Directions' form");
    assert.deepEqual(client.jobs[1].params, { cache }, 'on the cache the first job named');
    assert.match(mock.shown[1].message, /directions computed from x\.safetensors/);
    assert.deepEqual(mock.shown[1].actions, ['Open Chart']);
    await settle(() => charts.opened.length > 0);
    assert.deepEqual(charts.opened, [['openChart', stats]], "the statistics file the job's result names");
  });

  it('Chart Direction Quality opens the statistics beside the cache, or offers to compute them first', async () => {
    const { s, client, charts } = setup({ caches: ['a.safetensors', 'b.safetensors'] });
    const dir = path.join(s.outputPath, 'hidden_states');
    write(path.join(dir, 'a.directions.json'), {});
    const node = (f: string) => ({ id: f, kind: 'cacheEntry' as const, label: f, resourcePath: path.join(dir, f) });
    assert.equal(await vscode.commands.executeCommand('layerlab.chartDirections', node('a.safetensors')), path.join(dir, 'a.directions.json'));
    assert.deepEqual(charts.opened, [['openDirectionChart', path.join(dir, 'a.directions.json')]]);
    assert.equal(client.jobs.length, 0);

    mock.messageAnswers = ['Compute Directions'];
    mock.quickPicks = [line('run')];
    assert.equal(await vscode.commands.executeCommand('layerlab.chartDirections', node('b.safetensors')), undefined);
    assert.match(mock.shown[0].message, /no directions have been computed from b\.safetensors yet/);
    await settle(() => charts.opened.length > 1);
    assert.deepEqual(client.jobs.map((j) => [j.job, j.params]), [['compute-directions', { cache: path.join(dir, 'b.safetensors') }]]);
    assert.deepEqual(charts.opened[1], ['openDirectionChart', path.join(dir, 'b.directions.json')], 'the chart opens once computed');
    assert.equal(mock.shown.length, 1, 'no second offer');

    // From the palette: the caches to choose from, labelled by dataset and model, leave the directions files out.
    write(path.join(dir, 'a.directions.safetensors'), 'x');
    mock.quickPickCalls = [];
    mock.quickPicks = [(items: { label: string }[]) => items.find((i) => i.label.startsWith('a · '))];
    await vscode.commands.executeCommand('layerlab.chartDirections');
    assert.deepEqual(mock.quickPickCalls[0].items.map((i) => i.label), ['a · demo', 'b · demo', '$(folder-opened) Browse…']);
  });

  it('a finished sweep or evaluation offers the chart of the run file its result names, and says its warnings', async () => {
    const { s, client, charts } = setup({ models: ['a'], datasets: ['x.json'], caches: ['a/x.safetensors'] });
    const run = path.join(s.outputPath, 'runs', 'a', 'x.sweep.new.json');
    client.behaviour = async () => ({ runFile: run, lines: [], summaries: [], itemsPerSecond: 1, warnings: [] });
    mock.quickPicks = [line('run')];
    mock.messageAnswers = ['Open Chart'];
    await vscode.commands.executeCommand('layerlab.sweep');
    assert.equal(client.jobs[0].params.scales, undefined, "the sweep's own default scales");
    assert.match(mock.shown[0].message, /layer sweep finished: \.layerlab\/output\/runs\/a\/x\.sweep\.new\.json\.$/);
    await settle(() => charts.opened.length > 0);
    assert.deepEqual(charts.opened, [['openChart', run]]);

    client.behaviour = async () => ({ runFile: run, lines: [], summaries: [], itemsPerSecond: 1, warnings: ['the directions in d were computed from another model (hash abc…, this model def…)'] });
    mock.quickPicks = [line('run')];
    mock.messageAnswers = ['Open Chart'];
    await vscode.commands.executeCommand('layerlab.evaluate');
    assert.match(mock.shown[1].message, /evaluation finished: .*\. Warning: the directions in d were computed from another model/);
    await settle(() => charts.opened.length > 1);
    assert.deepEqual(charts.opened[1], ['openChart', run]);
  });
});
