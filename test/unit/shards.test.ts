// Sharding's pure parts: the split of work into parts (every unit exactly once, whole batches),
// the --shard flag, the command lines of `merge` and `slurm-script`, and the Slurm script: its
// array tasks, re-read by a real shell, must write where its merge step looks.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { partRows } from '../../runtime/cache/writer';
import { parseArgv, toArgv, UsageError } from '../../runtime/protocol/argv';
import { JOBS, type JobParams } from '../../runtime/protocol/jobs';
import { parsePartFileName, parseShard, partFileName, shardProblem, shardRange } from '../../runtime/protocol/shards';
import { firstDifference } from '../../runtime/shards/parts';
import { partFileFor, partsDirFor } from '../../runtime/shards/paths';
import { slurmScript } from '../../runtime/shards/slurm';

describe('the split into parts', () => {
  test('shardRange: N contiguous ranges that cover every unit exactly once, sizes within one of each other', () => {
    for (let units = 0; units <= 40; units++) {
      for (let count = 1; count <= 12; count++) {
        const ranges = Array.from({ length: count }, (_, index) => shardRange(units, { index, count }));
        const covered: number[] = [];
        for (const [a, b] of ranges) for (let u = a; u < b; u++) covered.push(u);
        assert.deepEqual(covered, Array.from({ length: units }, (_, u) => u), `units ${units}, count ${count}`);
        const sizes = ranges.map(([a, b]) => b - a);
        assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `balanced: ${sizes}`);
      }
    }
  });

  test('partRows: whole batches of the unsharded batching, so each batch is padded as in one run', () => {
    for (const [records, batch, count] of [[200, 8, 4], [7, 3, 2], [5, 4, 4], [1, 1, 3], [33, 1, 5]] as const) {
      let next = 0;
      for (let index = 0; index < count; index++) {
        const [a, b] = partRows(records, batch, { index, count });
        assert.equal(a, next, 'parts follow each other');
        assert.ok(a % batch === 0 || a === records, `part ${index} starts on a batch boundary (${a})`);
        next = b;
      }
      assert.equal(next, records);
    }
    assert.deepEqual([0, 1, 2, 3].map((index) => partRows(200, 8, { index, count: 4 })), [[0, 48], [48, 96], [96, 144], [144, 200]]);
  });

  test('--shard i/N: parsed, and refused with the reason when it is not a part', () => {
    assert.deepEqual(parseShard('3/8'), { index: 3, count: 8 });
    assert.match(shardProblem('4/4')!, /i < N .*the last of 4 is 3\/4/);
    assert.match(shardProblem('1/0')!, /N ≥ 1/);
    assert.match(shardProblem('a/b')!, /must be i\/N/);
    assert.match(shardProblem('-1/4')!, /must be i\/N/);
    assert.throws(() => parseArgv(JOBS['save-hidden-states'], ['--model', 'm', '--data_file_path', 'd', '--shard', '4/4']), (e: Error) => e instanceof UsageError && /^--shard must have i < N/.test(e.message));
    assert.throws(() => parseArgv(JOBS.evaluate, ['--model', 'm', '--shard', '0']), /--shard must be i\/N/);
  });

  test('part file names', () => {
    assert.equal(partFileName({ index: 2, count: 4 }, '.safetensors'), 'part-2-of-4.safetensors');
    assert.deepEqual(parsePartFileName('part-2-of-4.json'), { index: 2, count: 4, ext: '.json' });
    assert.equal(parsePartFileName('part-4-of-4.json'), undefined);
    assert.equal(parsePartFileName('part-1-of-4.safetensors.partial'), undefined);
  });

  test('the parts folder depends on the command line without --shard, and on nothing else', () => {
    const p = (extra: string[]) => parseArgv(JOBS['save-hidden-states'], ['--model', 'm', '--data_file_path', 'd.json', '--output_path', '/o', ...extra]) as JobParams<'save-hidden-states'>;
    const dir = partsDirFor('save-hidden-states', p([]));
    assert.equal(path.dirname(dir), '/o/shards');
    assert.equal(partsDirFor('save-hidden-states', p(['--shard', '1/4'])), dir);
    assert.notEqual(partsDirFor('save-hidden-states', p(['--data_batch_size', '8'])), dir);
    assert.equal(partFileFor('save-hidden-states', p(['--shard', '1/4']), { index: 1, count: 4 }), path.join(dir, 'part-1-of-4.safetensors'));
    const e = parseArgv(JOBS.evaluate, ['--model', 'm', '--out', '/r/run.json']) as JobParams<'evaluate'>;
    assert.equal(path.dirname(partsDirFor('evaluate', e)), '/r/shards');
  });

  test('firstDifference names the first field that differs, with both values', () => {
    assert.equal(firstDifference({ a: 1, b: [1, 2] }, { a: 1, b: [1, 2] }), undefined);
    assert.deepEqual(firstDifference({ spec: { model: { contentHash: 'x' } } }, { spec: { model: { contentHash: 'y' } } }), { field: 'spec.model.contentHash', a: 'x', b: 'y' });
    assert.deepEqual(firstDifference({ l: [1, 2] }, { l: [1] }), { field: 'l.length', a: 2, b: 1 });
    assert.deepEqual(firstDifference({ a: 1 }, { a: 1, extra: true }), { field: 'extra', a: undefined, b: true });
  });
});

describe('command lines of merge and slurm-script', () => {
  test('merge takes several parts as positional words, and toArgv gives them back', () => {
    const p = parseArgv(JOBS.merge, ['a.json', 'b.json', '--out', 'm.json', 'c.json']) as JobParams<'merge'>;
    assert.deepEqual(p, { parts: ['a.json', 'b.json', 'c.json'], out: 'm.json' });
    assert.deepEqual(toArgv(JOBS.merge, p), ['a.json', 'b.json', 'c.json', '--out', 'm.json']);
  });

  test("slurm-script: the job's flags pass through; its own are taken wherever they are; `--` passes even look-alikes", () => {
    const p = parseArgv(JOBS['slurm-script'], ['save-hidden-states', '--model', 'm', '--shards', '4', '--hooks', 'pre', 'post', '--gpus-per-task', '2']) as JobParams<'slurm-script'>;
    assert.equal(p.command, 'save-hidden-states');
    assert.deepEqual(p.args, ['--model', 'm', '--hooks', 'pre', 'post']);
    assert.deepEqual([p.shards, p.gpusPerTask], [4, 2]);
    const q = parseArgv(JOBS['slurm-script'], ['evaluate', '--shards', '2', '--', '--model', '--time']) as JobParams<'slurm-script'>;
    assert.deepEqual(q.args, ['--model', '--time']);
    assert.equal(q.time, undefined);
    // An argument that looks like one of slurm-script's own flags is written after `--`.
    assert.deepEqual(toArgv(JOBS['slurm-script'], q), ['evaluate', '--shards', '2', '--', '--model', '--time']);
  });
});

/** How a POSIX shell splits a line into words (an implementation that is not ours). */
function shellWords(line: string, env: Record<string, string>): string[] {
  const r = spawnSync('/bin/sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\0').slice(0, -1);
}

describe('the Slurm script', () => {
  const params = (args: string[], extra: string[] = []) => parseArgv(JOBS['slurm-script'], ['save-hidden-states', ...args, '--shards', '4', ...extra]) as JobParams<'slurm-script'>;
  const inner = ['--model', 'models/my model', '--data_file_path', 'data.json', '--output_path', 'out', '--hooks', 'all'];

  test('an sbatch array of N tasks and a dependent merge, valid shell', () => {
    const s = slurmScript(params(inner, ['--gpus-per-task', '2', '--partition', 'gpu', '--time', '04:00:00']), '/work');
    assert.match(s.script, /^#!\/bin\/bash\n/);
    for (const d of ['--array=0-3', '--gpus-per-task=2', '--partition=gpu', '--time=04:00:00', '--chdir=/work', '--ntasks=1']) assert.ok(s.script.includes(`#SBATCH ${d}\n`), d);
    assert.match(s.script, /sbatch --parsable --dependency=afterok:"\$array_job" --kill-on-invalid-dep=yes /);
    assert.ok(s.script.includes(`exec ${s.shardCommand}\n`));
    const syntax = spawnSync('bash', ['-n'], { input: s.script });
    assert.equal(syntax.status, 0, String(syntax.stderr));
  });

  test("each task, as a shell reads it, runs the job's own flags with its own --shard, into the folder the merge reads", () => {
    const s = slurmScript(params(inner), '/work');
    for (let task = 0; task < 4; task++) {
      const words = shellWords(s.shardCommand, { SLURM_ARRAY_TASK_ID: String(task) });
      assert.deepEqual(words.slice(0, 2), ['layerlab', 'save-hidden-states']);
      const p = parseArgv(JOBS['save-hidden-states'], words.slice(2)) as JobParams<'save-hidden-states'>;
      assert.equal(p.shard, `${task}/4`);
      assert.equal(p.model, 'models/my model');
      // The task resolves paths in the script's --chdir; its part is one of those the merge globs.
      const part = partFileFor('save-hidden-states', p, parseShard(p.shard!), '/work');
      assert.equal(path.dirname(part), s.partsDir);
      const glob = shellWords(s.mergeCommand, {}).slice(2);
      assert.equal(glob.length, 1);
      assert.ok(path.matchesGlob(part, glob[0]!), `${part} matches ${glob[0]}`);
    }
  });

  test("the job's flags are checked now: a typo, a missing flag or a --shard fail here, naming the flag", () => {
    assert.throws(() => slurmScript(params(['--modle', 'm', '--data_file_path', 'd'])), (e: Error) => e instanceof UsageError && /the flags of save-hidden-states: unknown option --modle \(did you mean --model\?\)/.test(e.message));
    assert.throws(() => slurmScript(params(['--model', 'm'])), /the flags of save-hidden-states: --data_file_path is required/);
    assert.throws(() => slurmScript(params([...inner, '--shard', '0/4'])), /leave --shard out of the flags of save-hidden-states/);
    assert.throws(() => slurmScript(params(inner, ['--partition', 'a b'])), /--partition 'a b' contains white space/);
  });

  test('--cpus-per-task also caps ONNX Runtime threads (its default is every core of the node)', () => {
    const s = slurmScript(params(inner, ['--cpus-per-task', '8']), '/work');
    assert.ok(s.script.includes('#SBATCH --cpus-per-task=8\n'));
    assert.match(s.shardCommand, / --threads 8 /);
    assert.match(slurmScript(params([...inner, '--threads', '3'], ['--cpus-per-task', '8']), '/work').shardCommand, / --threads 3 /);
  });
});

describe('the Kubernetes Indexed Job in docs/', () => {
  test("each pod's command, as its shell reads it, is the job with --shard <its index>/<completions>", () => {
    const manifest = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'kubernetes-indexed-job.yaml'), 'utf8');
    const completions = Number(/^\s+completions: (\d+)$/m.exec(manifest)![1]);
    assert.match(manifest, /^\s+completionMode: Indexed$/m);
    // The folded block after `args:` (YAML `>-` joins its lines with spaces).
    const block = /args:\n\s+- >-\n((?:\s{14}\S.*\n)+)/.exec(manifest)![1]!;
    const line = block.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
    for (let index = 0; index < completions; index++) {
      const words = shellWords(line, { JOB_COMPLETION_INDEX: String(index) });
      assert.deepEqual(words.slice(0, 3), ['exec', 'layerlab', 'save-hidden-states']);
      const p = parseArgv(JOBS['save-hidden-states'], words.slice(3)) as JobParams<'save-hidden-states'>;
      assert.equal(p.shard, `${index}/${completions}`);
    }
  });
});
