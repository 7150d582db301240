/**
 * Content hashes of model files, remembered across runs. Hashing a multi-gigabyte checkpoint
 * takes seconds to minutes, and opening a model whose graphs are already built should not
 * read its weights at all, so the hash of a file list is cached under the files' paths,
 * sizes and modification times.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { layerlabCacheDir, writeFileAtomic } from './common/files';

const CHUNK = 8 << 20;

function memoFile(): string {
  return path.join(layerlabCacheDir(), 'fingerprints.json');
}

/**
 * sha256 over `prefix` (e.g. config.json's bytes) followed by each file's bytes in the given
 * order; the same value the checkpoint readers compute while reading.
 */
export function hashFiles(prefix: Buffer, files: string[]): string {
  const stats = files.map((f) => fs.statSync(f));
  const key = createHash('sha256')
    .update(prefix)
    .update(JSON.stringify(files.map((f, i) => [path.resolve(f), stats[i].size, stats[i].mtimeMs])))
    .digest('hex');
  const memo = readMemo();
  if (memo[key]) return memo[key];
  const hash = createHash('sha256').update(prefix);
  const buf = Buffer.allocUnsafe(CHUNK);
  for (const file of files) {
    const fd = fs.openSync(file, 'r');
    try {
      for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  }
  const digest = hash.digest('hex');
  writeMemo({ ...readMemo(), [key]: digest });
  return digest;
}

function readMemo(): Record<string, string> {
  try {
    return JSON.parse(fs.readFileSync(memoFile(), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

function writeMemo(memo: Record<string, string>): void {
  // Best effort: a read-only home folder only costs re-hashing next time. Several processes may
  // write it at once; each write is whole, and the last one wins (losing a memo entry costs a hash).
  try {
    writeFileAtomic(memoFile(), JSON.stringify(memo));
  } catch {
    /* ignore */
  }
}
