/**
 * Content hashes of model files, remembered across runs. Hashing a multi-gigabyte checkpoint
 * takes seconds to minutes, and opening a model whose graphs are already built should not
 * read its weights at all, so the hash of a file list is remembered under each file's identity:
 * path, device and inode, size, and modification and status-change times in nanoseconds.
 *
 * Size and mtime alone are not enough: rewriting a file in place with the same size and
 * restoring its mtime (`cp -p`, `touch -r`, rsync) leaves both unchanged. The status-change
 * time (ctime) cannot be set by any tool: every write, rename or chmod moves it. A file changed
 * within the clock granularity of its last hashing could still look unchanged, so, as git does
 * with "racily clean" index entries, a hash is only remembered when every file is older than
 * RACY_MS; a file that young is hashed again next time.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { layerlabCacheDir, writeFileAtomic } from './common/files';

/** Bytes hashed so far, of all (first open of a large checkpoint). */
export type HashProgress = (done: number, total: number) => void;

const CHUNK = 8 << 20;
const RACY_MS = 2000;

function memoFile(): string {
  return path.join(layerlabCacheDir(), 'fingerprints.json');
}

/**
 * sha256 over `prefix` (e.g. config.json's bytes) followed by each file's bytes in the given
 * order; the same value the checkpoint readers compute while reading.
 */
export function hashFiles(prefix: Buffer, files: string[], onProgress?: HashProgress): string {
  const stats = files.map((f) => fs.statSync(f, { bigint: true }));
  const identity = files.map((f, i) => {
    const st = stats[i];
    return [path.resolve(f), String(st.dev), String(st.ino), String(st.size), String(st.mtimeNs), String(st.ctimeNs)];
  });
  const key = createHash('sha256').update(prefix).update(JSON.stringify(identity)).digest('hex');
  const memo = readMemo();
  if (memo[key]) return memo[key];
  const total = stats.reduce((a, st) => a + Number(st.size), 0);
  let done = 0;
  const hash = createHash('sha256').update(prefix);
  const buf = Buffer.allocUnsafe(CHUNK);
  for (const file of files) {
    const fd = fs.openSync(file, 'r');
    try {
      for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) {
        hash.update(buf.subarray(0, n));
        done += n;
        onProgress?.(done, total);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  const digest = hash.digest('hex');
  const newest = Math.max(...stats.map((st) => Math.max(Number(st.mtimeMs), Number(st.ctimeMs))));
  if (Date.now() - newest >= RACY_MS) writeMemo({ ...readMemo(), [key]: digest });
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
