/**
 * compute-directions end to end on the demo model: from a labelled dataset to unit directions
 * per layer and their statistics, checked against the definition recomputed here from the
 * cache with plain loops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../../models/demo';
import { openSafetensors } from '../../models/safetensors';
import { runCli } from '../helpers/cli';
import { sharedFile } from '../helpers/sharedData';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir();
const env = { LAYERLAB_CACHE_DIR: path.join(root, 'cache') };
const model = writeDemoModel(path.join(root, 'demo-model')).dir;
const reasonMem = sharedFile('mmlu-reason-mem/reason_mem_labels_mmlu_en_validation.json');

test('labelled MMLU → cache → directions: unit vectors equal the difference of train means', { skip: reasonMem.skip }, () => {
  const out = path.join(root, 'hs');
  const save = runCli(['save-hidden-states', '--model', model, '--data_file_path', reasonMem.path, '--data_name', 'reason-mem', '--data_sample_size', '120', '--data_batch_size', '1', '--output_path', out], env);
  assert.equal(save.status, 0, save.stderr);
  const cacheFile = save.stdout.trim();
  const dirs = runCli(['compute-directions', cacheFile, '--holdout', '0.25', '--json'], env);
  assert.equal(dirs.status, 0, dirs.stderr);
  const layers = JSON.parse(dirs.stdout).layers as { hook: string; norm: number; nReasoning: number; nMemorization: number; train: { n: number; auc: number }; heldOut: { n: number } }[];
  assert.equal(layers.length, 2);

  const cache = openSafetensors(cacheFile);
  const labels = JSON.parse(cache.metadata.labels) as string[];
  const ids = JSON.parse(cache.metadata.record_ids) as string[];
  const directions = openSafetensors(cacheFile.replace(/\.safetensors$/, '.directions.safetensors'));
  const trainIds = new Set(JSON.parse(directions.metadata.train_ids) as string[]);
  const heldOut = JSON.parse(directions.metadata.heldout_ids) as string[];
  assert.equal(trainIds.size + heldOut.length, 120);
  assert.ok(heldOut.every((id) => !trainIds.has(id)), 'held-out records are not in the means');
  const nR = labels.filter((l) => l === 'reasoning').length;
  assert.ok(nR > 0 && nR < 120);

  for (const l of layers) {
    const rows = cache.read(l.hook).data;
    const d = 64;
    const mR = new Float64Array(d);
    const mM = new Float64Array(d);
    let cR = 0;
    let cM = 0;
    ids.forEach((id, i) => {
      if (!trainIds.has(id)) return;
      const m = labels[i] === 'reasoning' ? mR : mM;
      for (let j = 0; j < d; j++) m[j] += rows[i * d + j];
      if (labels[i] === 'reasoning') cR++;
      else cM++;
    });
    const diff = Array.from({ length: d }, (_, j) => mR[j] / cR - mM[j] / cM);
    const norm = Math.hypot(...diff);
    assert.ok(Math.abs(norm - l.norm) < 1e-9 * Math.max(1, norm), `${l.hook} norm`);
    const unit = directions.read(l.hook).data;
    diff.forEach((v, j) => assert.ok(Math.abs(v / (norm + 1e-8) - unit[j]) < 1e-6, `${l.hook}[${j}]`));
    assert.equal(l.nReasoning, cR);
    assert.equal(l.nMemorization, cM);
    assert.ok(l.train.auc >= 0 && l.train.auc <= 1);
    assert.equal(l.heldOut.n, heldOut.length);
  }
  const stats = JSON.parse(fs.readFileSync(cacheFile.replace(/\.safetensors$/, '.directions.json'), 'utf8'));
  assert.equal(stats.projections[layers[0].hook].length, 120);
});

test('directions refuse a cache without both labels, naming the problem', () => {
  const data = path.join(root, 'one-label.json');
  fs.writeFileSync(data, JSON.stringify([0, 1, 2].map((i) => ({ question_id: i, question: `q${i}`, options: ['a', 'b'], answer: 'A', answer_index: 0, category: 'x', memory_reason_score: 0.9 }))));
  const save = runCli(['save-hidden-states', '--model', model, '--data_file_path', data, '--output_path', path.join(root, 'hs1')], env);
  assert.equal(save.status, 0, save.stderr);
  const r = runCli(['compute-directions', save.stdout.trim()], env);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /found 3 reasoning and 0 memorization/);
});
