/**
 * Writes the hidden-state cache: one safetensors file per dataset with one tensor per hook
 * point, rows in dataset order, provenance in the header metadata.
 *
 * Crash safety and resume: rows are appended to raw per-hook files in `<file>.partial/`, and a
 * small progress file is replaced atomically after the rows of each batch are on disk. A killed
 * run resumes after the last committed batch (extra bytes past it are cut off), with the same
 * batch boundaries, so the finished file is byte-identical to an uninterrupted run. The final
 * `.safetensors` is assembled and renamed into place only when every row is there, so a file
 * at the final path is always complete.
 *
 * One writer at a time: the output's lock (models/common/lock.ts) is taken before anything is
 * read or written, so a second run on the same output fails at once naming the first instead of
 * appending to the same partial files. Every prompt is tokenized before the first batch, so a
 * prompt longer than the context is reported (or skipped, or truncated) before any work, and
 * every row is checked to be finite before it is committed.
 *
 * A part of a sharded cache (`--shard i/N`, runtime/protocol/shards.ts) does everything above for
 * its own range of whole batches, into its own part file (with its own partial folder and lock):
 * every part tokenizes and fits every prompt, so all parts agree on the rows, the batches and the
 * header of the whole cache, which each part carries (`merged_metadata`) for the merge
 * (runtime/shards/cacheParts.ts) to write unchanged in front of the parts' rows.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { describeFsError, ensureDir, failpoint, removeStaleTemps, writeAllSync, writeFileAtomic } from '../../models/common/files';
import { acquireOutputLock } from '../../models/common/lock';
import { CACHE_PART_FORMAT, formatShard, shardRange, type Shard } from '../protocol/shards';
import { f32ArrayToF16, f16ArrayToF32, openSafetensors, writeSafetensorsFromFiles } from '../../models/safetensors';
import { CancelledError } from '../generate';
import { fitPrompts, type LongPrompt, type LongPromptPolicy } from '../promptFit';
import { periodicCollector } from '../memory';
import { ModelInputError, type InstrumentedModel, type ReadPositions } from '../model';

export type CacheDtype = 'float32' | 'float16';

export interface CacheJob {
  /** Final path, `<output>/<model>/<data_name>.safetensors`. */
  file: string;
  hooks: string[];
  positions: ReadPositions;
  dtype: CacheDtype;
  batchSize: number;
  /** Record ids in dataset order; row i of every tensor belongs to recordIds[i]. */
  recordIds: string[];
  /** Prompt token ids of record i (all are computed before the first batch). */
  tokens: (index: number) => number[];
  /**
   * Provenance written into the header. Must be a pure function of the inputs (no clock, no
   * pid): it is part of what makes a resumed file byte-identical. Per-record arrays go in
   * `recordMetadata` instead, so that skipped records leave them too.
   */
  metadata: Record<string, string>;
  /** Arrays aligned with recordIds (labels, scores), stored JSON-encoded for the records kept. */
  recordMetadata?: Record<string, unknown[]>;
  /** What to do with prompts longer than the model's context (default 'error'); see runtime/promptFit.ts. */
  onLongPrompt?: LongPromptPolicy;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** Write only this part of the cache (`--shard i/N`), to `partFile`; `file` stays the whole cache's path. */
  shard?: { shard: Shard; partFile: string };
}

export interface CacheResult {
  file: string;
  /** Records in the cache (those skipped as too long excluded). */
  rows: number;
  /** Records left out by onLongPrompt 'skip'. */
  skipped: LongPrompt[];
  /** Records whose prompts were cut by onLongPrompt 'truncate-left'. */
  truncated: LongPrompt[];
  /** Rows found already done in a partial from an earlier run. */
  resumedFrom: number;
  /** True when a complete file with the same job already existed and nothing ran. */
  alreadyComplete: boolean;
  /** With a shard: the part written, and its records [start, end) of the whole cache's `rows`. */
  part?: { file: string; rows: [number, number] };
}

export class CacheError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CacheError';
  }
}

interface Progress {
  rowsDone: number;
  /** For positions 'all': tokens written so far (the row offsets come from the prompts' lengths). */
  tokensDone: number;
}

export function partialDir(file: string): string {
  return `${file}.partial`;
}

/** Everything that decides the bytes of the result; a partial resumes only under the same one. */
function jobIdentity(job: CacheJob, dModel: number, recordIds: string[], metadata: Record<string, string>): string {
  return JSON.stringify({
    hooks: job.hooks,
    positions: job.positions,
    dtype: job.dtype,
    batchSize: job.batchSize,
    dModel,
    records: createHash('sha256').update(JSON.stringify(recordIds)).digest('hex'),
    metadata,
  });
}

/**
 * The identity of one part: the whole cache's identity (its fields, unchanged) plus which part
 * and which records, so that a part's partial folder reads like any partial (inspect-cache).
 */
function partIdentity(identity: string, shard: Shard, rows: [number, number], target: string): string {
  return JSON.stringify({ ...(JSON.parse(identity) as object), shard: { part: formatShard(shard), rows, target } });
}

/** Records [start, end) of a part: its share of the whole cache's batches (whole batches only). */
export function partRows(records: number, batchSize: number, shard: Shard): [number, number] {
  const [b0, b1] = shardRange(Math.ceil(records / batchSize), shard);
  return [Math.min(records, b0 * batchSize), Math.min(records, b1 * batchSize)];
}

/** The header metadata of a finished cache; a merged cache carries exactly this too. */
function finishedMetadata(job: CacheJob, metadata: Record<string, string>, identity: string, recordIds: string[], tokens: readonly Int32Array[]): Record<string, string> {
  return {
    ...metadata,
    format: 'layerlab-hidden-states',
    identity,
    complete: 'true',
    rows: String(recordIds.length),
    record_ids: JSON.stringify(recordIds),
    positions: job.positions,
    dtype: job.dtype,
    ...(job.positions === 'all' ? { row_offsets: JSON.stringify(offsets(tokens.map((t) => t.length))) } : {}),
  };
}

/** The advice for every file-system failure of the cache. */
const FS_HINT = 'choose a writable --output_path; a partial cache resumes where it stopped when the same command runs again';

export async function writeHiddenStateCache(model: InstrumentedModel, job: CacheJob): Promise<CacheResult> {
  // A part locks its own file: the parts of one cache are written at once by design.
  const output = job.shard?.partFile ?? job.file;
  const lock = acquireOutputLock(output, job.shard ? 'hidden-state cache part' : 'hidden-state cache', { hint: FS_HINT });
  try {
    // Assembling the final file may have been killed: its temporary file is ours to remove now.
    removeStaleTemps(output, { allButOurs: true });
    return await writeLocked(model, job);
  } finally {
    lock.release();
  }
}

async function writeLocked(model: InstrumentedModel, job: CacheJob): Promise<CacheResult> {
  const d = model.spec.dModel;
  const bytesPer = job.dtype === 'float16' ? 2 : 4;
  const output = job.shard?.partFile ?? job.file;
  const dir = partialDir(output);
  const fsError = (e: unknown, operation: string) => describeFsError(e, { path: output, operation, hint: FS_HINT });

  // Every prompt first: a too-long one is refused (or skipped, or cut) before any work.
  const fitted = await fitPrompts(job.recordIds, job.tokens, model.spec.maxSeqLen, job.onLongPrompt, job.signal);
  const recordIds = fitted.kept.map((i) => job.recordIds[i]);
  const N = recordIds.length;
  if (N === 0) throw new CacheError(`no record is left to cache: all ${job.recordIds.length} prompts are longer than the model's context of ${model.spec.maxSeqLen} tokens`);
  const metadata: Record<string, string> = { ...job.metadata };
  for (const [key, values] of Object.entries(job.recordMetadata ?? {})) {
    if (values.length !== job.recordIds.length) throw new TypeError(`recordMetadata.${key} has ${values.length} values for ${job.recordIds.length} records`);
    metadata[key] = JSON.stringify(fitted.kept.map((i) => values[i] ?? null));
  }
  // Only what happened changes the bytes: a run where every prompt fits writes the same file under any policy.
  if (fitted.skipped.length) {
    metadata.n_records = String(N);
    metadata.skipped_records = JSON.stringify(fitted.skipped);
  }
  if (fitted.truncated.length) metadata.truncated_records = JSON.stringify(fitted.truncated.map((t) => ({ ...t, keptTokens: model.spec.maxSeqLen })));
  const identity = jobIdentity(job, d, recordIds, metadata);
  const base = { file: job.file, rows: N, skipped: fitted.skipped, truncated: fitted.truncated };
  // A part computes records [start, end) of the whole; the whole cache is [0, N).
  const [start, end] = job.shard ? partRows(N, job.batchSize, job.shard.shard) : [0, N];
  const part = job.shard ? { part: { file: job.shard.partFile, rows: [start, end] as [number, number] } } : {};
  // What the partial folder and the finished file are checked against before resuming or skipping.
  const ownIdentity = job.shard ? partIdentity(identity, job.shard.shard, [start, end], job.file) : identity;

  // A part whose cache was already merged (by another part, or an earlier run) has nothing to do.
  if (job.shard && fs.existsSync(job.file) && readIdentity(job.file) === identity) return { ...base, ...part, resumedFrom: N, alreadyComplete: true };
  if (fs.existsSync(output) && !fs.existsSync(dir)) {
    const existing = job.shard ? readPartIdentity(output) : readIdentity(output);
    if (existing === ownIdentity) return { ...base, ...part, resumedFrom: end - start, alreadyComplete: true };
    throw new CacheError(
      `${output} already exists and was written with different settings (model, data, hooks, positions, dtype or batch size). ` +
        (job.shard
          ? 'A part is merged only with parts of the same command: delete this part to recompute it.'
          : 'Choose another --output_path or --data_name, or delete the file to recompute it.'),
    );
  }

  let progress: Progress = { rowsDone: 0, tokensDone: 0 };
  try {
    ensureDir(dir);
    const jobFile = path.join(dir, 'job.json');
    if (fs.existsSync(jobFile)) {
      const previous = fs.readFileSync(jobFile, 'utf8');
      if (previous !== ownIdentity) {
        throw new CacheError(
          `${dir} holds a partial cache written with different settings. Re-run with the settings of that run to resume it, ` +
            'or delete the folder to start over.',
        );
      }
      const p = path.join(dir, 'progress.json');
      if (fs.existsSync(p)) progress = JSON.parse(fs.readFileSync(p, 'utf8')) as Progress;
    } else {
      writeFileAtomic(jobFile, ownIdentity);
    }
  } catch (e) {
    throw fsError(e, 'start the partial cache');
  }
  const resumedFrom = progress.rowsDone;
  // Rows of this output: records [start, end) of the whole (all of them without a shard).
  const n = end - start;

  const hookFiles = job.hooks.map((_, i) => path.join(dir, `${i}.bin`));
  // Cut off rows written after the last committed batch (a crash between the two writes).
  const rowsInFile = job.positions === 'all' ? progress.tokensDone : progress.rowsDone;
  try {
    for (const f of hookFiles) {
      const fd = fs.openSync(f, fs.existsSync(f) ? 'r+' : 'w');
      fs.ftruncateSync(fd, rowsInFile * d * bytesPer);
      fs.closeSync(fd);
    }
  } catch (e) {
    throw fsError(e, 'prepare the partial cache files');
  }

  job.onProgress?.(progress.rowsDone, n);
  const collect = periodicCollector(8);
  const fds = hookFiles.map((f) => fs.openSync(f, 'a'));
  try {
    // `progress.rowsDone` counts this output's rows; `first` is the first record of a batch in the whole.
    for (let first = start + progress.rowsDone; first < end; first += job.batchSize) {
      if (job.signal?.aborted) throw new CancelledError();
      const last = Math.min(end, first + job.batchSize);
      const batch = Array.from({ length: last - first }, (_, i) => Array.from(fitted.tokens[first + i]));
      let r;
      try {
        r = await model.forward(batch, undefined, { readsOnly: true, reads: job.hooks.map((hook) => ({ hook, positions: job.positions })) });
      } catch (e) {
        if (!(e instanceof ModelInputError)) throw e;
        throw new ModelInputError(`records ${first}..${last - 1} (ids ${recordIds.slice(first, last).join(', ')}): ${e.message}`);
      }
      // Encode and check every row before writing any: a batch is committed whole or not at all.
      const encoded = job.hooks.map((hook) =>
        r.reads.get(hook)!.map((row, i) => {
          const bytes = job.dtype === 'float16' ? f32ArrayToF16(row) : row;
          checkFinite(bytes, job.dtype, { hook, index: first + i, id: recordIds[first + i], file: output, d });
          return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        }),
      );
      try {
        encoded.forEach((rows, h) => {
          for (const bytes of rows) writeAllSync(fds[h], bytes);
          fs.fsyncSync(fds[h]);
        });
        failpoint('cache:rows-written');
        const batchTokens = job.positions === 'all' ? batch.reduce((a, t) => a + t.length, 0) : 0;
        progress = { rowsDone: last - start, tokensDone: progress.tokensDone + batchTokens };
        writeFileAtomic(path.join(dir, 'progress.json'), JSON.stringify(progress));
      } catch (e) {
        throw fsError(e, 'write the partial cache');
      }
      job.onProgress?.(last - start, n);
      collect();
    }
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }

  const rowsOut = job.positions === 'all' ? progress.tokensDone : n;
  const whole = finishedMetadata(job, metadata, identity, recordIds, fitted.tokens);
  // A part carries the whole cache's header for the merge, and says which rows it holds.
  const fileMetadata: Record<string, string> = job.shard
    ? {
        format: CACHE_PART_FORMAT,
        shard: formatShard(job.shard.shard),
        shard_rows: JSON.stringify([start, end]),
        target: job.file,
        // Not in the merged header (an unsharded cache does not record it), but parts computed on
        // different providers may differ in the last bits, so the merge refuses to mix them.
        provider: model.provider.provider,
        part_identity: ownIdentity,
        merged_metadata: JSON.stringify(whole),
      }
    : whole;
  writeSafetensorsFromFiles(
    output,
    job.hooks.map((name, i) => ({ name, dtype: job.dtype === 'float16' ? 'F16' : 'F32', shape: [rowsOut, d], bytesFile: hookFiles[i] })),
    fileMetadata,
    { operation: job.shard ? 'write the finished cache part' : 'write the finished cache file', hint: FS_HINT },
  );
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    throw fsError(e, 'remove the partial cache folder');
  }
  return { ...base, ...part, resumedFrom, alreadyComplete: false };
}

/**
 * Stops the cache at the first non-finite value: a NaN row would poison every direction and
 * statistic computed from it, silently. Rows before it stay committed (and resume).
 */
function checkFinite(values: Float32Array | Uint16Array, dtype: CacheDtype, at: { hook: string; index: number; id: string; file: string; d: number }): void {
  const f32 = values instanceof Float32Array ? values : f16ArrayToF32(values);
  for (let j = 0; j < f32.length; j++) {
    const v = f32[j];
    if (Number.isFinite(v)) continue;
    const pos = at.d > 0 && f32.length > at.d ? `, position ${Math.floor(j / at.d)}` : '';
    const why = dtype === 'float16' && values instanceof Uint16Array && !Number.isNaN(v)
      ? `a value beyond float16's range (±65504) at dimension ${j % at.d}${pos}; cache with --dtype float32`
      : `a non-finite value (${v}) at dimension ${j % at.d}${pos}. The model computes NaN or infinity for this prompt: check the checkpoint's weights (a NaN or infinite weight is reported when the model is read) and the prompt`;
    throw new CacheError(`${at.file}: record ${at.index} (id ${at.id}), ${at.hook}: ${why}. Caching stopped; the records before it are kept and resume.`);
  }
}

function offsets(lengths: number[]): number[] {
  const out = [0];
  for (const n of lengths) out.push(out[out.length - 1] + n);
  return out;
}

function readIdentity(file: string): string | undefined {
  try {
    return openSafetensors(file).metadata.identity;
  } catch {
    return undefined;
  }
}

function readPartIdentity(file: string): string | undefined {
  try {
    return openSafetensors(file).metadata.part_identity;
  } catch {
    return undefined;
  }
}
