// The decisions behind the palette's job forms, the compatibility check and the labels of runs
// and caches, as plain functions: what a form opens with and from where, how typed values are
// read and checked, what a job is sent, whether a cache belongs to a model, and how runs of the
// same data are told apart.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { byCompatibility, compatibility, uncoveredEdits, uncoveredMessage, type ModelIdentity, type SourceIdentity } from '../../extension/compatibility';
import { FORM_JOBS, FORM_LAYOUTS, formFields, isActive, moreLines, openForm, paramsOf, parseValue, plannedEdits, problemOf, rememberedOf, resetOptions, reviewLines, setValue } from '../../extension/jobForm';
import { describeCrash } from '../../extension/runtimeState';
import { fieldsOf } from '../../runtime/protocol/argv';
import { JOBS } from '../../runtime/protocol/jobs';
import { cacheLabels, describeHooks, describeInterventions, modelNameOf, runDifferences, runLabels, type CacheDescription } from '../../runtime/protocol/labels';
import type { RunFile } from '../../runtime/protocol/results';
import { fixtureRun } from '../helpers/runFixtures';

const field = (job: (typeof FORM_JOBS)[number], key: string) => fieldsOf(JOBS[job]).find((f) => f.key === key)!;

describe('job form layout', () => {
  it('names only parameters the jobs have, and every parameter is offered once (the seed’s second spellings aside)', () => {
    for (const job of FORM_JOBS) {
      const keys = fieldsOf(JOBS[job]).map((f) => f.key);
      const layout = FORM_LAYOUTS[job];
      for (const k of [...layout.inputs.map((i) => i.key), ...layout.common, ...Object.keys(layout.chosenThrough), ...Object.keys(layout.presets), ...Object.values(layout.onlyWith).flat(), ...layout.perRun]) {
        assert.ok(keys.includes(k), `${job} has no parameter ${k}`);
      }
      const { inputs, common, more } = formFields(job);
      const offered = [...inputs.map((i) => i.key), ...common.map((f) => f.key), ...more.map((f) => f.key)];
      assert.equal(new Set(offered).size, offered.length, `${job}: a parameter offered twice`);
      assert.deepEqual([...offered, ...Object.keys(layout.chosenThrough)].sort(), [...keys].sort(), `${job}: every parameter`);
    }
  });
});

describe('opening a form', () => {
  it('later sources win: presets < settings < remembered < highlighted < given, each saying where it came from', () => {
    const form = openForm('evaluate', {
      settings: { provider: 'cpu', batchSize: 2 },
      remembered: { scoring: 'loglik', batchSize: 8, dataFile: '/d/old.json', model: '/m/old', noSuchParameter: 1 },
      offered: { dataFile: { value: '/d/highlighted.json', origin: 'selection' }, model: { value: '/m/given', origin: 'given' } },
    });
    assert.deepEqual(form.values, { withIntervention: true, provider: 'cpu', batchSize: 8, scoring: 'loglik', dataFile: '/d/highlighted.json', model: '/m/given' });
    assert.deepEqual(form.origins, { withIntervention: 'preset', provider: 'settings', batchSize: 'remembered', scoring: 'remembered', dataFile: 'selection', model: 'given' });
  });

  it('remembers what was chosen, not what settings or presets put there, nor what names one run’s output or one dataset', () => {
    let form = openForm('evaluate', { settings: { provider: 'cpu' }, offered: { model: { value: '/m/a', origin: 'selection' } } });
    form = setValue(setValue(form, 'scoring', 'loglik'), 'out', '/o/my-run.json');
    assert.deepEqual(rememberedOf(form), { model: '/m/a', scoring: 'loglik' }, 'a remembered --out would overwrite this run with the next');
    let save = openForm('save-hidden-states', { offered: { dataFilePath: { value: '/d/a.json', origin: 'given' } } });
    save = setValue(setValue(save, 'dataName', 'a-pre'), 'hooks', ['pre']);
    assert.deepEqual(rememberedOf(save), { dataFilePath: '/d/a.json', hooks: ['pre'] }, 'the next dataset must not be cached under this data name');
  });

  it('reset returns the options to the defaults and keeps the inputs', () => {
    let form = openForm('sweep', { offered: { model: { value: '/m/a', origin: 'given' }, dataFile: { value: '/d/x.json', origin: 'selection' } } });
    form = setValue(setValue(form, 'scales', [1, 2]), 'scoring', 'loglik');
    assert.deepEqual(resetOptions(form).values, { model: '/m/a', dataFile: '/d/x.json' });
  });
});

describe('what a form sends', () => {
  it('only the values that take effect: a switched-off intervention sends no layers', () => {
    let form = openForm('evaluate', { offered: { model: { value: '/m/a', origin: 'given' }, dataFile: { value: '/d/x.json', origin: 'given' } } });
    form = setValue(setValue(form, 'layerIndices', [3]), 'withBaseline', true);
    assert.deepEqual(paramsOf(form), { withIntervention: true, model: '/m/a', dataFile: '/d/x.json', layerIndices: [3], withBaseline: true });
    const off = setValue(form, 'withIntervention', false);
    assert.equal(isActive(off, 'layerIndices'), false);
    assert.deepEqual(paramsOf(off), { withIntervention: false, model: '/m/a', dataFile: '/d/x.json' });
    assert.ok(!reviewLines(off, 'Evaluate').some((l) => l.id === 'field:layerIndices'));
  });

  it('says why it cannot run, in the CLI’s words: a missing input, a conflict, a layer the model lacks', () => {
    let form = openForm('evaluate', { offered: { model: { value: '/m/a', origin: 'given' } } });
    assert.equal(problemOf(form), 'choose the dataset');
    form = setValue(form, 'dataFile', '/d/x.json');
    assert.equal(problemOf(form), '--layer_indices: choose the blocks to edit');
    form = setValue(setValue(setValue(form, 'layerIndices', [9]), 'withPreHook', true), 'withPostHook', true);
    assert.equal(problemOf(form), '--with_pre_hook conflicts with --with_post_hook: an evaluation edits one of them (a sweep can take both)');
    form = setValue(form, 'withPostHook', false);
    assert.equal(problemOf(form), 'choose a hidden-state cache or a directions file: the intervention needs directions');
    form = setValue(form, 'hiddenStatesCachePath', '/o/x.safetensors');
    assert.equal(problemOf(form), undefined);
    assert.equal(problemOf(form, 8), '--layer_indices: layer 9 does not exist: the model has blocks 0..7');
    const lines = reviewLines(form, 'Evaluate', { problem: problemOf(form, 8) });
    assert.equal(lines[0]!.label, '$(error) Cannot run yet: --layer_indices: layer 9 does not exist: the model has blocks 0..7');
  });

  it('the Run line states the CLI twin; More options says how many parameters differ from the defaults', () => {
    let form = openForm('sweep', { offered: { model: { value: '/m/a', origin: 'given' }, dataFile: { value: '/d/x.json', origin: 'given' } } });
    form = setValue(setValue(form, 'scales', [-4, 4]), 'noPrefixReuse', true);
    const lines = reviewLines(form, 'Run Layer Sweep');
    assert.equal(lines[0]!.detail, 'layerlab sweep --model /m/a --data_file /d/x.json --no_prefix_reuse --scales -4 4');
    const more = lines.find((l) => l.id === 'more')!;
    assert.match(more.description!, /^\d+ more parameters, 1 set$/);
    assert.ok(moreLines(form).some((l) => l.id === 'field:noPrefixReuse' && l.description === 'on'));
  });
});

describe('typed values', () => {
  it('are read by kind and checked by the parameter’s own schema', () => {
    const ok = (job: (typeof FORM_JOBS)[number], key: string, text: string, nBlocks?: number) => parseValue(job, field(job, key), text, { nBlocks });
    assert.deepEqual(ok('evaluate', 'scale', ' -0.5 '), { ok: true, value: -0.5 });
    assert.deepEqual(ok('evaluate', 'sampleSize', '0'), { ok: false, error: '--sample_size must be >= 1' });
    assert.deepEqual(ok('evaluate', 'sampleSize', '2.5'), { ok: false, error: "--sample_size takes an integer, got '2.5'" });
    assert.deepEqual(ok('evaluate', 'sampleSize', ''), { ok: true, value: undefined }, 'empty: the default');
    assert.deepEqual(ok('evaluate', 'layerIndices', '10-12, 4', 32), { ok: true, value: [4, 10, 11, 12] });
    assert.deepEqual(ok('evaluate', 'layerIndices', '40', 32), { ok: false, error: 'layer 40 does not exist: the model has blocks 0..31' });
    assert.deepEqual(ok('sweep', 'scales', '-4 4,8'), { ok: true, value: [-4, 4, 8] });
    assert.deepEqual(ok('sweep', 'alphas', '1 x'), { ok: false, error: "--alphas takes numbers, got 'x'" });
    assert.deepEqual(ok('evaluate', 'stop', '["\\n\\nQ:", "a, b"]'), { ok: true, value: ['\n\nQ:', 'a, b'] });
    assert.deepEqual(ok('evaluate', 'stop', 'END, STOP'), { ok: true, value: ['END', 'STOP'] });
    assert.deepEqual(ok('compute-directions', 'holdout', '1'), { ok: false, error: '--holdout must be < 1' });
    assert.deepEqual(ok('save-hidden-states', 'positions', 'first'), { ok: false, error: "--positions must be last, mean or all, got 'first'" });
  });
});

describe('compatibility of a cache or directions with the model a job runs', () => {
  const model: ModelIdentity = { path: '/m/qwen2-tiny', contentHash: 'q'.repeat(64), options: {}, dModel: 64 };
  const source = (o: Partial<SourceIdentity>): SourceIdentity => ({ file: '/o/x.safetensors', what: 'cache', modelPath: '/m/qwen2-tiny', modelHash: 'q'.repeat(64), modelOptions: '{}', dModel: 64, ...o });

  it('matches the same model under the same options, whatever the key order', () => {
    assert.deepEqual(compatibility(model, source({})), { level: 'match' });
    const huginn = { ...model, options: { num_steps: 4, state_init: 'zeros' } };
    assert.deepEqual(compatibility(huginn, source({ modelOptions: '{"state_init":"zeros","num_steps":4}' })), { level: 'match' });
  });

  it('another model of the same width needs a confirmation, and the message names both', () => {
    const v = compatibility(model, source({ modelPath: '/m/stories260K/stories260K.bin', modelHash: 's'.repeat(64) }));
    assert.equal(v.level, 'confirm');
    assert.ok(v.level === 'confirm' && /^The hidden-state cache x\.safetensors was saved from stories260K \(hash s{12}…\), not from qwen2-tiny \(hash q{12}…\)/.test(v.message));
  });

  it('is refused when it cannot apply: another width, other options; the model is named first when it is the cause', () => {
    const wide = compatibility(model, source({ modelPath: '/m/big', modelHash: 'b', dModel: 896 }));
    assert.ok(wide.level === 'refuse' && /saved from big, not from qwen2-tiny, and cannot be applied to it: its vectors have 896 values, qwen2-tiny's hidden states 64/.test(wide.message));
    const huginn = compatibility(model, source({ modelPath: '/m/huginn-0125', modelHash: 'h', modelOptions: '{"num_steps":32}', what: 'directions', file: '/o/x.directions.safetensors' }));
    assert.ok(huginn.level === 'refuse' && /^The directions file x\.directions\.safetensors was saved from huginn-0125, not from qwen2-tiny/.test(huginn.message), 'the model, not "model options {}"');
    const steps = compatibility({ ...model, options: { num_steps: 4 } }, source({ modelOptions: '{"num_steps":32}' }));
    assert.ok(steps.level === 'refuse' && /saved from qwen2-tiny with num_steps=32, but the job opens it with num_steps=4/.test(steps.message));
  });

  it('without recorded provenance it is allowed and says it cannot check', () => {
    assert.equal(compatibility(model, source({ modelHash: undefined })).level, 'unknown');
  });

  it('pickers order matching first, then unknown, then confirm, then refused', () => {
    const verdicts = { a: { level: 'refuse' }, b: { level: 'match' }, c: { level: 'confirm' }, d: undefined, e: { level: 'match' } } as const;
    assert.deepEqual(byCompatibility(['a', 'b', 'c', 'd', 'e'] as const, (k) => verdicts[k] as never), ['b', 'e', 'd', 'c', 'a']);
  });
});

describe('directions for every edit, checked before a job starts', () => {
  const layers = (n: number) => Array.from({ length: n }, () => 'layer');
  const post = (n: number) => Array.from({ length: n }, (_, b) => `blocks.${b}.hook_resid_post`);

  it('what a form edits: an evaluation one hook at its layers, a sweep every block unless told', () => {
    const base = { model: { value: '/m/a', origin: 'given' as const }, dataFile: { value: '/d/x.json', origin: 'given' as const } };
    let ev = setValue(openForm('evaluate', { offered: base }), 'layerIndices', [2, 3]);
    assert.deepEqual(plannedEdits(ev, 4), { blocks: [2, 3], kinds: ['hook_resid_post'] });
    ev = setValue(setValue(ev, 'withPreHook', true), 'directionLayer', 1);
    assert.deepEqual(plannedEdits(ev, 4), { blocks: [2, 3], kinds: ['hook_resid_pre'], directionLayer: 1 });
    assert.equal(plannedEdits(setValue(ev, 'withIntervention', false), 4), undefined, 'a baseline edits nothing');
    const sw = setValue(setValue(openForm('sweep', { offered: base }), 'withPreHook', true), 'withPostHook', true);
    assert.deepEqual(plannedEdits(sw, 3), { blocks: [0, 1, 2], kinds: ['hook_resid_pre', 'hook_resid_post'] });
  });

  it('an edit is covered by its own hook point or, in a plain decoder, the same stream seen from the neighbouring block', () => {
    // A cache of block outputs serves inputs of blocks 1..3 (block l−1's output), not block 0's.
    assert.deepEqual(uncoveredEdits({ blocks: [0, 1, 3], kinds: ['hook_resid_pre'] }, new Set(post(4)), layers(4)), ['blocks.0.hook_resid_pre']);
    assert.deepEqual(uncoveredEdits({ blocks: [0, 3], kinds: ['hook_resid_post'] }, new Set(post(4)), layers(4)), []);
    // Inputs only: block 3's output has no next block to borrow from.
    const pre = new Set(Array.from({ length: 4 }, (_, b) => `blocks.${b}.hook_resid_pre`));
    assert.deepEqual(uncoveredEdits({ blocks: [2, 3], kinds: ['hook_resid_post'] }, pre, layers(4)), ['blocks.3.hook_resid_post']);
    // Not across huginn's prelude / core boundary, and --direction_layer decides whose direction.
    assert.deepEqual(uncoveredEdits({ blocks: [2], kinds: ['hook_resid_pre'] }, new Set(post(4)), ['prelude', 'prelude', 'core', 'core']), ['blocks.2.hook_resid_pre']);
    assert.deepEqual(uncoveredEdits({ blocks: [0, 1], kinds: ['hook_resid_post'], directionLayer: 3 }, new Set(['blocks.3.hook_resid_post']), layers(4)), []);
  });

  it('says which edits lack a direction, what the file holds, and what to do', () => {
    assert.equal(
      uncoveredMessage({ file: '/o/demo/qa.safetensors', what: 'cache', hooks: post(2) }, ['blocks.0.hook_resid_pre']),
      "The hidden-state cache qa.safetensors has no direction for blocks.0.hook_resid_pre: it holds blocks.0.hook_resid_post, blocks.1.hook_resid_post. Edits at the blocks' inputs need their hidden states: run Save Hidden States with --hooks pre (or all), or edit the outputs (--with_post_hook).",
    );
    assert.match(uncoveredMessage({ file: '/o/d.directions.safetensors', what: 'directions', hooks: ['blocks.3.hook_resid_post'] }, ['blocks.1.hook_resid_post', 'blocks.2.hook_resid_post', 'blocks.4.hook_resid_post', 'blocks.5.hook_resid_post']), /^The directions file d\.directions\.safetensors has no direction for blocks\.1\.hook_resid_post, blocks\.2\.hook_resid_post, blocks\.4\.hook_resid_post and 1 more: .* Choose blocks it covers/);
  });
});

function run(over: (r: RunFile) => void = () => {}): RunFile {
  const r = fixtureRun({ layers: [1], scales: [0.1], randomControls: 0 });
  r.spec = { ...r.spec, command: 'sweep', data: { ...r.spec.data, name: 'mmlu-short' }, model: { ...r.spec.model, path: '/m/stories260K/stories260K.bin' } };
  over(r);
  return r;
}

describe('run and cache labels', () => {
  it('carry command, data and model; runs alike in those add only what sets them apart', () => {
    const a = run();
    const b = run((r) => (r.spec.scoring = 'loglik'));
    const c = run((r) => (r.spec.model = { ...r.spec.model, path: '/m/qwen2-tiny', contentHash: 'other' }));
    const labels = runLabels([
      { key: 'a', run: a },
      { key: 'b', run: b },
      { key: 'c', run: c },
    ]);
    assert.equal(labels.get('a'), 'sweep · mmlu-short · stories260K · generate ≤8 tokens');
    assert.equal(labels.get('b'), 'sweep · mmlu-short · stories260K · loglik');
    assert.equal(labels.get('c'), 'sweep · mmlu-short · qwen2-tiny', 'alone with its model and data: nothing more');
  });

  it('the same experiment twice is told apart by when it ran', () => {
    const a = run((r) => (r.createdAt = '2025-03-01T10:00:00Z'));
    const b = run((r) => (r.createdAt = '2025-03-01T11:30:00Z'));
    const labels = runLabels([
      { key: 'a', run: a },
      { key: 'b', run: b },
    ]);
    assert.notEqual(labels.get('a'), labels.get('b'));
    assert.match(labels.get('a')!, /^sweep · mmlu-short · stories260K · \d{4}-\d\d-\d\d \d\d:\d\d$/);
  });

  it('interventions read as what they edit', () => {
    const iv = (layers: number[], scale: number, alpha = 0, hook: 'hook_resid_post' | 'hook_resid_pre' = 'hook_resid_post') => ({ id: '', kind: 'direction' as const, hook, layers, scale, alpha });
    assert.equal(describeInterventions([iv([1], 2)]), 'post@1 scale=2');
    assert.equal(describeInterventions([0, 1, 2, 3].flatMap((l) => [iv([l], -4), iv([l], 4, 2)])), 'post@0–3 scale -4,4 α 0,2');
    assert.equal(describeInterventions([iv([3], 1, 0, 'hook_resid_pre'), iv([3], 1)]), 'post+pre@3 scale=1');
    assert.equal(describeInterventions([{ id: 'baseline', kind: 'none', hook: null, layers: [], scale: 0, alpha: 0 }]), 'no intervention');
  });

  it('differences between two runs: model and data first, flagged as changing what is measured', () => {
    const a = run();
    const b = run((r) => {
      r.spec.model = { ...r.spec.model, path: '/m/qwen2-tiny', contentHash: 'other', modelType: 'qwen2' };
      r.spec.scoring = 'loglik';
    });
    const d = runDifferences(a, b);
    assert.deepEqual(d.map((x) => [x.name, x.fundamental]), [['model', true], ['scoring', false]]);
    assert.match(d[0]!.b, /^qwen2-tiny \(qwen2, other\)$/);
    assert.deepEqual(runDifferences(a, run()), []);
  });

  it('caches carry dataset and model; caches alike in those add their differing settings', () => {
    const cache = (model: string, hooks: string[], sample = 'all'): CacheDescription => ({
      dataName: 'mmlu-short', positions: 'last', dtype: 'float32', rows: 50, hooks: hooks.map((name) => ({ name })),
      provenance: { model_path: model, sample },
    });
    const post = ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_post'];
    const all = post.flatMap((p) => [p, p.replace('post', 'pre')]);
    const labels = cacheLabels([
      { key: 1, cache: cache('/m/stories260K/stories260K.bin', post) },
      { key: 2, cache: cache('/m/stories260K/stories260K.bin', all, '{"size":20,"seed":0}') },
      { key: 3, cache: cache('/m/qwen2-tiny', post) },
    ]);
    assert.equal(labels.get(1), 'mmlu-short · stories260K · post of blocks 0–2 · all records');
    assert.equal(labels.get(2), 'mmlu-short · stories260K · post+pre of blocks 0–2 · sample 20, seed 0');
    assert.equal(labels.get(3), 'mmlu-short · qwen2-tiny');
    assert.equal(describeHooks(['blocks.3.hook_resid_pre']), 'blocks.3.hook_resid_pre');
    assert.equal(modelNameOf('/m/stories260K/stories260K.bin'), 'stories260K');
  });
});

describe('crash messages', () => {
  it('say what happened, what LayerLab does about it and what is lost', () => {
    assert.equal(
      describeCrash({ exit: 'killed by SIGKILL', restart: { used: 1, budget: '3 restarts within 3 minutes' }, lostModel: '/m/demo' }),
      'the LayerLab runtime stopped unexpectedly (killed by SIGKILL). LayerLab is restarting it (restart 1 of 3 restarts within 3 minutes). The model it held (/m/demo) was unloaded: the next job loads it again.',
    );
    assert.match(describeCrash({ exit: 'exit code 134', restart: 'gave-up' }), /\(exit code 134\)\. It will not be restarted automatically: it stopped too often\./);
  });
});
