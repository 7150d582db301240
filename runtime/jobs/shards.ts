/**
 * The two jobs of sharding (runtime/protocol/shards.ts): `merge` and `slurm-script`, and what
 * the shardable jobs' handlers do when a part finishes.
 */
import * as path from 'node:path';
import { formatShard, type PartExtension, type Shard } from '../protocol/shards';
import type { ShardOutcome } from '../protocol/jobs';
import { mergeParts, mergeWhenComplete, MergeError, type AutoMerge } from '../shards/merge';
import { slurmScript } from '../shards/slurm';
import type { JobContext, JobHandler } from './context';

export const mergeHandler: JobHandler<'merge'> = async (p, ctx) => {
  const { run: _run, ...r } = mergeParts(p.parts, p.out);
  ctx.log('info', r.alreadyMerged ? `already merged: ${r.out} is the ${r.kind} these ${r.parts} parts make; nothing written` : `merged ${r.parts} parts into ${r.out}`);
  return r;
};

export const slurmScriptHandler: JobHandler<'slurm-script'> = async (p) => slurmScript(p);

/**
 * After a part is written: merge when every part is done. A merge that refuses (a stale part of
 * another command in the folder, say) fails the job, naming the part and field: the part itself
 * is kept, and merging by hand says the same.
 */
export function finishPart(partFile: string, shard: Shard, ext: PartExtension, ctx: JobContext): ShardOutcome & { auto: AutoMerge } {
  const partsDir = path.dirname(partFile);
  let auto: AutoMerge;
  try {
    auto = mergeWhenComplete(partsDir, shard, ext);
  } catch (e) {
    if (e instanceof MergeError) throw new MergeError(`part ${formatShard(shard)} is done (${partFile}), but the parts cannot be merged: ${e.message}`);
    throw e;
  }
  ctx.log('info', `part ${formatShard(shard)} done: ${partFile}; ${auto.merged && auto.note !== 'already merged' ? `every part is done: merged into ${auto.merged}` : auto.note ?? ''}`);
  return { shard: formatShard(shard), partFile, partsDir, partsDone: auto.partsDone, count: shard.count, ...(auto.merged ? { merged: auto.merged } : {}), ...(auto.note ? { note: auto.note } : {}), auto };
}
