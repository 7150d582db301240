/**
 * Sharded jobs end to end through the real CLI, on the demo's model and data (`layerlab demo`'s
 * inputs), against unsharded runs of the same commands: a 4-part cache run two parts at a time
 * merges itself into the unsharded cache's exact bytes; a part killed with SIGKILL resumes when
 * run again; 2-part evaluations and sweeps merge into the unsharded run file but for timings;
 * merging refuses missing, duplicated and mismatched parts naming the part and the field; the
 * cache listing shows a sharded cache's parts. (The same on a real Slurm cluster: slurm.test.ts.)
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { demoPaths, writeDemoInputs } from '../../runtime/demo';
import { withoutTiming } from '../../runtime/evaluate/runFile';
import type { RunFile } from '../../runtime/protocol/results';
import { openSafetensors, writeSafetensorsFromRanges } from '../../models/safetensors';
import { mergeParts } from '../../runtime/shards/merge';
import { runCli, startCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir('layerlab-shards-');
const env = { LAYERLAB_CACHE_DIR: path.join(root, 'cache') };
const demo = demoPaths({ modelsPath: path.join(root, 'models'), datasetsPath: path.join(root, 'datasets'), outputPath: path.join(root, 'output') });
writeDemoInputs(demo);

const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const cacheArgs = (out: string, extra: string[] = [], batch = 8) => ['save-hidden-states', '--model', demo.modelDir, '--data_file_path', demo.dataFile, '--hooks', 'all', '--data_batch_size', String(batch), '--output_path', out, ...extra];
const cacheFile = (out: string) => path.join(out, 'demo', 'demo-reason-mem.safetensors');
const partsDirOf = (out: string) => {
  const dirs = fs.readdirSync(path.join(out, 'shards'));
  assert.equal(dirs.length, 1, `one parts folder in ${out}/shards: ${dirs}`);
  return path.join(out, 'shards', dirs[0]!);
};
const part = (dir: string, i: number, n: number, ext = '.safetensors') => path.join(dir, `part-${i}-of-${n}${ext}`);

function ok(r: { status: number; stderr: string }): void {
  assert.equal(r.status, 0, r.stderr);
}

/** Files a finished job must not leave: temporaries, locks, partial folders. */
function leftovers(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).filter((n) => /\.tmp-\d+$|\.lock$|\.partial$/.test(n));
}

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** The MergeError message of merging these parts (in-process: the CLI prints the same text). */
function refusal(parts: string[], out?: string): string {
  try {
    mergeParts(parts, out);
  } catch (e) {
    return (e as Error).message;
  }
  assert.fail(`merging ${parts.map((p) => path.basename(p)).join(', ')} did not refuse`);
}

// The unsharded cache every sharded one must equal, byte for byte.
const refOut = path.join(root, 'ref');
let refSha: string;
test('setup: the unsharded cache', () => {
  ok(runCli(cacheArgs(refOut), env));
  refSha = sha(cacheFile(refOut));
});

describe('a sharded cache', () => {
  const out = path.join(root, 'sharded');

  test('4 parts, two at a time: the last to finish merges, and the cache is byte-identical to the unsharded one', async () => {
    const results: { code: number | null; out: string; err: string }[] = [];
    for (const pair of [[0, 1], [2, 3]]) {
      const running = pair.map((i) => startCli([...cacheArgs(out), '--shard', `${i}/4`], env));
      for (const r of running) results.push({ ...(await r.exited), out: r.stdout(), err: r.stderr() });
    }
    for (const r of results) assert.equal(r.code, 0, r.err);
    const dir = partsDirOf(out);
    assert.deepEqual(fs.readdirSync(dir).sort(), [0, 1, 2, 3].map((i) => path.basename(part(dir, i, 4))));
    assert.equal(sha(cacheFile(out)), refSha, 'the merged cache is the unsharded cache');
    // Exactly one part merged (the two last ones ran at once: one merged, or found the other had).
    const merged = results.filter((r) => r.err.includes('every part is done: merged into'));
    assert.equal(merged.length, 1, results.map((r) => r.err).join('\n---\n'));
    assert.ok(merged[0]!.out.trim().endsWith(cacheFile(out)), 'the part that merged prints the merged cache');
    assert.deepEqual(leftovers(out), []);
    // A part run again once merged has nothing to do; so does an unsharded run of the same command.
    const again = runCli([...cacheArgs(out), '--shard', '2/4'], env);
    ok(again);
    assert.match(again.stderr, /already complete, nothing to do/);
    const whole = runCli(cacheArgs(out), env);
    ok(whole);
    assert.match(whole.stderr, /already complete, nothing to do/);
  });

  test('a part killed with SIGKILL resumes where it stopped when run again, and the merge is still exact', async () => {
    const kout = path.join(root, 'killed');
    // Part 1 pauses after each batch, so it is killed with batches committed and more to do.
    const running = startCli([...cacheArgs(kout), '--shard', '1/4'], { ...env, LAYERLAB_FAILPOINT: 'cache:rows-written:sleep=400' });
    let progress = '';
    await until(() => {
      try {
        progress = fs.readFileSync(path.join(partsDirOf(kout), 'part-1-of-4.safetensors.partial', 'progress.json'), 'utf8');
        return JSON.parse(progress).rowsDone >= 16;
      } catch {
        return false;
      }
    }, 'part 1 to commit two batches');
    running.child.kill('SIGKILL');
    assert.equal((await running.exited).signal, 'SIGKILL');
    const dir = partsDirOf(kout);
    assert.ok(!fs.existsSync(part(dir, 1, 4)), 'the killed part left no part file');
    const resumed = runCli([...cacheArgs(kout), '--shard', '1/4', '--json'], env);
    ok(resumed);
    const done = JSON.parse(resumed.stdout) as { resumedFrom: number; shard: { partsDone: number } };
    assert.ok(done.resumedFrom >= 16 && done.resumedFrom < 48, `resumed after ${done.resumedFrom} of part 1's 48 records`);
    assert.match(resumed.stderr, new RegExp(`resumed after ${done.resumedFrom} records`));
    assert.equal(done.shard.partsDone, 1);
    for (const i of [0, 2, 3]) ok(runCli([...cacheArgs(kout), '--shard', `${i}/4`], env));
    assert.equal(sha(cacheFile(kout)), refSha);
  });

  test('merge refuses missing, duplicated and mismatched parts, naming the part and the field', () => {
    const dir = partsDirOf(out);
    fs.rmSync(cacheFile(out));
    // Missing.
    assert.match(refusal([part(dir, 0, 4), part(dir, 1, 4)]), new RegExp(`^2 of 4 parts missing: shard 2/4 \\(${part(dir, 2, 4)}\\), 3/4 .*Run the same command with --shard 2/4`));
    // Duplicated: the same shard in two files.
    const copy = path.join(root, 'copy', 'part-1-of-4.safetensors');
    fs.mkdirSync(path.dirname(copy));
    fs.copyFileSync(part(dir, 1, 4), copy);
    assert.equal(refusal([part(dir, 0, 4), part(dir, 1, 4), copy, part(dir, 2, 4), part(dir, 3, 4)]), `shard 1/4 is given twice: ${part(dir, 1, 4)} and ${copy} are both part 1 of 4. Keep one of them.`);
    // Mismatched: part 1 of the same command on an edited dataset (same ids, one question changed).
    const edited = path.join(root, 'datasets', 'edited.json');
    const rows = JSON.parse(fs.readFileSync(demo.dataFile, 'utf8')) as { question: string }[];
    rows[150]!.question += ' (edited)';
    fs.writeFileSync(edited, JSON.stringify(rows));
    const other = path.join(root, 'other');
    ok(runCli(['save-hidden-states', '--model', demo.modelDir, '--data_file_path', edited, '--data_name', 'demo-reason-mem', '--hooks', 'all', '--data_batch_size', '8', '--output_path', other, '--shard', '1/4'], env));
    const foreign = part(partsDirOf(other), 1, 4);
    assert.match(refusal([part(dir, 0, 4), foreign, part(dir, 2, 4), part(dir, 3, 4)]),
      new RegExp(`^${foreign} \\(shard 1/4\\) does not belong with ${part(dir, 0, 4)} \\(shard 0/4\\): field data_hash \\(the dataset file's content hash\\) differs \\('[0-9a-f]{12}`));
    // Mismatched settings: another batch size.
    const batch4 = path.join(root, 'batch4');
    ok(runCli(cacheArgs(batch4, ['--shard', '1/4'], 4), env));
    assert.match(refusal([part(dir, 0, 4), part(partsDirOf(batch4), 1, 4), part(dir, 2, 4), part(dir, 3, 4)]), /\(shard 1\/4\) does not belong with .*: field batch size \(--data_batch_size\) differs \(4 in the first, 8 in the second\)/);
    // Mismatched provider: part 1 as if computed on CUDA (its header rewritten, its rows kept).
    const cuda = path.join(root, 'cuda', 'part-1-of-4.safetensors');
    fs.mkdirSync(path.dirname(cuda));
    const st = openSafetensors(part(dir, 1, 4));
    writeSafetensorsFromRanges(cuda, st.names.map((name) => {
      const h = st.header[name]!;
      return { name, dtype: h.dtype as 'F32', shape: h.shape, sources: [{ file: st.file, offset: st.dataStart + h.dataOffsets[0], length: h.dataOffsets[1] - h.dataOffsets[0] }] };
    }), { ...st.metadata, provider: 'cuda' });
    assert.match(refusal([part(dir, 0, 4), cuda, part(dir, 2, 4), part(dir, 3, 4)]), /\(shard 1\/4\) does not belong with .*: field provider \(the execution provider the part ran on: CUDA and CPU results differ in the last bits\) differs \('cuda' in the first, 'cpu' in the second\)/);
    // Another sharding.
    const two = path.join(root, 'two');
    ok(runCli([...cacheArgs(two), '--shard', '0/2'], env));
    assert.match(refusal([part(dir, 0, 4), part(partsDirOf(two), 0, 2)]), /\(shard 0\/2\) does not belong with .*\(shard 0\/4\): field shard count differs \(2 in the first, 4 in the second\)/);
    // Through the CLI: exit 1 and the same message; then the right parts merge again, exactly.
    const cli = runCli(['merge', part(dir, 0, 4), part(dir, 1, 4)], env);
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /^layerlab merge: error: 2 of 4 parts missing: shard 2\/4/m);
    const merged = runCli(['merge', dir], env);
    ok(merged);
    assert.equal(merged.stdout.trim(), cacheFile(out));
    assert.equal(sha(cacheFile(out)), refSha);
  });

  test('inspect-cache shows an unmerged sharded cache as parts done of all; a part is not a cache to compute directions from', () => {
    const batch4 = path.join(root, 'batch4');
    const r = runCli(['inspect-cache', batch4, '--json'], env);
    ok(r);
    const [entry, ...more] = (JSON.parse(r.stdout) as { caches: { file: string; complete: boolean; rowsDone: number; rows: number; shards?: { count: number; done: number[]; merged: boolean } }[] }).caches;
    assert.equal(more.length, 0, 'one entry for the sharded cache, not one per part');
    assert.equal(entry!.file, cacheFile(batch4));
    assert.deepEqual([entry!.complete, entry!.rowsDone, entry!.rows], [false, 52, 200]);
    assert.deepEqual([entry!.shards?.count, entry!.shards?.done, entry!.shards?.merged], [4, [1], false]);
    assert.match(runCli(['inspect-cache', batch4], env).stdout, /demo-reason-mem {2}PARTIAL 52\/200 rows, sharded 1\/4 parts \(/);
    const d = runCli(['compute-directions', part(partsDirOf(batch4), 1, 4)], env);
    assert.equal(d.status, 1);
    assert.match(d.stderr, /is part 1\/4 of a sharded cache, not a whole one: merge the parts first \(layerlab merge /);
  });
});

describe('sharded evaluations and sweeps', () => {
  let directions: string;
  test('setup: directions from the unsharded cache', () => {
    ok(runCli(['compute-directions', cacheFile(refOut)], env));
    directions = cacheFile(refOut).replace(/\.safetensors$/, '.directions.safetensors');
  });

  /** Runs `args` unsharded (moving its run file aside) and in `n` parts; returns both files. */
  async function unshardedAndSharded(args: string[], out: string, n: number): Promise<{ ref: RunFile; merged: RunFile; parts: string }> {
    ok(runCli([...args, '--out', out], env));
    const refFile = `${out}.unsharded`;
    fs.renameSync(out, refFile);
    const running = Array.from({ length: n }, (_, i) => startCli([...args, '--out', out, '--shard', `${i}/${n}`], env));
    for (const r of running) assert.equal((await r.exited).code, 0, r.stderr());
    const read = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as RunFile;
    return { ref: read(refFile), merged: read(out), parts: partsDirOf(path.dirname(out)) };
  }

  test('evaluate in 2 parts (loglik, batches of 3, baseline and intervention) merges into the unsharded run file but for timings', async () => {
    const args = ['evaluate', '--model', demo.modelDir, '--data_file', demo.dataFile, '--direction_file', directions, '--with_intervention', '--layer_indices', '1',
      '--with_baseline', '--scoring', 'loglik', '--batch_size', '3', '--sample_size', '40'];
    const out = path.join(root, 'runs-eval', 'run.json');
    const { ref, merged, parts } = await unshardedAndSharded(args, out, 2);
    assert.deepEqual(withoutTiming(merged), withoutTiming(ref));
    // Not vacuous: both parts did work, and the results differ between the interventions.
    const shares = [0, 1].map((i) => (JSON.parse(fs.readFileSync(part(parts, i, 2, '.json'), 'utf8')) as RunFile).progress.done);
    assert.ok(shares.every((n) => n > 0) && shares[0]! + shares[1]! === ref.progress.done, `parts did ${shares} of ${ref.progress.done}`);
    assert.notDeepEqual(merged.results[0]!.items.map((i) => i.optionLogprobs), merged.results[1]!.items.map((i) => i.optionLogprobs));
    assert.equal((merged.timing as { parts?: unknown[] }).parts?.length, 2);
    assert.ok(!merged.spec.argv.includes('--shard') && merged.spec.shard === undefined);
  });

  test('a sweep in 2 parts (greedy generation, shared prefix KV) merges into the unsharded run file but for timings', async () => {
    // The built-in demo data ('demo') brings its own few-shot examples.
    const args = ['sweep', '--model', demo.modelDir, '--data_file', 'demo', '--direction_file', directions, '--layer_indices', '0', '1', '--scales', '4',
      '--with_fewshot_prompts', '--shots', '1', '--max_new_tokens', '4', '--sample_size', '10'];
    const out = path.join(root, 'runs-sweep', 'sweep.json');
    const { ref, merged } = await unshardedAndSharded(args, out, 2);
    assert.deepEqual(withoutTiming(merged), withoutTiming(ref));
    assert.equal(merged.results.length, 5, 'baseline, 2 directions, 2 random controls');
  });

  test('merge refuses an unfinished part and a part of another run, naming the part and the field', () => {
    const parts = partsDirOf(path.join(root, 'runs-eval'));
    const p0 = part(parts, 0, 2, '.json');
    const p1 = part(parts, 1, 2, '.json');
    const unfinished = path.join(root, 'unfinished', 'part-1-of-2.json');
    fs.mkdirSync(path.dirname(unfinished));
    const run = JSON.parse(fs.readFileSync(p1, 'utf8')) as RunFile;
    fs.writeFileSync(unfinished, JSON.stringify({ ...run, complete: false, progress: { done: 7, total: run.progress.total } }));
    assert.match(refusal([p0, unfinished]), new RegExp(`^${unfinished} \\(shard 1/2\\) is not complete \\(field complete is false: 7 of ${run.progress.total} items\\): run the same command with --shard 1/2 again`));
    const otherSeed = path.join(root, 'other-seed', 'part-1-of-2.json');
    fs.mkdirSync(path.dirname(otherSeed));
    fs.writeFileSync(otherSeed, JSON.stringify({ ...run, spec: { ...run.spec, seed: 7 } }));
    assert.match(refusal([p0, otherSeed], path.join(root, 'x.json')), new RegExp(`^${otherSeed} \\(shard 1/2\\) does not belong with ${p0} \\(shard 0/2\\): field spec.seed differs \\(7 in the first, 0 in the second\\)`));
  });
});
