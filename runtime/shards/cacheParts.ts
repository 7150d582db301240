/**
 * The parts of a sharded hidden-state cache (runtime/cache/writer.ts writes them): checking that
 * they make one whole, merging them into the file one unsharded run writes, and describing a
 * parts folder for inspect-cache and the Cache view.
 *
 * Why a merge is byte-identical to the unsharded file: every part tokenized and fitted every
 * prompt, so each carries the whole cache's header metadata (`merged_metadata`, the exact header
 * an unsharded run writes, key order included), and each computed whole batches of the
 * unsharded run's batching, so its rows are the bytes that run computes for them. The merge
 * writes that header and then, tensor by tensor, the parts' bytes in shard order; the safetensors
 * header encoding is deterministic, so the same header and rows give the same file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeStaleTemps } from '../../models/common/files';
import { acquireOutputLock } from '../../models/common/lock';
import { openSafetensors, writeSafetensorsFromRanges, type SafetensorsFile } from '../../models/safetensors';
import { partRows, partialDir } from '../cache/writer';
import type { CacheEntryInfo, RunFile } from '../protocol/results';
import { CACHE_PART_FORMAT, parsePartFileName, partFileName, shardProblem, type Shard } from '../protocol/shards';
import { checkPartSet, describePart, firstDifference, MergeError, mismatch, type PartRef } from './parts';

const CACHE_FORMAT = 'layerlab-hidden-states';

interface CacheIdentity {
  hooks: string[];
  positions: 'last' | 'mean' | 'all';
  dtype: 'float32' | 'float16';
  batchSize: number;
  dModel: number;
  records: string;
  metadata: Record<string, string>;
}

interface CachePart extends PartRef {
  st: SafetensorsFile;
  /** Records [start, end) of the whole cache. */
  rows: [number, number];
  /** The output the part was run for. */
  target: string;
  /** The whole cache's header metadata, exactly as the merged file gets it. */
  merged: Record<string, string>;
  identity: CacheIdentity;
}

function field<T>(file: string, name: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    throw new MergeError(`${file}: field ${name} of the part's header is unreadable (${(e as Error).message}); the part is damaged: delete it and run its shard again`);
  }
}

export function readCachePart(file: string): CachePart {
  let st: SafetensorsFile;
  try {
    st = openSafetensors(file);
  } catch (e) {
    throw new MergeError(`${file}: not a readable safetensors file (${(e as Error).message})`);
  }
  const m = st.metadata;
  if (m.format !== CACHE_PART_FORMAT) {
    throw new MergeError(
      m.format === CACHE_FORMAT
        ? `${file} is a whole hidden-state cache, not a part of a sharded one: there is nothing to merge`
        : `${file} is not a part of a sharded hidden-state cache (its field format is ${m.format === undefined ? 'absent' : `'${m.format}'`})`,
    );
  }
  const problem = shardProblem(String(m.shard));
  if (problem) throw new MergeError(`${file}: field shard ${problem}`);
  const [index, count] = m.shard!.split('/').map(Number) as [number, number];
  const merged = field(file, 'merged_metadata', () => JSON.parse(m.merged_metadata!) as Record<string, string>);
  return {
    file,
    st,
    shard: { index, count },
    rows: field(file, 'shard_rows', () => JSON.parse(m.shard_rows!) as [number, number]),
    target: field(file, 'target', () => {
      if (!m.target) throw new Error('absent');
      return m.target;
    }),
    merged,
    identity: field(file, 'merged_metadata.identity', () => JSON.parse(merged.identity!) as CacheIdentity),
  };
}

/** Field paths of `comparable` in words people know. */
const LABELS: Record<string, string> = {
  model_hash: "model_hash (the checkpoint's content hash)",
  data_hash: "data_hash (the dataset file's content hash)",
  'settings.hooks': 'hook points (--hooks)',
  'settings.positions': 'positions (--positions)',
  'settings.dtype': 'dtype (--dtype)',
  'settings.batchSize': 'batch size (--data_batch_size)',
  'settings.dModel': 'd_model',
  'settings.records': 'the records cached (--data_sample_size, --seed, --on_long_prompt)',
  provider: 'provider (the execution provider the part ran on: CUDA and CPU results differ in the last bits)',
};

/** What must be equal in every part of one cache, most telling first. */
function comparable(p: CachePart): unknown {
  const { identity: _i, ...metadata } = p.merged;
  const { metadata: _m, ...settings } = p.identity;
  return { model_hash: p.merged.model_hash, data_hash: p.merged.data_hash, settings, provider: p.st.metadata.provider, metadata };
}

/** The rows a part's tensors hold: records, or their tokens with positions 'all'. */
function dataRows(p: CachePart, r: [number, number]): number {
  if (p.identity.positions !== 'all') return r[1] - r[0];
  const offsets = JSON.parse(p.merged.row_offsets!) as number[];
  return offsets[r[1]]! - offsets[r[0]]!;
}

function checkPart(p: CachePart): void {
  const total = Number(p.merged.rows);
  const expected = partRows(total, p.identity.batchSize, p.shard);
  if (p.rows[0] !== expected[0] || p.rows[1] !== expected[1]) {
    throw new MergeError(`${describePart(p)}: field shard_rows is [${p.rows.join(', ')}], but shard ${p.shard.index} of ${p.shard.count} of ${total} records in batches of ${p.identity.batchSize} is [${expected.join(', ')}]; the part is damaged or from another version: delete it and run its shard again`);
  }
  const names = p.st.names.join(',');
  if (names !== p.identity.hooks.join(',')) throw new MergeError(`${describePart(p)}: its tensors (${p.st.names.slice(0, 4).join(', ')}…) are not the cache's hook points in order; the part is damaged: delete it and run its shard again`);
  const rows = dataRows(p, p.rows);
  const dtype = p.identity.dtype === 'float16' ? 'F16' : 'F32';
  for (const name of p.st.names) {
    const h = p.st.header[name]!;
    if (h.dtype !== dtype || h.shape.length !== 2 || h.shape[0] !== rows || h.shape[1] !== p.identity.dModel) {
      throw new MergeError(`${describePart(p)}: tensor ${name} is ${h.dtype} [${h.shape.join(', ')}], expected ${dtype} [${rows}, ${p.identity.dModel}]; the part is damaged: delete it and run its shard again`);
    }
  }
}

export interface MergeOutcome {
  kind: 'cache' | 'run';
  out: string;
  parts: number;
  alreadyMerged: boolean;
  units: number;
  lines: string[];
  /** A run's merged contents (what `out` holds). */
  run?: RunFile;
}

/** The merged file: `--out`, else the output every part was run for. */
export function mergedOutput(parts: readonly { file: string; target: string }[], out: string | undefined): string {
  if (out !== undefined) return path.resolve(out);
  const targets = [...new Set(parts.map((p) => p.target))];
  if (targets.length > 1) throw new MergeError(`the parts were run for different outputs (${targets.slice(0, 2).join(' and ')}): give the merged file with --out`);
  return targets[0]!;
}

/**
 * Merges the parts of one sharded cache into `out` (default: the cache they were run for),
 * after checking that they are every part of one cache exactly once. An existing file of the
 * same cache is left as it is (alreadyMerged); one of another cache is refused.
 */
export function mergeCacheParts(files: readonly string[], out?: string): MergeOutcome {
  const parts = checkPartSet(files.map(readCachePart), '.safetensors');
  const ref = parts[0]!;
  for (const p of parts.slice(1)) {
    const d = firstDifference(comparable(p), comparable(ref));
    if (d) throw mismatch(p, ref, d, (f) => LABELS[f] ?? f);
  }
  parts.forEach(checkPart);
  const file = mergedOutput(parts, out);
  const total = Number(ref.merged.rows);
  const outcome: MergeOutcome = { kind: 'cache', out: file, parts: parts.length, alreadyMerged: false, units: total, lines: [] };
  const lock = acquireOutputLock(file, 'hidden-state cache', { hint: 'choose a writable --out' });
  try {
    removeStaleTemps(file, { allButOurs: true });
    if (fs.existsSync(file)) {
      let identity: string | undefined;
      try {
        identity = openSafetensors(file).metadata.identity;
      } catch {
        identity = undefined;
      }
      if (identity === ref.merged.identity) return { ...outcome, alreadyMerged: true };
      throw new MergeError(`${file} already exists and is not the cache these parts make (another model, data or settings): give another --out, or delete it to write the merged cache there`);
    }
    const dtype = ref.identity.dtype === 'float16' ? 'F16' : 'F32';
    writeSafetensorsFromRanges(
      file,
      ref.identity.hooks.map((name) => ({
        name,
        dtype,
        shape: [dataRows(ref, [0, total]), ref.identity.dModel],
        sources: parts.map((p) => {
          const [a, b] = p.st.header[name]!.dataOffsets;
          return { file: p.file, offset: p.st.dataStart + a, length: b - a };
        }),
      })),
      ref.merged,
      { operation: 'write the merged cache', hint: 'choose a writable --out' },
    );
    return outcome;
  } finally {
    lock.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Describing a parts folder (inspect-cache, the Cache view)

/** True when `dir` holds parts of a sharded cache (finished, partial or locked). */
export function isCachePartsDir(names: readonly string[]): boolean {
  return names.some((n) => parsePartFileName(n.replace(/\.(partial|lock)$/, ''))?.ext === '.safetensors');
}

interface PartialJob {
  hooks: string[];
  positions: CacheEntryInfo['positions'];
  dtype: CacheEntryInfo['dtype'];
  dModel: number;
  metadata: Record<string, string>;
  shard?: { part: string; rows: [number, number]; target: string };
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * One entry per sharding in a parts folder whose cache is not merged yet: rows done over all
 * parts (finished parts and the progress of started ones), and the parts' state. Parts of a
 * merged cache are left out: the merged cache is listed itself.
 */
export function describeCacheParts(dir: string): CacheEntryInfo[] {
  const names = fs.readdirSync(dir);
  const counts = new Set<number>();
  for (const n of names) {
    const p = parsePartFileName(n.replace(/\.(partial|lock)$/, ''));
    if (p?.ext === '.safetensors') counts.add(p.count);
  }
  const out: CacheEntryInfo[] = [];
  for (const count of [...counts].sort((a, b) => a - b)) {
    const done: number[] = [];
    let rowsDone = 0;
    const started: number[] = [];
    let about: { target: string; merged: Record<string, string>; identity: Pick<CacheIdentity, 'hooks' | 'positions' | 'dtype' | 'dModel'> } | undefined;
    for (let index = 0; index < count; index++) {
      const shard: Shard = { index, count };
      const file = path.join(dir, partFileName(shard, '.safetensors'));
      if (fs.existsSync(file) && !fs.existsSync(partialDir(file))) {
        try {
          const p = readCachePart(file);
          done.push(index);
          rowsDone += p.rows[1] - p.rows[0];
          about ??= p;
        } catch {
          // a damaged part counts as not done; merge says what is wrong with it
        }
        continue;
      }
      const job = readJson<PartialJob>(path.join(partialDir(file), 'job.json'));
      const progress = readJson<{ rowsDone: number }>(path.join(partialDir(file), 'progress.json'));
      if (job || fs.existsSync(`${file}.lock`)) started.push(index);
      if (job?.shard) {
        rowsDone += progress?.rowsDone ?? 0;
        about ??= { target: job.shard.target, merged: job.metadata, identity: job };
      }
    }
    if (!about) continue;
    const merged = fs.existsSync(about.target);
    if (merged) continue;
    const bytesPer = about.identity.dtype === 'float16' ? 2 : 4;
    const rows = Number(about.merged.n_records ?? about.merged.rows ?? 0);
    out.push({
      file: about.target,
      dataName: about.merged.data_name ?? path.basename(about.target, '.safetensors'),
      complete: false,
      rowsDone,
      rows,
      dModel: about.identity.dModel,
      dtype: about.identity.dtype,
      positions: about.identity.positions,
      hooks: about.identity.hooks.map((name) => ({ name, shape: [rowsDone, about!.identity.dModel], bytes: rowsDone * about!.identity.dModel * bytesPer })),
      provenance: Object.fromEntries(Object.entries(about.merged).filter(([k]) => !['identity', 'record_ids', 'labels', 'scores', 'row_offsets'].includes(k))),
      shards: { dir, count, done, started, target: about.target, merged },
    });
  }
  return out;
}
