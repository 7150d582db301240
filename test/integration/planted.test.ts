/**
 * Ground truth for directions and interventions: the planted model (models/planted.ts) carries
 * the sign of its prompt along one known unit vector u at the output of one known block, and
 * nowhere else; its answer (A for '+', B for '-') is read from u. Everything LayerLab computes
 * here goes through the real CLI, and is compared with u, which LayerLab never sees.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { plantedRows } from '../../datasets';
import { openSafetensors } from '../../models/safetensors';
import { PLANTED_BLOCK, PLANTED_BLOCKS, writePlantedModel, type PlantedModel } from '../../models/planted';
import type { RunFile } from '../../runtime/protocol/results';
import { runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir('layerlab-planted-');
const env = { LAYERLAB_CACHE_DIR: path.join(root, 'graphs') };
const data = path.join(root, 'planted.json');
let planted: PlantedModel;
let directionsFile: string;

function cli(args: string[]): string {
  const r = runCli(args, env);
  assert.equal(r.status, 0, `layerlab ${args.join(' ')}:\n${r.stderr}`);
  return r.stdout;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);
const readRun = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as RunFile;
const byId = (run: RunFile, id: string) => {
  const r = run.results.find((x) => x.intervention.id === id);
  assert.ok(r, `${id} in ${run.results.map((x) => x.intervention.id).join(', ')}`);
  return r;
};
/** Letters answered per record id. */
const answers = (run: RunFile, id: string) => Object.fromEntries(byId(run, id).items.map((i) => [i.id, i.parsed]));

describe('planted model: a known vector at a known block', () => {
  before(() => {
    planted = writePlantedModel(path.join(root, 'planted'));
    fs.writeFileSync(data, JSON.stringify(plantedRows(80, 0)));
    const cache = cli(['save-hidden-states', '--model', planted.dir, '--data_file_path', data, '--data_name', 'planted', '--output_path', path.join(root, 'hs')]).trim();
    cli(['compute-directions', cache, '--holdout', '0.25', '--seed', '0']);
    directionsFile = cache.replace(/\.safetensors$/, '.directions.safetensors');
  });

  it('the planted vector is a unit vector off every axis (so recovering it is not luck)', () => {
    assert.ok(Math.abs(Math.hypot(...planted.u) - 1) < 1e-6);
    assert.ok(Math.max(...Array.from(planted.u, Math.abs)) < 0.9, 'not an axis');
  });

  it('compute-directions recovers u at the planted block (cosine ≥ 0.99) and not at the others', () => {
    const dirs = openSafetensors(directionsFile);
    assert.deepEqual([...dirs.names], Array.from({ length: PLANTED_BLOCKS }, (_, l) => `blocks.${l}.hook_resid_post`));
    for (let l = 0; l < PLANTED_BLOCKS; l++) {
      const cos = dot(dirs.read(`blocks.${l}.hook_resid_post`).data, planted.u);
      if (l === PLANTED_BLOCK) assert.ok(cos >= 0.99, `block ${l}: cosine ${cos} with u`);
      else assert.ok(Math.abs(cos) < 0.1, `block ${l}: cosine ${cos} with u, but u is only at block ${PLANTED_BLOCK}`);
    }
  });

  it('projecting u out at the planted block flips every answer it decides (+ → B), and nothing else', () => {
    const out = path.join(root, 'ablate.json');
    cli(['evaluate', '--model', planted.dir, '--data_file', data, '--direction_file', directionsFile, '--scoring', 'loglik', '--with_intervention', '--with_baseline',
      '--layer_indices', String(PLANTED_BLOCK), '--with_post_hook', '--scale', '-1', '--out', out]);
    const run = readRun(out);
    const base = byId(run, 'baseline');
    assert.equal(base.summary.reasoning.correct, base.summary.reasoning.total, 'the baseline answers every + item A');
    assert.equal(base.summary.memorization.correct, base.summary.memorization.total, 'and every - item B');
    assert.ok(base.summary.reasoning.total >= 10, 'held-out items of both kinds');
    const ablated = run.results.find((r) => r.intervention.kind === 'direction')!;
    const parsed = Object.fromEntries(ablated.items.map((i) => [i.id, i.parsed]));
    for (const item of base.items) assert.equal(parsed[item.id], 'B', `${item.question}: with u removed the answer is B`);
    assert.equal(ablated.summary.reasoning.correct, 0);
    assert.equal(ablated.summary.memorization.correct, ablated.summary.memorization.total);
  });

  it('the same edit does nothing where u is absent, and a random direction at the planted block does nothing', () => {
    const out = path.join(root, 'sweep.json');
    // --direction_layer: the planted block's direction applied at each swept block.
    cli(['sweep', '--model', planted.dir, '--data_file', data, '--direction_file', directionsFile, '--scoring', 'loglik', '--scales', '-1',
      '--direction_layer', String(PLANTED_BLOCK), '--random_controls', '1', '--out', out]);
    const run = readRun(out);
    const base = answers(run, 'baseline');
    for (let l = 0; l < PLANTED_BLOCKS; l++) {
      const edited = run.results.find((r) => r.intervention.kind === 'direction' && r.intervention.layers[0] === l)!;
      const changed = edited.items.filter((i) => i.parsed !== base[i.id]).length;
      if (l === PLANTED_BLOCK) assert.equal(changed, edited.summary.reasoning.total, `block ${l}: every + answer flips`);
      else assert.equal(changed, 0, `block ${l}: u is not there, nothing changes`);
      const random = run.results.find((r) => r.intervention.kind === 'random-direction' && r.intervention.layers[0] === l)!;
      assert.equal(random.items.filter((i) => i.parsed !== base[i.id]).length, 0, `random direction at block ${l}`);
    }
  });
});
