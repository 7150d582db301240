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
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { describeFsError, ensureDir, failpoint, removeStaleTemps, writeAllSync, writeFileAtomic } from '../../models/common/files';
import { acquireOutputLock } from '../../models/common/lock';
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
}

export class CacheError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CacheError';
  }
}

interface Progress {
  rowsDone: number;
  /** For positions 'all': tokens written so far, and the token count of each finished row. */
  tokensDone: number;
  rowTokens: number[];
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

/** The advice for every file-system failure of the cache. */
const FS_HINT = 'choose a writable --output_path; a partial cache resumes where it stopped when the same command runs again';

export async function writeHiddenStateCache(model: InstrumentedModel, job: CacheJob): Promise<CacheResult> {
  const lock = acquireOutputLock(job.file, 'hidden-state cache', { hint: FS_HINT });
  try {
    // Assembling the final file may have been killed: its temporary file is ours to remove now.
    removeStaleTemps(job.file, { allButOurs: true });
    return await writeLocked(model, job);
  } finally {
    lock.release();
  }
}

async function writeLocked(model: InstrumentedModel, job: CacheJob): Promise<CacheResult> {
  const d = model.spec.dModel;
  const dir = partialDir(job.file);
  const bytesPer = job.dtype === 'float16' ? 2 : 4;
  const fsError = (e: unknown, operation: string) => describeFsError(e, { path: job.file, operation, hint: FS_HINT });

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

  if (fs.existsSync(job.file) && !fs.existsSync(dir)) {
    const existing = readIdentity(job.file);
    if (existing === identity) return { ...base, resumedFrom: N, alreadyComplete: true };
    throw new CacheError(
      `${job.file} already exists and was written with different settings (model, data, hooks, positions, dtype or batch size). ` +
        'Choose another --output_path or --data_name, or delete the file to recompute it.',
    );
  }

  let progress: Progress = { rowsDone: 0, tokensDone: 0, rowTokens: [] };
  try {
    ensureDir(dir);
    const jobFile = path.join(dir, 'job.json');
    if (fs.existsSync(jobFile)) {
      const previous = fs.readFileSync(jobFile, 'utf8');
      if (previous !== identity) {
        throw new CacheError(
          `${dir} holds a partial cache written with different settings. Re-run with the settings of that run to resume it, ` +
            'or delete the folder to start over.',
        );
      }
      const p = path.join(dir, 'progress.json');
      if (fs.existsSync(p)) progress = JSON.parse(fs.readFileSync(p, 'utf8')) as Progress;
    } else {
      writeFileAtomic(jobFile, identity);
    }
  } catch (e) {
    throw fsError(e, 'start the partial cache');
  }
  const resumedFrom = progress.rowsDone;

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

  job.onProgress?.(progress.rowsDone, N);
  const collect = periodicCollector(8);
  const fds = hookFiles.map((f) => fs.openSync(f, 'a'));
  try {
    for (let start = progress.rowsDone; start < N; start += job.batchSize) {
      if (job.signal?.aborted) throw new CancelledError();
      const end = Math.min(N, start + job.batchSize);
      const batch = Array.from({ length: end - start }, (_, i) => Array.from(fitted.tokens[start + i]));
      let r;
      try {
        r = await model.forward(batch, undefined, { readsOnly: true, reads: job.hooks.map((hook) => ({ hook, positions: job.positions })) });
      } catch (e) {
        if (!(e instanceof ModelInputError)) throw e;
        throw new ModelInputError(`records ${start}..${end - 1} (ids ${recordIds.slice(start, end).join(', ')}): ${e.message}`);
      }
      // Encode and check every row before writing any: a batch is committed whole or not at all.
      const encoded = job.hooks.map((hook) =>
        r.reads.get(hook)!.map((row, i) => {
          const bytes = job.dtype === 'float16' ? f32ArrayToF16(row) : row;
          checkFinite(bytes, job.dtype, { hook, index: start + i, id: recordIds[start + i], file: job.file, d });
          return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        }),
      );
      try {
        encoded.forEach((rows, h) => {
          for (const bytes of rows) writeAllSync(fds[h], bytes);
          fs.fsyncSync(fds[h]);
        });
        failpoint('cache:rows-written');
        const rowTokens = job.positions === 'all' ? batch.map((t) => t.length) : [];
        progress = {
          rowsDone: end,
          tokensDone: progress.tokensDone + rowTokens.reduce((a, b) => a + b, 0),
          rowTokens: [...progress.rowTokens, ...rowTokens],
        };
        writeFileAtomic(path.join(dir, 'progress.json'), JSON.stringify(progress));
      } catch (e) {
        throw fsError(e, 'write the partial cache');
      }
      job.onProgress?.(end, N);
      collect();
    }
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }

  const rowsOut = job.positions === 'all' ? progress.tokensDone : N;
  const finalMetadata: Record<string, string> = {
    ...metadata,
    format: 'layerlab-hidden-states',
    identity,
    complete: 'true',
    rows: String(N),
    record_ids: JSON.stringify(recordIds),
    positions: job.positions,
    dtype: job.dtype,
    ...(job.positions === 'all' ? { row_offsets: JSON.stringify(offsets(progress.rowTokens)) } : {}),
  };
  writeSafetensorsFromFiles(
    job.file,
    job.hooks.map((name, i) => ({ name, dtype: job.dtype === 'float16' ? 'F16' : 'F32', shape: [rowsOut, d], bytesFile: hookFiles[i] })),
    finalMetadata,
    { operation: 'write the finished cache file', hint: FS_HINT },
  );
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    throw fsError(e, 'remove the partial cache folder');
  }
  return { ...base, resumedFrom, alreadyComplete: false };
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
