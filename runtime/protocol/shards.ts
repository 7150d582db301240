/**
 * Sharding, as the jobs, the CLI and the editor see it: `--shard i/N` runs part i of N of a job
 * (save-hidden-states, evaluate, sweep), one process per part and no coordinator, the way Slurm
 * array jobs and Kubernetes Indexed Jobs run work. Each part is written to its own file
 * (`part-<i>-of-<N>.<ext>`, in a parts folder) and `layerlab merge` — or the last part to finish —
 * assembles exactly what one unsharded run would have written.
 *
 * The split is by the job's units of work in the order one unsharded run would do them (a cache's
 * batches, an evaluation's batches): part i takes the contiguous range shardRange(units, i/N).
 * Whole batches, never parts of one, because a batch's rows depend on what it is padded with: the
 * same batch computes the same bytes in any process, a differently composed one need not.
 *
 * No imports from vscode, the DOM or Node here: the extension bundles this module.
 */
import { z } from 'zod';

export interface Shard {
  /** 0-based: 0 ≤ index < count. */
  index: number;
  count: number;
}

/** More parts than this is certainly a typo (and would be as many files in one folder). */
export const MAX_SHARDS = 10_000;

const SHARD_RE = /^(\d+)\/(\d+)$/;

/** Why `text` is not a shard `i/N`, or undefined when it is one. */
export function shardProblem(text: string): string | undefined {
  const m = SHARD_RE.exec(text.trim());
  if (!m) return `must be i/N (part i of N, counted from 0, e.g. 0/4), got '${text}'`;
  const [index, count] = [Number(m[1]), Number(m[2])];
  if (count < 1) return `must have N ≥ 1, got '${text}'`;
  if (count > MAX_SHARDS) return `must have N ≤ ${MAX_SHARDS}, got '${text}'`;
  if (index >= count) return `must have i < N (parts are counted from 0: the last of ${count} is ${count - 1}/${count}), got '${text}'`;
  return undefined;
}

/** `i/N` → {index, count}; throws the message of shardProblem. */
export function parseShard(text: string): Shard {
  const problem = shardProblem(text);
  if (problem) throw new Error(`--shard ${problem}`);
  const [index, count] = text.trim().split('/').map(Number) as [number, number];
  return { index, count };
}

export function formatShard(s: Shard): string {
  return `${s.index}/${s.count}`;
}

/**
 * The `--shard` parameter: a string `i/N` (a string, so that it reads and prints as people type
 * it, and round-trips through the command line unchanged). Handlers parse it with parseShard.
 */
export const shardParam = z
  .string()
  .superRefine((s, ctx) => {
    const problem = shardProblem(s);
    if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
  })
  .describe('run part i of N of this job (0 ≤ i < N, e.g. --shard 0/4), one process per part: the work is split into N contiguous runs of whole batches, each part written to its own resumable file; `layerlab merge` (or the last part to finish) assembles the output one unsharded run writes');

/**
 * Units [start, end) of part `s` out of `units`: N contiguous, balanced ranges (sizes differ by
 * at most one) that cover 0..units-1 exactly once, in order. A part may be empty when there are
 * more parts than units.
 */
export function shardRange(units: number, s: Shard): [number, number] {
  return [Math.floor((s.index * units) / s.count), Math.floor(((s.index + 1) * units) / s.count)];
}

/** Extensions of part files: hidden-state caches and run files. */
export type PartExtension = '.safetensors' | '.json';

/** `part-2-of-4.safetensors`. */
export function partFileName(s: Shard, ext: PartExtension): string {
  return `part-${s.index}-of-${s.count}${ext}`;
}

const PART_NAME_RE = /^part-(\d+)-of-(\d+)(\.safetensors|\.json)$/;

/** The shard a part file's name says, or undefined for any other name. */
export function parsePartFileName(name: string): (Shard & { ext: PartExtension }) | undefined {
  const m = PART_NAME_RE.exec(name);
  if (!m) return undefined;
  const s = { index: Number(m[1]), count: Number(m[2]), ext: m[3] as PartExtension };
  return s.index < s.count ? s : undefined;
}

/** The folder under an output folder where sharded jobs keep their parts (one sub-folder per job). */
export const SHARDS_FOLDER = 'shards';

/** Format markers of part files. */
export const CACHE_PART_FORMAT = 'layerlab-hidden-states-part';

/** A sharded output's state, as `inspect-cache` and the tree views show it. */
export const shardsStateSchema = z.object({
  /** The parts folder. */
  dir: z.string(),
  count: z.number().int(),
  /** Indices of the parts written completely. */
  done: z.array(z.number().int()),
  /** Indices of the parts with work started but not finished (a partial, or a running writer). */
  started: z.array(z.number().int()),
  /** The file the merge writes (recorded in the parts), when a part says so. */
  target: z.string().optional(),
  /** The merged output exists. */
  merged: z.boolean(),
});
export type ShardsState = z.infer<typeof shardsStateSchema>;

/** `sharded 3/4 parts` / `sharded 4/4 parts, not merged` / `merged from 4 parts`: one wording everywhere. */
export function describeShards(s: ShardsState): string {
  if (s.merged) return `merged from ${s.count} parts`;
  const running = s.started.length ? `, ${s.started.length} running or interrupted` : '';
  return `sharded ${s.done.length}/${s.count} parts${s.done.length === s.count ? ', not merged yet' : running}`;
}

/** One part's state in a ShardsState: done, started (running, or interrupted and resumable), or not started. */
export function partState(s: ShardsState, index: number): 'done' | 'started' | 'not started' {
  return s.done.includes(index) ? 'done' : s.started.includes(index) ? 'started' : 'not started';
}
