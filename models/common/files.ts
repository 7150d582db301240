/**
 * The one way LayerLab replaces a file: write a temporary sibling, fsync it, rename it over the
 * target, fsync the folder (so the rename itself survives a power cut), and remove the temporary
 * file on any failure. A reader, a crash or a cancel sees the old file or the new one, never half
 * of one. Files that belong together (directions and their statistics) are committed as a unit
 * with a roll-forward journal (writeFilesTogether).
 *
 * File-system failures become messages that name the path, the operation and what to do
 * (describeFsError), because users meet them on the command line and in notifications, far from
 * the code: "ENOSPC" alone says neither which file nor that re-running resumes.
 *
 * Temporary files are `<target>.tmp-<pid>`: the pid says whose they are, so the next write of the
 * same target removes those of processes that no longer exist (a `kill -9` leaves them behind).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Largest single write; keeps each call under the 2 GiB limit of fs.writeSync. */
const WRITE_CHUNK_BYTES = 1 << 30;

/** A file-system failure explained: the path, what LayerLab was doing, and what to do about it. */
export class FileSystemError extends Error {
  constructor(
    readonly path: string,
    readonly operation: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'FileSystemError';
  }
}

export interface FsErrorContext {
  /** The file or folder concerned. */
  path: string;
  /** What LayerLab was doing, as a verb phrase: "write the run file", "create the cache folder". */
  operation: string;
  /** What the user can change, e.g. "choose a writable --output_path". Appended to the standard advice. */
  hint?: string;
}

/** Codes describeFsError explains; any other error passes through unchanged. */
const EXPLAINED = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'EMFILE', 'ENFILE']);

/**
 * `e` as a FileSystemError naming the path, the operation and what to do, when it is one of the
 * failures users cause or can fix (full disk, read-only or foreign folders, ...); otherwise `e`.
 */
export function describeFsError(e: unknown, ctx: FsErrorContext): unknown {
  if (e instanceof FileSystemError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (!code || !EXPLAINED.has(code)) return e;
  // The errno's own path is more precise than ctx.path when a parent folder is the problem.
  const where = (e as NodeJS.ErrnoException).path ?? ctx.path;
  const hint = ctx.hint ? ` ${ctx.hint.charAt(0).toUpperCase()}${ctx.hint.slice(1)}.` : '';
  let what: string;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      what = `no space left on the device (${code}) while trying to ${ctx.operation}. Free some space or choose a location on another disk, then run the same command again.`;
      break;
    case 'EROFS':
      what = `the file system is read-only (EROFS), so LayerLab cannot ${ctx.operation} there. Choose a location on a writable disk.`;
      break;
    case 'EACCES':
    case 'EPERM':
      what = `permission denied (${code}) while trying to ${ctx.operation}. Check the folder's owner and permissions (ls -ld), or choose a location you can write to.`;
      break;
    case 'ENOTDIR':
      what = `a part of this path is a file, not a folder (ENOTDIR), so LayerLab cannot ${ctx.operation}. Check the path.`;
      break;
    case 'EISDIR':
      what = `this is a folder, not a file (EISDIR), so LayerLab cannot ${ctx.operation}. Give a file path.`;
      break;
    case 'ENAMETOOLONG':
      what = `the path is too long for the file system (ENAMETOOLONG), so LayerLab cannot ${ctx.operation}. Use a shorter name or folder.`;
      break;
    default:
      what = `too many open files (${code}) while trying to ${ctx.operation}. Close other programs or raise the limit (ulimit -n).`;
  }
  return new FileSystemError(where, ctx.operation, code, `${where}: ${what}${hint}`);
}

/** Runs `fn`, turning explainable file-system failures into FileSystemErrors (see describeFsError). */
export function withFsErrors<T>(ctx: FsErrorContext, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw describeFsError(e, ctx);
  }
}

/**
 * `mkdir -p` that reports the real cause. Node's recursive mkdir says ENOENT when a parent cannot
 * be created because the file system is read-only or the user may not write there; creating the
 * first missing folder alone surfaces EROFS or EACCES instead.
 */
export function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const missing: string[] = [];
    for (let p = path.resolve(dir); !fs.existsSync(p); p = path.dirname(p)) {
      missing.unshift(p);
      if (path.dirname(p) === p) break;
    }
    for (const m of missing) fs.mkdirSync(m);
    throw e;
  }
}

/** `<file>.tmp-<pid>`: this process's temporary sibling of `file`. */
export function tempPathFor(file: string): string {
  return `${file}.tmp-${process.pid}`;
}

/** True when a process with this id exists on this machine (a process we may not signal exists too). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Removes `<file>.tmp-<pid>` files left by crashed writers: those of processes that no longer
 * exist, or, with `allButOurs` (for a caller that holds the target's output lock and so is its only
 * legitimate writer), every one but this process's. Returns the paths removed.
 */
export function removeStaleTemps(file: string, opts: { allButOurs?: boolean } = {}): string[] {
  const dir = path.dirname(file);
  const pattern = new RegExp(`^${escapeRegExp(path.basename(file))}\\.tmp-(\\d+)$`);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    if (!opts.allButOurs && processAlive(pid)) continue;
    const p = path.join(dir, name);
    try {
      fs.rmSync(p, { force: true, recursive: true });
      removed.push(p);
    } catch {
      // Not ours to fight over: a later write tries again.
    }
  }
  return removed;
}

/**
 * fsyncs a folder so that renames and creations in it are durable. Platforms that cannot open a
 * folder for syncing (Windows) or do not support it on some file systems are skipped: the rename
 * is still atomic there, only its durability across a power cut is weaker.
 */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF' && code !== 'EACCES') throw e;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes every byte (writeSync may write fewer than asked). */
export function writeAllSync(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) {
    done += fs.writeSync(fd, bytes, done, Math.min(WRITE_CHUNK_BYTES, bytes.length - done));
  }
}

/** What to write: the bytes, a string (UTF-8), or a function that writes to the open file. */
export type FileContent = string | Uint8Array | ((fd: number) => void);

export interface AtomicWriteOptions {
  /** The operation, for error messages (default: "write <file>"). */
  operation?: string;
  /** What the user can change when it fails, e.g. "choose a writable --output_path". */
  hint?: string;
}

/** Writes `content` to `tmp` (the temporary file of `target`) and fsyncs it; removes `tmp` if that fails. */
function writeTemp(tmp: string, content: FileContent, target: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    if (typeof content === 'function') content(fd);
    else writeAllSync(fd, typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    failpoint(`temp-written:${path.basename(target)}`);
  } catch (e) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
    }
    // A full disk keeps the space of a half-written temporary file: give it back.
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Replaces `file` atomically and durably (see the module comment). The folder is created when
 * missing. Failures throw FileSystemErrors that name the file and what to do.
 */
export function writeFileAtomic(file: string, content: FileContent, opts: AtomicWriteOptions = {}): void {
  const abs = path.resolve(file);
  const ctx: FsErrorContext = { path: abs, operation: opts.operation ?? `write ${path.basename(abs)}`, hint: opts.hint };
  withFsErrors(ctx, () => {
    const dir = path.dirname(abs);
    ensureDir(dir);
    removeStaleTemps(abs);
    const tmp = tempPathFor(abs);
    writeTemp(tmp, content, abs);
    try {
      fs.renameSync(tmp, abs);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    fsyncDir(dir);
  });
}

/** `<first file>.commit`: the journal of a group commit. */
export function commitJournalFor(files: readonly string[]): string {
  return `${path.resolve(files[0])}.commit`;
}

interface JournalEntry {
  tmp: string;
  file: string;
}

/**
 * Replaces several files as one unit. Every file is first written completely to its temporary
 * sibling and fsynced (a full disk or a crash here leaves every old file untouched and no
 * temporary file); then a journal listing the renames is written atomically, the renames are
 * done, and the journal is removed. A crash during the renames leaves the journal, and the next
 * recoverFilesTogether (run by the next writer, under the output lock) finishes them, so readers
 * never keep a mixed pair beyond the next run. The files must share a folder.
 */
export function writeFilesTogether(files: { file: string; content: FileContent }[], opts: AtomicWriteOptions = {}): void {
  if (files.length === 0) return;
  const abs = files.map((f) => path.resolve(f.file));
  const dir = path.dirname(abs[0]);
  if (abs.some((f) => path.dirname(f) !== dir)) throw new Error('writeFilesTogether: the files must be in one folder');
  const journal = commitJournalFor(abs);
  const ctx: FsErrorContext = { path: abs[0], operation: opts.operation ?? `write ${abs.map((f) => path.basename(f)).join(' and ')}`, hint: opts.hint };
  withFsErrors(ctx, () => {
    ensureDir(dir);
    recoverFilesTogether(abs);
    const entries: JournalEntry[] = abs.map((file) => ({ file: path.basename(file), tmp: path.basename(tempPathFor(file)) }));
    try {
      for (const f of abs) removeStaleTemps(f);
      files.forEach((f, i) => writeTemp(path.join(dir, entries[i].tmp), f.content, abs[i]));
      writeFileAtomic(journal, JSON.stringify({ format: 'layerlab-commit', renames: entries }));
    } catch (e) {
      for (const en of entries) fs.rmSync(path.join(dir, en.tmp), { force: true });
      throw e;
    }
    entries.forEach((en, i) => {
      fs.renameSync(path.join(dir, en.tmp), path.join(dir, en.file));
      failpoint(`commit:renamed-${i}`);
    });
    fsyncDir(dir);
    fs.rmSync(journal, { force: true });
    fsyncDir(dir);
  });
}

/**
 * Finishes a group commit that a crash interrupted (see writeFilesTogether): renames the
 * temporary files the journal lists that are still there, then removes the journal. Returns true
 * when there was one to finish. Safe to run when there is none.
 */
export function recoverFilesTogether(files: readonly string[]): boolean {
  const journal = commitJournalFor(files);
  let text: string;
  try {
    text = fs.readFileSync(journal, 'utf8');
  } catch {
    return false;
  }
  const dir = path.dirname(journal);
  // The journal is written atomically after every temporary file is complete, so what it lists
  // is whole; an unreadable journal can only be foreign, and is left for a human.
  const parsed = JSON.parse(text) as { format?: string; renames?: JournalEntry[] };
  if (parsed.format !== 'layerlab-commit' || !Array.isArray(parsed.renames)) throw new Error(`${journal} is not a LayerLab commit journal; move it away`);
  for (const en of parsed.renames) {
    const tmp = path.join(dir, path.basename(en.tmp));
    if (fs.existsSync(tmp)) fs.renameSync(tmp, path.join(dir, path.basename(en.file)));
  }
  fsyncDir(dir);
  fs.rmSync(journal, { force: true });
  fsyncDir(dir);
  return true;
}

/**
 * Crash-test hook. LAYERLAB_FAILPOINT=`name` makes the process kill itself with SIGKILL right
 * here, as a power cut or `kill -9` would; `name:sleep=MS` makes it pause here instead (to line
 * up concurrent processes inside a race window). Random kills almost never land in the
 * microseconds between two renames; tests use this to land there every time. Costs one
 * environment lookup when unset.
 */
export function failpoint(name: string): void {
  const fp = process.env.LAYERLAB_FAILPOINT;
  if (!fp || !fp.startsWith(name)) return;
  if (fp === name) process.kill(process.pid, 'SIGKILL');
  const sleep = /^:sleep=(\d+)$/.exec(fp.slice(name.length));
  if (sleep) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(sleep[1]));
}

/** Where LayerLab keeps what it can rebuild (graphs, hashes): `$LAYERLAB_CACHE_DIR`, else ~/.cache/layerlab. */
export function layerlabCacheDir(): string {
  return process.env.LAYERLAB_CACHE_DIR || path.join(os.homedir(), '.cache', 'layerlab');
}
