// The jobs' command lines (runtime/protocol/argv.ts): the seed's flags parse into the typed
// params, bad flags are usage errors that name them, and for every job toArgv is the inverse of
// parseArgv over generated params — also after a real shell has re-read the quoted CLI twin.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { mulberry32 } from '../../models/common/prng';
import { cliLine, fieldsOf, parseArgv, toArgv, UsageError, type FieldInfo } from '../../runtime/protocol/argv';
import { evaluateJob, JOB_NAMES, JOBS, saveHiddenStatesJob, sweepJob, type JobName, type JobParams } from '../../runtime/protocol/jobs';

const evaluate = (argv: string[]) => parseArgv(evaluateJob, argv) as JobParams<'evaluate'>;
const sweep = (argv: string[]) => parseArgv(sweepJob, argv) as JobParams<'sweep'>;

function usageError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${e}`);
    assert.match(e.message, re);
    return true;
  });
}

describe('job command lines', () => {
  test("the seed's command 2 parses, with kebab aliases and several layers, and the schema's defaults", () => {
    const p = evaluate([
      '--models_path', '/m', '--model-name', 'huginn-0125', '--hidden_states_cache_path', '/c',
      '--mmlu_pro_3000samples_data_file_path', '/d/mmlu-pro-3000samples.json', '--test_data_path', '/d', '--test-data-name', 'mmlu-pro-3000samples',
      '--with_fewshot_prompts', '--batch_size', '1', '--max_new_tokens', '200', '--with_intervention', '--layer_indices', '66', '67',
      '--with_post_hook', '--scale', '0.1',
    ]);
    assert.equal(p.modelsPath, '/m');
    assert.equal(p.modelName, 'huginn-0125');
    assert.equal(p.mmluPro3000samplesDataFilePath, '/d/mmlu-pro-3000samples.json');
    assert.equal(p.testDataName, 'mmlu-pro-3000samples');
    assert.deepEqual(p.layerIndices, [66, 67]);
    assert.deepEqual([p.withIntervention, p.withPostHook, p.withPreHook, p.withFewshotPrompts], [true, true, false, true]);
    assert.deepEqual([p.scale, p.batchSize, p.maxNewTokens], [0.1, 1, 200]);
    // What was not given is the schema's default, the same value the palette gets.
    assert.deepEqual([p.split, p.sampleSize, p.seed, p.scoring, p.provider, p.threads], ['holdout', 200, 0, 'generate', 'auto', 0]);
  });

  test('negative numbers are values, number lists take commas, --flag=value works, and --scale appends to a sweep\'s --scales', () => {
    const p = evaluate(['--model', 'm', '--with_intervention', '--layer_indices', '3', '--scale', '-0.5', '--alpha=-2']);
    assert.deepEqual([p.scale, p.alpha], [-0.5, -2]);
    const s = sweep(['--model', 'm', '--scales', '-8', '8', '--scale', '-1', '--alphas', '0,-3', '--layer-indices', '1,2', '4']);
    assert.deepEqual(s.scales, [-8, 8, -1]);
    assert.deepEqual(s.alphas, [0, -3]);
    assert.deepEqual(s.layerIndices, [1, 2, 4]);
    // A stop string keeps its commas; a value that looks like a flag needs the = form.
    const g = parseArgv(JOBS.generate, ['--model', 'm', '--stop', 'a,b', '--stop=--x', '--prompt=--', '--no_bos']) as JobParams<'generate'>;
    assert.deepEqual(g.stop, ['a,b', '--x']);
    assert.equal(g.prompt, '--');
    assert.equal(g.noBos, true);
  });

  test('bad values, unknown, repeated and missing flags are usage errors naming the flag', () => {
    usageError(() => evaluate(['--model', 'm', '--scoring', 'vibes']), /^--scoring must be generate or loglik, got 'vibes'$/);
    usageError(() => evaluate(['--model', 'm', '--split', 'train']), /--split must be holdout or overlap/);
    usageError(() => evaluate(['--model', 'm', '--layer_indices', '1.5']), /--layer_indices takes integers, got '1\.5'/);
    usageError(() => evaluate(['--model', 'm', '--batch_size', '0']), /--batch_size must be >= 1/);
    usageError(() => evaluate(['--model', 'm', '--batch-size', 'x']), /--batch-size takes an integer, got 'x'/);
    usageError(() => evaluate(['--model', 'm', '--scale']), /--scale needs a value/);
    usageError(() => evaluate(['--model', 'm', '--scale', '1', '--scale', '2']), /--scale is given twice/);
    usageError(() => evaluate(['--model', 'm', '--scael', '1']), /unknown option --scael \(did you mean --scale\?\)/);
    usageError(() => evaluate(['--model', 'm', 'stray']), /unexpected argument 'stray'/);
    usageError(() => evaluate(['--scale', '1']), /--model is required/);
    usageError(() => evaluate(['--models_path', '/m']), /--model_name is required with --models_path/);
    usageError(() => parseArgv(saveHiddenStatesJob, ['--model', 'm']), /--data_file_path is required/);
  });

  test('conflicting flags name both, as the user spelled them', () => {
    usageError(() => evaluate(['--model', 'a', '--models_path', '/m', '--model_name', 'b']), /--model conflicts with --models_path/);
    usageError(() => evaluate(['--model', 'a', '--model-name', 'b']), /--model conflicts with --model-name/);
    usageError(() => evaluate(['--model', 'a', '--data_file', 'x.json', '--test_data_path', '/d']), /--data_file conflicts with --test_data_path/);
    usageError(() => evaluate(['--model', 'a', '--with_pre_hook', '--with_post_hook']), /--with_pre_hook conflicts with --with_post_hook/);
  });

  test('toArgv leaves defaults out and spells values as people type them', () => {
    const argv = toArgv(evaluateJob, evaluate(['--model', '/m x', '--with_intervention', '--layer_indices', '66', '--scale', '-0.5', '--stop=--weird']));
    assert.deepEqual(argv, ['--model', '/m x', '--stop=--weird', '--with_intervention', '--layer_indices', '66', '--scale', '-0.5']);
    assert.equal(cliLine(JOBS['compute-directions'], { cache: '/o/a b.safetensors', holdout: 0.25 }), "layerlab compute-directions '/o/a b.safetensors' --holdout 0.25");
    assert.throws(() => toArgv(evaluateJob, { model: 'm', nope: 1 }), /unknown parameter 'nope'/);
  });
});

// ---------------------------------------------------------------------------------------------
// The round trip over generated params

// '3/8' is the one valid --shard; '--shards' is a word slurm-script must pass on, not take as its own flag.
const STRINGS = ['a', 'model dir', '/abs/path/x.json', "it's", 'ümlaut ✓', '-dash', '--double', 'a=b', 'comma,inside', ' spaced ', '$HOME', '"q"', 'tab\there', '3/8', '--shards'];
const NUMBERS = [0, 1, -0.5, 2.75, 0.001, -8, 123456, 1e-7];
const INTEGERS = [0, 1, 2, 5, 66, 131, 4096];

function generate(job: (typeof JOBS)[JobName], rand: () => number): Record<string, unknown> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const value = (f: FieldInfo): unknown => {
    switch (f.kind) {
      case 'string':
        return pick(STRINGS);
      case 'number':
        return pick(NUMBERS);
      case 'integer':
        return pick(INTEGERS);
      case 'boolean':
        return rand() < 0.5;
      case 'enum':
        return pick(f.values!);
      default: {
        const n = 1 + Math.floor(rand() * 3);
        const one = { ...f, kind: f.kind.slice(0, -2) as FieldInfo['kind'] };
        return Array.from({ length: n }, () => value(one));
      }
    }
  };
  const out: Record<string, unknown> = {};
  for (const f of fieldsOf(job)) if (f.required || rand() < 0.4) out[f.key] = value(f);
  // The two spellings of a model: one or the other.
  if ('model' in job.fields.shape) {
    delete out.model;
    delete out.modelsPath;
    delete out.modelName;
    if (rand() < 0.5) out.model = pick(STRINGS);
    else Object.assign(out, { modelName: pick(STRINGS), ...(rand() < 0.7 ? { modelsPath: pick(STRINGS) } : {}) });
  }
  return out;
}

/** How a POSIX shell splits a command line into words (an implementation that is not ours). */
function shellWords(line: string): string[] {
  const r = spawnSync('/bin/sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\0').slice(0, -1);
}

describe('toArgv is the inverse of parseArgv for every job', () => {
  for (const name of JOB_NAMES) {
    test(name, () => {
      const job = JOBS[name];
      const rand = mulberry32(name.length * 7919);
      let checked = 0;
      let shell = 0;
      for (let attempt = 0; checked < 150 && attempt < 5000; attempt++) {
        const raw = generate(job, rand);
        const expected = job.params.safeParse(raw);
        if (!expected.success) continue; // e.g. two conflicting hooks; the schema refuses those
        const argv = toArgv(job, expected.data as Record<string, unknown>);
        assert.deepEqual(parseArgv(job, argv), expected.data, `argv ${JSON.stringify(argv)}`);
        // The logged twin, quoted and re-read by a real shell, gives the same params.
        if (checked % 10 === 0) {
          const words = shellWords(cliLine(job, expected.data as Record<string, unknown>));
          assert.deepEqual(words.slice(0, 2), ['layerlab', name]);
          assert.deepEqual(parseArgv(job, words.slice(2)), expected.data);
          shell++;
        }
        checked++;
      }
      assert.equal(checked, 150, 'enough valid params were generated');
      assert.ok(shell >= 15);
    });
  }
});
