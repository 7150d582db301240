/**
 * Where the parts of a sharded job go: `<output folder>/shards/<job>-<hash>/part-<i>-of-<N>.<ext>`,
 * the hash being that of the job's command line without `--shard`.
 *
 * The folder depends only on the command line, never on what the job computes (a run file's own
 * name hashes the loaded data and directions), so every array task, the dependent merge step of a
 * Slurm script and `layerlab slurm-script` itself name the same folder before any model is
 * opened. The parts record the output they are merged into (the unsharded run's path), so the
 * folder name need not say it.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { toArgv } from '../protocol/argv';
import { JOBS, type ShardableJob } from '../protocol/jobs';
import { partFileName, SHARDS_FOLDER, type PartExtension, type Shard } from '../protocol/shards';

/** The job's CLI twin without --shard: what every part of one sharded job has in common. */
export function unshardedArgv(job: ShardableJob, params: object): string[] {
  const known = JOBS[job].fields.shape;
  const own = Object.fromEntries(Object.entries(params as Record<string, unknown>).filter(([k]) => k in known && k !== 'shard'));
  return toArgv(JOBS[job], own);
}

/** The parts folder of a sharded job (absolute; relative output paths resolve against `cwd`). */
export function partsDirFor(job: ShardableJob, params: { out?: string; outputPath: string }, cwd = process.cwd()): string {
  const base = params.out !== undefined ? path.dirname(path.resolve(cwd, params.out)) : path.resolve(cwd, params.outputPath);
  const hash = createHash('sha256').update(JSON.stringify([job, unshardedArgv(job, params)])).digest('hex').slice(0, 12);
  return path.join(base, SHARDS_FOLDER, `${job}-${hash}`);
}

export function partExtensionOf(job: ShardableJob): PartExtension {
  return job === 'save-hidden-states' ? '.safetensors' : '.json';
}

export function partFileFor(job: ShardableJob, params: { out?: string; outputPath: string }, shard: Shard, cwd = process.cwd()): string {
  return path.join(partsDirFor(job, params, cwd), partFileName(shard, partExtensionOf(job)));
}
