/**
 * The seed's two commands as its scripts ran them, with a llama2.c file as `--model_name`:
 * command 1 writes `OUTPUT/<model>/<data_name>.safetensors` and command 2, given the same names,
 * finds it there (both name the folder after the checkpoint's stem, `stories260K`). Before the
 * job API they disagreed (`stories260K/` vs `stories260K.bin/`) and command 2 failed.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunFile } from '../../runtime/protocol/results';
import { runCli } from '../helpers/cli';
import { sharedFile } from '../helpers/sharedData';
import { writeStoryQuestions } from '../helpers/storyQuestions';
import { tmpDir } from '../helpers/tmp';

const stories = sharedFile('stories260K/stories260K.bin');


describe("the seed's commands with --models_path DIR --model_name stories260K.bin", { skip: stories.skip }, () => {
  test('command 2 finds the cache command 1 wrote, and its run names the same model folder', () => {
    const root = tmpDir('layerlab-seed-');
    const env = { LAYERLAB_CACHE_DIR: path.join(root, 'graphs') };
    const dataFile = path.join(root, 'stories-qa.json');
    writeStoryQuestions(dataFile);
    const models = path.dirname(stories.path);
    const cacheDir = path.join(root, 'hidden_states_cache');
    const save = runCli(['save-hidden-states', '--models_path', models, '--model_name', 'stories260K.bin', '--data_file_path', dataFile, '--data_name', 'stories-qa', '--output_path', cacheDir], env);
    assert.equal(save.status, 0, save.stderr);
    const cache = path.join(cacheDir, 'stories260K', 'stories-qa.safetensors');
    assert.equal(save.stdout.trim(), cache);

    const out = path.join(root, 'runs');
    const ev = runCli([
      'evaluate', '--models_path', models, '--model_name', 'stories260K.bin', '--hidden_states_cache_path', cacheDir,
      '--mmlu_pro_3000samples_data_file_path', dataFile, '--test_data_path', root, '--test_data_name', 'stories-qa',
      '--split', 'overlap', '--sample_size', '8', '--max_new_tokens', '4', '--batch_size', '1',
      '--with_intervention', '--layer_indices', '2', '--with_post_hook', '--scale', '-0.5', '--output_path', out,
    ], env);
    assert.equal(ev.status, 0, ev.stderr);
    assert.match(ev.stdout, /^Layer \[2\] - Reasoning Subset Accuracy: \d\.\d{4} \(\d+\/4\)$/m);
    assert.match(ev.stdout, /^Layer \[2\] - Memorizing Subset Accuracy: \d\.\d{4} \(\d+\/4\)$/m);
    assert.match(ev.stderr, new RegExp(`computing directions from ${cache.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`), 'directions from the cache command 1 wrote');
    const [runFile] = fs.readdirSync(path.join(out, 'stories260K'));
    const run = JSON.parse(fs.readFileSync(path.join(out, 'stories260K', runFile!), 'utf8')) as RunFile;
    assert.equal(run.spec.directions?.path, cache.replace(/\.safetensors$/, '.directions.safetensors'));
    assert.equal(run.complete, true);
  });
});
