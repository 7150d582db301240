/**
 * Sharding on a real Slurm cluster (one node, Debian's slurmctld, slurmd and munge; skipped with
 * one line where it cannot start): the scripts `layerlab slurm-script` prints are submitted as
 * they are (`bash SCRIPT`: the array and the dependent merge) for a 4-part cache of the demo
 * dataset and a 2-part evaluation; their merged outputs are checked against unsharded runs of the
 * same commands (the cache byte for byte, the run file but for timings). Then a part is killed
 * with SIGKILL inside its array task, the merge that depended on it is cancelled by Slurm, and
 * the task resubmitted with `sbatch --array=1` resumes the part and merges.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import { demoPaths, writeDemoInputs } from '../../runtime/demo';
import { withoutTiming } from '../../runtime/evaluate/runFile';
import type { RunFile } from '../../runtime/protocol/results';
import { runCli } from '../helpers/cli';
import { startSlurm } from '../helpers/slurm';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const cluster = startSlurm();
const skip = 'skip' in cluster ? cluster.skip : false;
if (skip) console.log(`# slurm.test.ts ${skip}`);

describe('sharded jobs on a single-node Slurm cluster', { skip }, () => {
  if ('skip' in cluster) return;
  after(() => cluster.stop());
  const work = tmpDir('layerlab-slurm-work-');
  const env = { ...cluster.env, LAYERLAB_CACHE_DIR: path.join(work, 'cache') };
  const demo = demoPaths({ modelsPath: path.join(work, 'models'), datasetsPath: path.join(work, 'datasets'), outputPath: path.join(work, 'output') });
  writeDemoInputs(demo);
  // The tasks run LayerLab from its sources, as the other integration tests do.
  const layerlab = `${process.execPath} --import ${pathToFileURL(require.resolve('tsx')).href} ${path.join(ROOT, 'runtime', 'cli', 'main.ts')}`;
  const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  const cacheFlags = (out: string) => ['--model', demo.modelDir, '--data_file_path', demo.dataFile, '--hooks', 'all', '--data_batch_size', '8', '--output_path', out];
  const cacheOf = (out: string) => path.join(out, 'demo', 'demo-reason-mem.safetensors');

  function ok(r: { status: number; stdout: string; stderr: string }): string {
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  }

  function slurm(cmd: string, args: string[], extraEnv: Record<string, string> = {}): string {
    const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: work, env: { ...process.env, ...env, ...extraEnv } });
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** Writes the script `layerlab slurm-script` prints and submits it with bash: the array and its merge. */
  function submit(name: string, command: string, flags: string[], shards: number, extraEnv: Record<string, string> = {}): { script: string; array: string; merge: string } {
    const text = ok(runCli(['slurm-script', command, ...flags, '--shards', String(shards), '--layerlab', layerlab, '--workdir', work], env));
    const script = path.join(work, `${name}.sh`);
    fs.writeFileSync(script, text);
    const said = slurm('bash', [script], extraEnv);
    const m = /submitted array job (\d+) \((\d+) parts\) and merge job (\d+)/.exec(said);
    assert.ok(m, said);
    assert.equal(Number(m[2]), shards);
    return { script, array: m[1]!, merge: m[3]! };
  }

  const state = (job: string) => /JobState=(\S+)/.exec(slurm('scontrol', ['show', 'job', job]))?.[1];

  async function finished(jobs: string[], minutes = 8): Promise<void> {
    const deadline = Date.now() + minutes * 60_000;
    while (slurm('squeue', ['-h', '-j', jobs.join(',')]).trim() !== '') {
      if (Date.now() > deadline) assert.fail(`Slurm jobs ${jobs.join(', ')} still queued or running after ${minutes} min:\n${slurm('squeue', [])}`);
      await new Promise((res) => setTimeout(res, 500));
    }
  }

  const log = (pattern: RegExp) => {
    const files = fs.readdirSync(work).filter((f) => pattern.test(f));
    assert.equal(files.length, 1, `one log matching ${pattern}: ${files}`);
    return fs.readFileSync(path.join(work, files[0]!), 'utf8');
  };

  test('a 4-part cache and a 2-part evaluation as array jobs: the merged outputs equal unsharded runs', async () => {
    // The unsharded references, run directly.
    const refOut = path.join(work, 'ref');
    ok(runCli(['save-hidden-states', ...cacheFlags(refOut)], env));
    ok(runCli(['compute-directions', cacheOf(refOut)], env));
    const evalFlags = (out: string) => ['--model', demo.modelDir, '--data_file', demo.dataFile, '--direction_file', cacheOf(refOut).replace(/\.safetensors$/, '.directions.safetensors'),
      '--with_intervention', '--layer_indices', '1', '--with_baseline', '--scoring', 'loglik', '--batch_size', '2', '--sample_size', '30', '--out', out];
    const runFile = path.join(work, 'runs', 'eval.json');
    ok(runCli(['evaluate', ...evalFlags(runFile)], env));
    fs.renameSync(runFile, `${runFile}.unsharded`);

    const cacheOut = path.join(work, 'sharded');
    const cache = submit('cache', 'save-hidden-states', cacheFlags(cacheOut), 4);
    const evaluation = submit('evaluate', 'evaluate', evalFlags(runFile), 2);
    await finished([cache.array, cache.merge, evaluation.array, evaluation.merge]);
    for (const job of [cache.merge, evaluation.merge]) assert.equal(state(job), 'COMPLETED', log(new RegExp(`-merge-${job}\\.out$`)));
    for (let i = 0; i < 4; i++) assert.match(log(new RegExp(`^slurm-layerlab-save-hidden-states-${cache.array}_${i}\\.out$`)), new RegExp(`part ${i}/4 done`));

    assert.equal(sha(cacheOf(cacheOut)), sha(cacheOf(refOut)), 'the merged cache is byte-identical to the unsharded one');
    const read = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as RunFile;
    const merged = read(runFile);
    assert.deepEqual(withoutTiming(merged), withoutTiming(read(`${runFile}.unsharded`)));
    assert.deepEqual((merged.timing as { parts?: { shard: string }[] }).parts?.map((p) => p.shard), ['0/2', '1/2']);
  });

  test('a part killed with SIGKILL in its task: Slurm cancels the merge; the task resubmitted resumes the part and merges', async () => {
    const out = path.join(work, 'killed');
    // Every task pauses after each batch, so part 1 is killed with batches committed and more to do.
    const job = submit('killed', 'save-hidden-states', cacheFlags(out), 2, { LAYERLAB_FAILPOINT: 'cache:rows-written:sleep=300' });
    const shards = path.join(out, 'shards');
    const partial = () => {
      const dirs = fs.existsSync(shards) ? fs.readdirSync(shards) : [];
      return dirs.length === 1 ? path.join(shards, dirs[0]!, 'part-1-of-2.safetensors') : undefined;
    };
    let owner: { pid: number } | undefined;
    for (const deadline = Date.now() + 120_000; ; await new Promise((res) => setTimeout(res, 50))) {
      assert.ok(Date.now() < deadline, 'part 1 did not commit two batches within 2 min');
      const p = partial();
      try {
        if (p && JSON.parse(fs.readFileSync(`${p}.partial/progress.json`, 'utf8')).rowsDone >= 16) {
          owner = JSON.parse(fs.readFileSync(`${p}.lock/owner.json`, 'utf8')) as { pid: number };
          break;
        }
      } catch {
        // not written yet
      }
    }
    process.kill(owner.pid, 'SIGKILL');
    await finished([job.array, job.merge]);
    assert.equal(state(`${job.array}_1`), 'FAILED');
    assert.equal(state(`${job.array}_0`), 'COMPLETED');
    assert.equal(state(job.merge), 'CANCELLED', 'the merge depended on every task succeeding');
    assert.ok(!fs.existsSync(cacheOf(out)) && !fs.existsSync(partial()!), 'nothing merged, part 1 unfinished');

    const again = /Submitted batch job (\d+)/.exec(slurm('sbatch', ['--array=1', job.script]))![1]!;
    await finished([again]);
    const task = log(new RegExp(`^slurm-layerlab-save-hidden-states-${again}_1\\.out$`));
    const resumed = Number(/resumed after (\d+) records/.exec(task)?.[1]);
    assert.ok(resumed >= 16 && resumed < 100, `part 1 resumed after ${resumed} of its 104 records:\n${task}`);
    assert.match(task, /every part is done: merged into/);
    assert.equal(sha(cacheOf(out)), sha(cacheOf(path.join(work, 'ref'))));
  });
});
