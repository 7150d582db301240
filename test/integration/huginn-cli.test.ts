/**
 * The seed's model family through the real `layerlab` CLI on a generated tiny huginn folder:
 * `info` prints the unrolled block map for num_steps 32 and 16, the seed's save-hidden-states
 * command caches 2 + 4·num_steps + 2 hook points and records num_steps, and the seed's evaluate
 * command runs with --with_post_hook and --with_pre_hook on a core block of a later recurrence.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeTinyHuginn } from '../../models/huginn/demo';
import { writeDemoModel } from '../../models/demo';
import { writeDemoDataset } from '../../datasets/demo';
import { openSafetensors } from '../../models/safetensors';
import { runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir('layerlab-huginn-cli-');
const env = { LAYERLAB_CACHE_DIR: path.join(root, 'cache') };
const modelsPath = path.join(root, 'models');
writeTinyHuginn(path.join(modelsPath, 'huginn-tiny'), { seed: 7, maxSeqLen: 512 });
const dataDir = path.join(root, 'datasets');
fs.mkdirSync(dataDir);
const dataFile = path.join(dataDir, 'mmlu-pro-3000samples.json');
writeDemoDataset(dataFile, { n: 12, seed: 1 });
const seedModelFlags = ['--models_path', modelsPath, '--model_name', 'huginn-tiny'];

describe('layerlab info on a huginn folder', () => {
  test('--num_steps 32: 132 blocks, blocks.66 is core block 0 in recurrence 16, with the layout line', () => {
    const r = runCli(['info', ...seedModelFlags, '--num_steps', '32'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^architecture {3}huginn \/ huginn_raven$/m);
    assert.match(r.stdout, /^blocks {9}132 {2}\{"num_steps":32,"state_init":"zeros"\}$/m);
    assert.match(r.stdout, /^layout {9}prelude blocks\.0-1 \| core blocks\.2-129 \(4 blocks × 32 recurrences\) \| coda blocks\.130-131$/m);
    assert.match(r.stdout, /^ {2}blocks\.0 {2}prelude 0$/m);
    assert.match(r.stdout, /^ {2}blocks\.66 {2}core block 0, recurrence 16$/m);
    assert.match(r.stdout, /^ {2}blocks\.129 {2}core block 3, recurrence 31$/m);
    assert.match(r.stdout, /^ {2}blocks\.131 {2}coda 1$/m);
    assert.match(r.stdout, /hook points {4}blocks\.\{0\.\.131\}\.hook_resid_pre \| hook_resid_post {2}\(264 in all\)/);
  });

  test('--num_steps 16 --json: 68 blocks, blocks.34 is core block 0 in recurrence 8, blocks.66 is coda 0', () => {
    const r = runCli(['info', ...seedModelFlags, '--num_steps', '16', '--json'], env);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.nBlocks, 68);
    assert.deepEqual(info.options, { num_steps: 16, state_init: 'zeros' });
    assert.deepEqual(info.blocks[34], { index: 34, part: 'core', label: 'core block 0, recurrence 8' });
    assert.deepEqual(info.blocks[66], { index: 66, part: 'coda', label: 'coda 0' });
    assert.equal(info.hookPoints, 136);
    const text = runCli(['info', ...seedModelFlags, '--num_steps', '16'], env);
    assert.match(text.stdout, /^layout {9}prelude blocks\.0-1 \| core blocks\.2-65 \(4 blocks × 16 recurrences\) \| coda blocks\.66-67$/m);
  });

  test('bad model options exit non-zero with a message', () => {
    const bad = runCli(['info', ...seedModelFlags, '--num_steps', 'many'], env);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--num_steps takes an integer, got 'many'/);
    const state = runCli(['info', ...seedModelFlags, '--state_init', 'noise'], env);
    assert.equal(state.status, 2);
    assert.match(state.stderr, /--state_init must be zeros or random, got 'noise'/);
    const llama = writeDemoModel(path.join(root, 'llama')).dir;
    const r = runCli(['info', '--model', llama, '--num_steps', '4'], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--num_steps applies only to recurrent-depth models \(model_type huginn_raven\)/);
  });
});

describe("the seed's two commands on a huginn folder (num_steps 3)", () => {
  const steps = 3;
  const nBlocks = 2 + 4 * steps + 2;
  const cacheDir = path.join(root, 'hidden_states_cache');

  test('save-hidden-states with the seed’s flags caches every block output and records num_steps', () => {
    const r = runCli(
      ['save-hidden-states', ...seedModelFlags, '--data_file_path', dataFile, '--data_name', 'mmlu-pro-3000samples', '--output_path', cacheDir, '--num_steps', String(steps)],
      env,
    );
    assert.equal(r.status, 0, r.stderr);
    const file = path.join(cacheDir, 'huginn-tiny', 'mmlu-pro-3000samples.safetensors');
    assert.equal(r.stdout.trim(), file);
    const st = openSafetensors(file);
    assert.deepEqual([...st.names].sort(), Array.from({ length: nBlocks }, (_, l) => `blocks.${l}.hook_resid_post`).sort());
    for (const name of st.names) assert.deepEqual(st.header[name].shape, [12, 64], name);
    assert.deepEqual(JSON.parse(st.metadata.model_options), { num_steps: steps, state_init: 'zeros' });
    assert.equal(st.metadata.model_type, 'huginn_raven');
    const labels = JSON.parse(st.metadata.block_labels);
    assert.equal(labels.length, nBlocks);
    assert.equal(labels[6], 'core block 0, recurrence 1');
    assert.equal(labels[nBlocks - 1], 'coda 1');
    // The seed's chat prompt through huginn's template: rows differ between records.
    const a = st.read('blocks.6.hook_resid_post').data;
    assert.notDeepEqual(a.subarray(0, 64), a.subarray(64, 128));
  });

  // Core block 1 of recurrence 1: one of the core blocks whose hooks never fired in the original.
  const layer = 2 + 4 * 1 + 1;
  for (const hook of ['post', 'pre'] as const) {
    test(`evaluate … --with_intervention --layer_indices ${layer} --with_${hook}_hook runs and records num_steps`, () => {
      // Pre-hook directions need the blocks' inputs cached too.
      const hsPath = hook === 'post' ? cacheDir : path.join(root, 'hidden_states_cache_all');
      if (hook === 'pre') {
        const s = runCli(
          ['save-hidden-states', ...seedModelFlags, '--data_file_path', dataFile, '--data_name', 'mmlu-pro-3000samples', '--output_path', hsPath, '--num_steps', String(steps), '--hooks', 'all'],
          env,
        );
        assert.equal(s.status, 0, s.stderr);
      }
      const out = path.join(root, `run-${hook}.json`);
      const r = runCli(
        [
          'evaluate', ...seedModelFlags,
          '--hidden_states_cache_path', hsPath,
          '--mmlu_pro_3000samples_data_file_path', dataFile,
          '--test_data_path', dataDir,
          '--test_data_name', 'mmlu-pro-3000samples',
          '--batch_size', '1', '--max_new_tokens', '4',
          '--with_intervention', '--layer_indices', String(layer), `--with_${hook}_hook`,
          '--num_steps', String(steps), '--out', out,
        ],
        env,
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Layer \\[${layer}\\] - Reasoning Subset Accuracy: `));
      const run = JSON.parse(fs.readFileSync(out, 'utf8'));
      assert.equal(run.complete, true);
      assert.deepEqual(run.spec.model.options, { num_steps: steps, state_init: 'zeros' });
      assert.deepEqual(run.spec.stopStrings, ['<|end_text|>', '<|end_turn|>']);
      assert.equal(run.spec.interventions.length, 1);
      assert.deepEqual(run.spec.interventions[0].directionHooks, [`blocks.${layer}.hook_resid_${hook}`]);
    });
  }

  test('evaluate refuses directions measured at another num_steps (block indices mean other blocks)', () => {
    // Runs after the post-hook test above, which left directions computed at num_steps 3 beside the cache.
    const r = runCli(
      [
        'evaluate', ...seedModelFlags,
        '--hidden_states_cache_path', cacheDir,
        '--test_data_path', dataDir, '--test_data_name', 'mmlu-pro-3000samples',
        '--max_new_tokens', '2', '--with_intervention', '--layer_indices', '3', '--with_post_hook',
        '--num_steps', '2', '--out', path.join(root, 'run-mismatch.json'),
      ],
      env,
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /computed with model options \{"num_steps":3,"state_init":"zeros"\}, but the model is open with \{"num_steps":2,"state_init":"zeros"\}/);
  });

  test("evaluate refuses another model's directions naming the model, not only its options", () => {
    // A Llama of the same width: the huginn directions' options differ because the model does.
    const llama = writeDemoModel(path.join(root, 'llama-same-width')).dir;
    const directions = path.join(cacheDir, 'huginn-tiny', 'mmlu-pro-3000samples.directions.safetensors');
    assert.ok(fs.existsSync(directions), 'the post-hook test left the directions');
    const r = runCli(
      ['evaluate', '--model', llama, '--data_file', dataFile, '--direction_file', directions, '--max_new_tokens', '2', '--with_intervention', '--layer_indices', '1', '--out', path.join(root, 'run-other-model.json')],
      env,
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /was computed from another model \(hash [0-9a-f]{12}…, this model [0-9a-f]{12}…\), whose block indices mean other blocks \(model options \{"num_steps":3,"state_init":"zeros"\}, this model \{\}\)/);
  });
});
