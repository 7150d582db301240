/**
 * `layerlab merge` and the merge a part does when it finishes last: both check the parts and
 * write the merged output the same way (cacheParts.ts, runParts.ts), under the output's lock.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OutputLockedError } from '../../models/common/lock';
import { formatShard, parsePartFileName, partFileName, type PartExtension, type Shard } from '../protocol/shards';
import { mergeCacheParts, type MergeOutcome } from './cacheParts';
import { expandPartPaths, MergeError } from './parts';
import { mergeRunParts, runPartComplete } from './runParts';

export { MergeError };

/** Merges the given parts (files, or folders of them) into `out` (default: the output they were run for). */
export function mergeParts(paths: readonly string[], out?: string): MergeOutcome {
  const files = expandPartPaths(paths);
  const exts = new Set(files.map((f) => (f.endsWith('.safetensors') ? '.safetensors' : f.endsWith('.json') ? '.json' : path.extname(f))));
  if (exts.size > 1) throw new MergeError(`the parts mix cache parts (.safetensors) and run parts (.json): merge the parts of one job at a time`);
  const ext = [...exts][0];
  if (ext === '.safetensors') return mergeCacheParts(files, out);
  if (ext === '.json') return mergeRunParts(files, out);
  throw new MergeError(`${files[0]}: not a part file (parts are part-<i>-of-<N>.safetensors for caches and part-<i>-of-<N>.json for runs)`);
}

/** What a finished part found when it looked at its siblings. */
export interface AutoMerge {
  partsDone: number;
  /** The merged output, when this part merged the set (or found it merged). */
  merged?: string;
  note?: string;
  outcome?: MergeOutcome;
}

/**
 * Run by each part when it has finished: when every part of its sharding is complete, merges
 * them (the last part to finish does; when two finish at once, the one that gets the output's
 * lock merges and the other says so). A part that finds others unfinished leaves the merge to
 * the last one, or to `layerlab merge`.
 */
export function mergeWhenComplete(partsDir: string, shard: Shard, ext: PartExtension): AutoMerge {
  const files = Array.from({ length: shard.count }, (_, index) => path.join(partsDir, partFileName({ index, count: shard.count }, ext)));
  const complete = files.filter((f) => fs.existsSync(f) && !fs.existsSync(`${f}.partial`) && (ext === '.safetensors' || runPartComplete(f)));
  if (complete.length < shard.count) {
    const waiting = files.filter((f) => !complete.includes(f)).map((f) => formatShard(parsePartFileName(path.basename(f))!));
    return { partsDone: complete.length, note: `${complete.length} of ${shard.count} parts done; the merge waits for shard ${waiting.slice(0, 8).join(', ')}${waiting.length > 8 ? ', …' : ''}` };
  }
  try {
    const outcome = mergeParts(files);
    return { partsDone: shard.count, merged: outcome.out, outcome, note: outcome.alreadyMerged ? 'already merged' : `merged ${shard.count} parts` };
  } catch (e) {
    if (e instanceof OutputLockedError) return { partsDone: shard.count, note: `every part is done; another process is merging them into ${e.target}` };
    throw e;
  }
}
