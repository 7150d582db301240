// Palette params, settings resolution and the runtime's command line: the extension's
// decisions about what to run, without VS Code.
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { openForm, paramsOf, settingsValues } from '../../extension/jobForm';
import { middleLayer, modelRef, parseLayerList } from '../../extension/jobParams';
import { outputFolders, resolveSettings } from '../../extension/settings';
import { runtimeCommand } from '../../extension/spawn';
import { cliLine, defaultOf, parseArgv } from '../../runtime/protocol/argv';
import { evaluateJob, JOBS, saveHiddenStatesJob } from '../../runtime/protocol/jobs';

describe('palette params', () => {
  it('the model fields from the settings: provider and weights always, threads only when set', () => {
    assert.deepEqual(modelRef('/m/demo', { provider: 'auto', weights: 'fp32', threads: 4 }), { model: '/m/demo', provider: 'auto', weights: 'fp32', threads: 4 });
    assert.deepEqual(modelRef('/m/demo', { provider: 'webgpu', weights: 'int8', threads: 0 }), { model: '/m/demo', provider: 'webgpu', weights: 'int8' });
  });

  it("the batch size setting overrides a job's default only when set, so the palette and the CLI agree by default", () => {
    const settingsDefault = resolveSettings({}, '/ws');
    const form = (job: 'save-hidden-states' | 'evaluate', s = settingsDefault) =>
      openForm(job, { settings: settingsValues(job, s, outputFolders(s)), offered: { model: { value: 'm', origin: 'given' } } });
    const save = saveHiddenStatesJob.params.parse({ ...paramsOf(form('save-hidden-states')), dataFilePath: 'd.json' });
    const cli = parseArgv(saveHiddenStatesJob, ['--model', 'm', '--data_file_path', 'd.json', '--provider', 'auto', '--output_path', '/ws/.layerlab/output/hidden_states']);
    assert.deepEqual(save, cli);
    assert.equal(save.dataBatchSize, 4);
    assert.equal(evaluateJob.params.parse(paramsOf(form('evaluate'))).batchSize, 1);
    const eight = resolveSettings({ batchSize: 8, threads: 2 }, '/ws');
    assert.deepEqual(settingsValues('evaluate', eight, outputFolders(eight)), { provider: 'auto', weights: 'fp32', threads: 2, batchSize: 8, outputPath: '/ws/.layerlab/output/runs' });
    assert.deepEqual(settingsValues('compute-directions', eight, outputFolders(eight)), {}, 'no model, no batches, no output folder: nothing from settings');
    assert.equal(defaultOf(evaluateJob, 'scale'), 0.1, "the form's scale default is the CLI's");
  });

  it("the palette's evaluate params give the CLI twin the log shows, and it parses back to them", () => {
    const params = {
      ...modelRef('/m/demo', { provider: 'cpu', weights: 'fp32', threads: 2 }),
      hiddenStatesCachePath: '/o/hidden_states/demo/x.safetensors',
      dataFile: '/d/x y.json',
      withIntervention: true,
      layerIndices: [64, 66],
      withPreHook: true,
      scale: -0.5,
      outputPath: '/o/runs',
    };
    assert.equal(
      cliLine(evaluateJob, params),
      "layerlab evaluate --model /m/demo --provider cpu --threads 2 --hidden_states_cache_path /o/hidden_states/demo/x.safetensors --data_file '/d/x y.json' --output_path /o/runs --with_intervention --layer_indices 64 66 --with_pre_hook --scale -0.5",
    );
    assert.deepEqual(parseArgv(evaluateJob, ['--model', '/m/demo', '--provider', 'cpu', '--threads', '2', '--hidden_states_cache_path', '/o/hidden_states/demo/x.safetensors', '--data_file', '/d/x y.json', '--output_path', '/o/runs', '--with_intervention', '--layer_indices', '64', '66', '--with_pre_hook', '--scale', '-0.5']), evaluateJob.params.parse(params));
    assert.equal(cliLine(JOBS.demo, { modelsPath: "/a b/it's" }), `layerlab demo --models_path '/a b/it'\\''s'`);
  });

  it('parses layer lists and reports what is wrong', () => {
    assert.deepEqual(parseLayerList('66'), [66]);
    assert.deepEqual(parseLayerList('68, 64-66 64'), [64, 65, 66, 68]);
    assert.match(parseLayerList('', 4) as string, /at least one layer/);
    assert.match(parseLayerList('a', 4) as string, /'a' is not a layer/);
    assert.match(parseLayerList('5-3') as string, /runs backwards/);
    assert.match(parseLayerList('2 4', 4) as string, /layer 4 does not exist: the model has blocks 0\.\.3/);
    assert.equal(middleLayer(132), 66, "the seed's layer 66 of huginn's 132 blocks");
  });
});

describe('settings', () => {
  it('defaults to .layerlab/… under the workspace folder', () => {
    const s = resolveSettings({}, '/ws');
    assert.deepEqual(s, {
      modelsPath: '/ws/.layerlab/models',
      datasetsPath: '/ws/.layerlab/datasets',
      outputPath: '/ws/.layerlab/output',
      provider: 'auto',
      weights: 'fp32',
      threads: 0,
    });
    assert.deepEqual(outputFolders(s), {
      cache: '/ws/.layerlab/output/hidden_states',
      runs: '/ws/.layerlab/output/runs',
      thinking: '/ws/.layerlab/output/thinking',
    });
  });

  it('resolves relative, absolute and ~ paths; ignores wrong types', () => {
    const s = resolveSettings(
      { modelsPath: 'models', datasetsPath: '/data', outputPath: '~/out', provider: 'gpu', threads: -1, batchSize: 2.5, nodePath: '  ' },
      '/ws',
    );
    assert.equal(s.modelsPath, '/ws/models');
    assert.equal(s.datasetsPath, '/data');
    assert.equal(s.outputPath, path.join(os.homedir(), 'out'));
    assert.equal(s.provider, 'auto');
    assert.equal(s.threads, 0);
    assert.equal(s.batchSize, undefined, 'not an integer >= 1: each job keeps its own default');
    assert.equal(s.nodePath, undefined);
    assert.equal(s.weights, 'fp32');
    assert.equal(resolveSettings({ nodePath: '/usr/bin/node', provider: 'cuda', threads: 8 }, '/ws').nodePath, '/usr/bin/node');
    const gpu = resolveSettings({ provider: 'webgpu', weights: 'int4' }, '/ws');
    assert.deepEqual([gpu.provider, gpu.weights], ['webgpu', 'int4']);
    assert.equal(resolveSettings({ weights: 'bf16' }, '/ws').weights, 'fp32', 'an unknown precision falls back to exact');
  });
});

describe('runtime command line', () => {
  const base = { execPath: '/opt/code/code', runtimeScript: '/ext/dist/runtime.js', cwd: '/ws', parentPid: 4242, env: { PATH: '/bin', NODE_OPTIONS: '--inspect=9229' } };

  it("uses VS Code's own executable as Node, with telemetry off and the parent pid", () => {
    const c = runtimeCommand(base);
    assert.equal(c.command, '/opt/code/code');
    assert.deepEqual(c.args, ['/ext/dist/runtime.js', '--parent-pid', '4242']);
    assert.equal(c.cwd, '/ws');
    assert.equal(c.env.ELECTRON_RUN_AS_NODE, '1');
    assert.equal(c.env.ORT_DISABLE_TELEMETRY, '1');
    assert.equal(c.env.NODE_OPTIONS, undefined, "the extension host's --inspect must not leak into the runtime");
    assert.equal(c.env.PATH, '/bin');
  });

  it('uses layerlab.nodePath when set, without ELECTRON_RUN_AS_NODE', () => {
    const c = runtimeCommand({ ...base, nodePath: '/usr/bin/node', env: { ...base.env, ELECTRON_RUN_AS_NODE: '1' } });
    assert.equal(c.command, '/usr/bin/node');
    assert.equal(c.env.ELECTRON_RUN_AS_NODE, undefined);
  });
});
