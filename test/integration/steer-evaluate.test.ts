/**
 * Steering as the intervention of evaluate and sweep (the --steer_* flags), on the generated demo
 * model: strength 0 reproduces the baseline item for item; a sweep runs every strength at each
 * steered hook with random vectors of the same lengths as controls; the run file records the
 * steering and the run page's model names the settings; what evaluation cannot do is refused.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../../models/demo';
import { writeDemoDataset } from '../../datasets';
import type { RunFile } from '../../runtime/protocol/results';
import { settingLabels, settingOf } from '../../webview/model/run';
import { jobRunner, type JobRunner } from '../helpers/jobs';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir('layerlab-steer-eval-');
const dataFile = path.join(root, 'layerlab-demo.json');

/** A .npy vector written as NumPy does (version 1.0, '<f4'). */
function writeNpy(file: string, v: Float32Array): void {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${v.length},), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const header = dict + ' '.repeat(total - 10 - dict.length - 1) + '\n';
  const len = Buffer.alloc(2);
  len.writeUInt16LE(header.length);
  fs.writeFileSync(file, Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY\x01\x00', 'latin1'), len, Buffer.from(header, 'latin1'), Buffer.from(v.buffer)]));
}

function read(file: string): RunFile {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as RunFile;
}

describe('evaluate and sweep with steering (demo model)', () => {
  let jobs: JobRunner;
  let model: string;
  const vector = path.join(root, 'v.npy');
  const common = { dataFile, sampleSize: 6, batchSize: 3, maxNewTokens: 8, split: 'overlap' as const, checkpointSeconds: 3600 };

  before(async () => {
    writeDemoDataset(dataFile);
    model = writeDemoModel(path.join(root, 'demo'), { maxSeqLen: 2048 }).dir;
    jobs = jobRunner();
    const info = await jobs.run('info', { model });
    writeNpy(vector, Float32Array.from({ length: info.dModel }, (_, i) => 40 * Math.sin(i * 1.7 + 0.3)));
  });
  after(async () => jobs?.release());

  test('evaluate --steer_* at strength 0 reproduces the baseline item for item; the run file records the steering', async () => {
    const out = path.join(root, 'eval0.json');
    const r = await jobs.run('evaluate', { model, ...common, out, withBaseline: true, steerHooks: ['blocks.1.hook_resid_post'], steerVector: vector, steerStrength: 0 });
    const run = read(r.runFile);
    assert.deepEqual(run.results.map((x) => x.intervention.id), ['baseline', 'post@1 add s=0']);
    const [base, steered] = run.results;
    assert.deepEqual(steered!.items.map((i) => i.generated), base!.items.map((i) => i.generated));
    const st = steered!.intervention.steering!;
    assert.equal(st.method, 'add');
    assert.equal(st.source, 'v.npy');
    assert.deepEqual(st.hooks.map((h) => h.hook), ['blocks.1.hook_resid_post']);
    assert.ok(Math.abs(st.hooks[0]!.vectorNorm - Math.hypot(...Array.from({ length: 64 }, (_, i) => 40 * Math.sin(i * 1.7 + 0.3)))) < 1e-3 * st.hooks[0]!.vectorNorm);
    assert.ok(run.spec.argv.includes('--steer_vector'), 'the CLI twin has the steering flags');
  });

  test('sweep --steer_strengths: every strength at every steered hook, random vectors of the same lengths as controls, the baseline', async () => {
    const out = path.join(root, 'sweep.json');
    const r = await jobs.run('sweep', { model, ...common, out, steerHooks: ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_post'], steerVector: vector, steerStrengths: [0, 3], randomControls: 1 });
    const run = read(r.runFile);
    assert.deepEqual(run.results.map((x) => x.intervention.id), [
      'baseline', 'post@0 add s=0', 'post@0 add s=3', 'post@1 add s=0', 'post@1 add s=3',
      'random#0 post@0 add s=0', 'random#0 post@0 add s=3', 'random#0 post@1 add s=0', 'random#0 post@1 add s=3',
    ]);
    const byId = new Map(run.results.map((x) => [x.intervention.id, x]));
    const baseTexts = byId.get('baseline')!.items.map((i) => i.generated);
    for (const id of ['post@0 add s=0', 'random#0 post@1 add s=0']) assert.deepEqual(byId.get(id)!.items.map((i) => i.generated), baseTexts, id);
    assert.notDeepEqual(byId.get('post@1 add s=3')!.items.map((i) => i.generated), baseTexts, 'strength 3 changes the answers');
    const real = byId.get('post@1 add s=3')!.intervention;
    const control = byId.get('random#0 post@1 add s=3')!.intervention;
    assert.equal(control.kind, 'random-direction');
    assert.ok(Math.abs(control.steering!.hooks[0]!.vectorNorm - real.steering!.hooks[0]!.vectorNorm) < 1e-3 * real.steering!.hooks[0]!.vectorNorm, 'controls have the same length');
    assert.notEqual(control.steering!.hooks[0]!.from, real.steering!.hooks[0]!.from);
    // The run page names the settings by their steering.
    const settings = run.results.map((x) => settingOf(x.intervention)).filter((s) => s !== null);
    const labels = settingLabels(settings);
    assert.deepEqual([...new Set(settings.map((s) => labels.get(s.key)))], ['add s=0', 'add s=3', 'random #0 · add s=0', 'random #0 · add s=3']);
  });

  test('what evaluation cannot do is refused naming the flags', async () => {
    await assert.rejects(jobs.run('evaluate', { model, ...common, steerHooks: ['blocks.1.hook_resid_post'], steerVector: vector, steerPositions: 'last' }), /--steer_positions last is not supported here/);
    await assert.rejects(jobs.run('evaluate', { model, ...common, withIntervention: true, layerIndices: [1], steerHooks: ['blocks.1.hook_resid_post'], steerVector: vector }), /--with_intervention and --steer_\* are two interventions/);
    await assert.rejects(jobs.run('evaluate', { model, ...common, steerVector: vector }), /steering needs --steer_hooks/);
    await assert.rejects(jobs.run('evaluate', { model, ...common, steerHooks: ['blocks.9.hook_resid_post'], steerVector: vector }), /--steer_hooks: hook point 'blocks\.9\.hook_resid_post' is out of range/);
    await assert.rejects(jobs.run('evaluate', { model, ...common, steerHooks: ['post'], steerVector: vector, steerMethod: 'project' }), /--steer_method project needs --steer_strength/);
    await assert.rejects(jobs.run('evaluate', { model, ...common, steerHooks: ['post'], steerVector: vector, steerMethod: 'angular', steerStrength: 5, steerNorm: 'relative' }), /--steer_norm relative applies to add and affine/);
  });
});
