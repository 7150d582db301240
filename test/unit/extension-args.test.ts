// Argument building, settings resolution and the runtime's command line: the extension's
// decisions about what to run, without VS Code.
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  cliLine,
  computeDirectionsArgs,
  defaultDataName,
  demoArgs,
  evaluateArgs,
  middleLayer,
  parseLayerList,
  parseScale,
  saveHiddenStatesArgs,
  sweepArgs,
} from '../../extension/jobArgs';
import { outputFolders, resolveSettings } from '../../extension/settings';
import { runtimeCommand } from '../../extension/spawn';
import { parseCommandArgs } from '../../runtime/cli/args';
import { computeDirectionsCommand } from '../../runtime/cli/computeDirections';
import { saveHiddenStatesCommand } from '../../runtime/cli/saveHiddenStates';
import { DEMO_OPTIONS } from '../../runtime/cli/demo';

const cpu = { provider: 'cpu' as const, threads: 0 };

describe('job arguments (the CLI twin argv)', () => {
  it('save-hidden-states uses the seed flags and the cache sub-folder', () => {
    assert.deepEqual(
      saveHiddenStatesArgs({ model: '/m/demo', dataFile: '/d/mmlu.json', dataName: 'mmlu', outputPath: '/out', batchSize: 8 }, { provider: 'auto', threads: 4 }),
      ['--model', '/m/demo', '--provider', 'auto', '--threads', '4', '--data_file_path', '/d/mmlu.json', '--data_name', 'mmlu', '--output_path', path.join('/out', 'hidden_states'), '--data_batch_size', '8'],
    );
  });

  it('omits --threads when ONNX Runtime decides (0)', () => {
    assert.ok(!saveHiddenStatesArgs({ model: 'm', dataFile: 'd.json', dataName: 'd', outputPath: 'o', batchSize: 1 }, cpu).includes('--threads'));
  });

  it('evaluate lists every layer after one --layer_indices and picks the hook flag', () => {
    const a = evaluateArgs(
      { model: 'm', dataFile: 'd.json', cacheFile: 'c.safetensors', layers: [64, 66], hook: 'pre', scale: -0.5, batchSize: 2, maxNewTokens: 50, outputPath: '/o' },
      cpu,
    );
    const i = a.indexOf('--layer_indices');
    assert.deepEqual(a.slice(i, i + 3), ['--layer_indices', '64', '66']);
    assert.ok(a.includes('--with_pre_hook') && !a.includes('--with_post_hook'));
    assert.deepEqual(a.slice(a.indexOf('--scale'), a.indexOf('--scale') + 2), ['--scale', '-0.5']);
    assert.equal(a[a.indexOf('--output_path') + 1], path.join('/o', 'runs'));
    assert.throws(() => evaluateArgs({ model: 'm', dataFile: 'd', cacheFile: 'c', layers: [], hook: 'post', scale: 0.1, batchSize: 1, maxNewTokens: 1, outputPath: 'o' }, cpu), /at least one layer/);
  });

  it('sweep takes no layer list; compute-directions takes the cache file', () => {
    const s = sweepArgs({ model: 'm', dataFile: 'd', cacheFile: 'c', hook: 'post', scale: 0.1, batchSize: 1, maxNewTokens: 10, outputPath: '/o' }, cpu);
    assert.ok(!s.includes('--layer_indices') && s.includes('--with_post_hook'));
    assert.deepEqual(s.slice(s.indexOf('--scales'), s.indexOf('--scales') + 2), ['--scales', '0.1']);
    assert.deepEqual(computeDirectionsArgs({ cacheFile: '/c.safetensors' }), ['/c.safetensors']);
  });

  it('parse with the CLI twins’ own option specs (the palette and the terminal agree)', () => {
    const save = parseCommandArgs(
      saveHiddenStatesArgs({ model: '/m/demo', dataFile: '/d/x.json', dataName: 'x', outputPath: '/o', batchSize: 8 }, { provider: 'cpu', threads: 2 }),
      saveHiddenStatesCommand.options,
    ).values;
    assert.deepEqual(
      [save.model, save.provider, save.threads, save.data_file_path, save.data_name, save.output_path, save.data_batch_size],
      ['/m/demo', 'cpu', '2', '/d/x.json', 'x', path.join('/o', 'hidden_states'), '8'],
    );
    const dirs = parseCommandArgs(computeDirectionsArgs({ cacheFile: '/c.safetensors' }), computeDirectionsCommand.options, { positionals: true });
    assert.deepEqual(dirs.positionals, ['/c.safetensors']);
  });

  it('demo args parse with the demo’s own option spec (no unknown flags), the datasets folder from settings', () => {
    const args = demoArgs({ modelsPath: '/w/.layerlab/models', datasetsPath: '/w/data', outputPath: '/w/.layerlab/output' }, { provider: 'cpu', threads: 2 });
    const { values } = parseCommandArgs(args, DEMO_OPTIONS);
    assert.equal(values.models_path, '/w/.layerlab/models');
    assert.equal(values.datasets_path, '/w/data');
    assert.equal(values.output_path, '/w/.layerlab/output');
    assert.equal(values.provider, 'cpu');
    assert.equal(values.threads, '2');
  });

  it('prints a repeatable shell line, quoting what needs it', () => {
    assert.equal(cliLine('demo', ['--models_path', '/a b/it\'s']), `layerlab demo --models_path '/a b/it'\\''s'`);
    assert.equal(cliLine('generate', ['--prompt', 'x=1,y']), 'layerlab generate --prompt x=1,y');
  });

  it('parses layer lists and reports what is wrong', () => {
    assert.deepEqual(parseLayerList('66'), [66]);
    assert.deepEqual(parseLayerList('68, 64-66 64'), [64, 65, 66, 68]);
    assert.match(parseLayerList('', 4) as string, /at least one layer/);
    assert.match(parseLayerList('a', 4) as string, /'a' is not a layer/);
    assert.match(parseLayerList('5-3') as string, /runs backwards/);
    assert.match(parseLayerList('2 4', 4) as string, /layer 4 does not exist: the model has blocks 0\.\.3/);
    assert.equal(middleLayer(132), 66, "the seed's layer 66 of huginn's 132 blocks");
    assert.equal(parseScale(' 0.1 '), 0.1);
    assert.match(parseScale('x') as string, /not a number/);
    assert.match(parseScale('') as string, /not a number/);
  });

  it('names a dataset after its file', () => {
    assert.equal(defaultDataName('/d/mmlu-pro-3000samples.json'), 'mmlu-pro-3000samples');
    assert.equal(defaultDataName('x.test.JSONL'), 'x.test');
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
      threads: 0,
      batchSize: 4,
    });
    assert.deepEqual(outputFolders(s), {
      cache: '/ws/.layerlab/output/hidden_states',
      directions: '/ws/.layerlab/output/directions',
      runs: '/ws/.layerlab/output/runs',
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
    assert.equal(s.batchSize, 4);
    assert.equal(s.nodePath, undefined);
    assert.equal(resolveSettings({ nodePath: '/usr/bin/node', provider: 'cuda', threads: 8 }, '/ws').nodePath, '/usr/bin/node');
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
