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
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { f32ArrayToF16, writeSafetensorsFromFiles } from '../../models/safetensors';
import { CancelledError } from '../generate';
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
  /** Prompt token ids of record i, computed when its batch runs. */
  tokens: (index: number) => number[];
  /**
   * Provenance written into the header. Must be a pure function of the inputs (no clock, no
   * pid): it is part of what makes a resumed file byte-identical.
   */
  metadata: Record<string, string>;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface CacheResult {
  file: string;
  rows: number;
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
function jobIdentity(job: CacheJob, dModel: number): string {
  return JSON.stringify({
    hooks: job.hooks,
    positions: job.positions,
    dtype: job.dtype,
    batchSize: job.batchSize,
    dModel,
    records: createHash('sha256').update(JSON.stringify(job.recordIds)).digest('hex'),
    metadata: job.metadata,
  });
}

export async function writeHiddenStateCache(model: InstrumentedModel, job: CacheJob): Promise<CacheResult> {
  const d = model.spec.dModel;
  const N = job.recordIds.length;
  const identity = jobIdentity(job, d);
  const dir = partialDir(job.file);
  const bytesPer = job.dtype === 'float16' ? 2 : 4;

  if (fs.existsSync(job.file) && !fs.existsSync(dir)) {
    const existing = readIdentity(job.file);
    if (existing === identity) return { file: job.file, rows: N, resumedFrom: N, alreadyComplete: true };
    throw new CacheError(
      `${job.file} already exists and was written with different settings (model, data, hooks, positions, dtype or batch size). ` +
        'Choose another --output_path or --data_name, or delete the file to recompute it.',
    );
  }

  let progress: Progress = { rowsDone: 0, tokensDone: 0, rowTokens: [] };
  await guard(job.file, async () => {
    fs.mkdirSync(dir, { recursive: true });
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
      writeFileDurably(jobFile, identity);
    }
  });
  const resumedFrom = progress.rowsDone;

  const hookFiles = job.hooks.map((_, i) => path.join(dir, `${i}.bin`));
  // Cut off rows written after the last committed batch (a crash between the two writes).
  const rowsInFile = job.positions === 'all' ? progress.tokensDone : progress.rowsDone;
  await guard(job.file, async () => {
    for (const f of hookFiles) {
      const fd = fs.openSync(f, fs.existsSync(f) ? 'r+' : 'w');
      fs.ftruncateSync(fd, rowsInFile * d * bytesPer);
      fs.closeSync(fd);
    }
  });

  job.onProgress?.(progress.rowsDone, N);
  const collect = periodicCollector(8);
  const fds = hookFiles.map((f) => fs.openSync(f, 'a'));
  try {
    for (let start = progress.rowsDone; start < N; start += job.batchSize) {
      if (job.signal?.aborted) throw new CancelledError();
      const end = Math.min(N, start + job.batchSize);
      const batch = Array.from({ length: end - start }, (_, i) => job.tokens(start + i));
      let r;
      try {
        r = await model.forward(batch, undefined, { readsOnly: true, reads: job.hooks.map((hook) => ({ hook, positions: job.positions })) });
      } catch (e) {
        if (!(e instanceof ModelInputError)) throw e;
        throw new ModelInputError(`records ${start}..${end - 1} (ids ${job.recordIds.slice(start, end).join(', ')}): ${e.message}`);
      }
      await guard(job.file, async () => {
        job.hooks.forEach((hook, h) => {
          const rows = r.reads.get(hook)!;
          for (const row of rows) {
            const bytes = job.dtype === 'float16' ? f32ArrayToF16(row) : row;
            writeAllSync(fds[h], new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
          }
          fs.fsyncSync(fds[h]);
        });
        const rowTokens = job.positions === 'all' ? batch.map((t) => t.length) : [];
        progress = {
          rowsDone: end,
          tokensDone: progress.tokensDone + rowTokens.reduce((a, b) => a + b, 0),
          rowTokens: [...progress.rowTokens, ...rowTokens],
        };
        writeFileDurably(path.join(dir, 'progress.json'), JSON.stringify(progress));
      });
      job.onProgress?.(end, N);
      collect();
    }
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }

  await guard(job.file, async () => {
    const rowsOut = job.positions === 'all' ? progress.tokensDone : N;
    const metadata: Record<string, string> = {
      ...job.metadata,
      format: 'layerlab-hidden-states',
      identity,
      complete: 'true',
      rows: String(N),
      record_ids: JSON.stringify(job.recordIds),
      positions: job.positions,
      dtype: job.dtype,
      ...(job.positions === 'all' ? { row_offsets: JSON.stringify(offsets(progress.rowTokens)) } : {}),
    };
    writeSafetensorsFromFiles(
      job.file,
      job.hooks.map((name, i) => ({ name, dtype: job.dtype === 'float16' ? 'F16' : 'F32', shape: [rowsOut, d], bytesFile: hookFiles[i] })),
      metadata,
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { file: job.file, rows: N, resumedFrom, alreadyComplete: false };
}

function offsets(lengths: number[]): number[] {
  const out = [0];
  for (const n of lengths) out.push(out[out.length - 1] + n);
  return out;
}

function readIdentity(file: string): string | undefined {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const len = Buffer.alloc(8);
      fs.readSync(fd, len, 0, 8, 0);
      const n = Number(len.readBigUInt64LE(0));
      const buf = Buffer.alloc(n);
      fs.readSync(fd, buf, 0, n, 8);
      return (JSON.parse(buf.toString('utf8')) as { __metadata__?: { identity?: string } }).__metadata__?.identity;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

function writeAllSync(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

/** Replaces `file` atomically and durably: write a sibling, fsync, rename. */
function writeFileDurably(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    writeAllSync(fd, Buffer.from(text));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** Turns file-system failures into messages that say what happened and what to do. */
async function guard<T>(file: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new CacheError(`disk full while writing ${file}: free some space and run the same command again; it resumes where it stopped`);
    }
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new CacheError(`cannot write ${path.dirname(file)} (${code}): choose a writable --output_path`);
    }
    throw e;
  }
}
