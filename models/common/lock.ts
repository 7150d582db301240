/**
 * Exclusive output: one writer per output file (a hidden-state cache, a directions pair, a run
 * file). Two writers appending to the same partial cache corrupt it silently, and starting the
 * same job twice (the palette and a terminal) is easy, so every writer takes the output's lock
 * first and a second one fails at once, naming the process that holds it.
 *
 * The lock is a folder `<output>.lock/` holding `owner.json` (pid, host, command, start time).
 * It is created by renaming a fully written temporary folder into place: rename(2) onto an
 * existing non-empty folder fails, so exactly one process wins and the lock never exists without
 * its owner record. A lock whose owner is gone (dead pid, or a pid reused by a process that
 * started later) is stale and is taken over by renaming it to `<output>.lock.stale-<its nonce>`:
 * that name is unique to the stale lock, so when two processes take over the same stale lock at
 * once, only one rename succeeds and the other finds a live owner on its next look.
 *
 * Works on local file systems, where pids are meaningful. A lock written on another host (a shared
 * network folder) cannot be checked, so it is never taken over automatically: the message says
 * which host and how to remove it.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeFsError, ensureDir, failpoint, fsyncDir, processAlive } from './files';

export interface LockOwner {
  pid: number;
  host: string;
  /** The command line, shortened: enough for a person to recognise the job. */
  command: string;
  /** When the owning process started (ISO 8601). */
  startedAt: string;
  /** Linux: the process's start time in clock ticks since boot, to tell a reused pid from the owner. */
  procStart?: string;
  /** What the lock protects, for messages ("hidden-state cache", "directions", "run file"). */
  purpose: string;
  /** Unique per acquisition. */
  nonce: string;
}

/** Another live process holds the output. */
export class OutputLockedError extends Error {
  constructor(
    readonly target: string,
    readonly lockDir: string,
    readonly owner: LockOwner | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'OutputLockedError';
  }
}

export interface OutputLock {
  /** The output it protects. */
  readonly target: string;
  /** The lock folder. */
  readonly dir: string;
  /** Removes the lock if it is still this acquisition's. Idempotent. */
  release(): void;
}

const OWNER_FILE = 'owner.json';
const TAKER_FILE = 'taken-over-by';
/** Leftovers of crashed takeovers and acquisitions older than this are removed. */
const LEFTOVER_MS = 60_000;
const MAX_COMMAND_CHARS = 300;

export function lockDirFor(target: string): string {
  return `${path.resolve(target)}.lock`;
}

/** Field 22 of /proc/<pid>/stat (start time in ticks since boot), or undefined off Linux. */
function procStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

function shortCommand(): string {
  const argv = [process.argv[0], ...process.execArgv, ...process.argv.slice(1)];
  const cmd = argv.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ');
  return cmd.length > MAX_COMMAND_CHARS ? `${cmd.slice(0, MAX_COMMAND_CHARS)}…` : cmd;
}

function ownRecord(purpose: string): LockOwner {
  return {
    pid: process.pid,
    host: os.hostname(),
    command: shortCommand(),
    startedAt: new Date(Date.now() - process.uptime() * 1000).toISOString(),
    procStart: procStartTime(process.pid),
    purpose,
    nonce: randomBytes(8).toString('hex'),
  };
}

function readOwner(dir: string): LockOwner | undefined {
  try {
    const o = JSON.parse(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8')) as LockOwner;
    return typeof o?.pid === 'number' && typeof o.nonce === 'string' ? o : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the owner is certainly gone: same host, and its pid is dead or now belongs to a later process. */
function ownerGone(o: LockOwner): boolean {
  if (o.host !== os.hostname()) return false;
  if (!processAlive(o.pid)) return true;
  const now = procStartTime(o.pid);
  return o.procStart !== undefined && now !== undefined && now !== o.procStart;
}

function describeOwner(o: LockOwner): string {
  return `pid ${o.pid}${o.host !== os.hostname() ? ` on host ${o.host}` : ''}, started ${o.startedAt}, command: ${o.command}`;
}

/**
 * Removes what crashed writers left beside the lock: acquisitions' temporary folders (by their
 * pid) and takeover leftovers whose taker is gone (or, without a taker record, that are old).
 */
function removeLeftovers(lockDir: string): void {
  const dir = path.dirname(lockDir);
  const base = path.basename(lockDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(`${base}.`)) continue;
    const p = path.join(dir, name);
    const pending = /^\.new-(\d+)-/.exec(name.slice(base.length));
    const stale = name.slice(base.length).startsWith('.stale-');
    if (!pending && !stale) continue;
    try {
      // ctime, not mtime: a rename (the takeover) updates ctime, so a fresh takeover looks fresh.
      const old = Date.now() - fs.statSync(p).ctimeMs > LEFTOVER_MS;
      const owner = pending ? Number(pending[1]) : takerOf(p);
      if ((owner !== undefined && owner !== process.pid && !processAlive(owner)) || old) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // raced with another cleaner
    }
  }
}

function takerOf(grave: string): number | undefined {
  try {
    return Number(fs.readFileSync(path.join(grave, TAKER_FILE), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock of `target`, or throws OutputLockedError naming the process that holds it.
 * `purpose` says what is being written, for the other process's message.
 */
export function acquireOutputLock(target: string, purpose: string, opts: { hint?: string } = {}): OutputLock {
  const abs = path.resolve(target);
  const lockDir = lockDirFor(abs);
  const parent = path.dirname(lockDir);
  const me = ownRecord(purpose);
  const pending = `${lockDir}.new-${process.pid}-${me.nonce}`;
  const fsCtx = { path: lockDir, operation: `create the lock that keeps other processes from writing ${path.basename(abs)}`, hint: opts.hint };
  try {
    ensureDir(pending);
    fs.writeFileSync(path.join(pending, OWNER_FILE), JSON.stringify(me, null, 1));
  } catch (e) {
    fs.rmSync(pending, { recursive: true, force: true });
    throw describeFsError(e, fsCtx);
  }
  const takenOver: string[] = [];
  try {
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        fs.renameSync(pending, lockDir);
        fsyncDir(parent);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EPERM') throw describeFsError(e, fsCtx);
      }
      const owner = readOwner(lockDir);
      if (owner === undefined) {
        // A folder we did not write (no owner record): only a person can say whether it is in use.
        if (!fs.existsSync(lockDir)) continue;
        throw new OutputLockedError(abs, lockDir, undefined,
          `${abs} is locked by ${lockDir}, which names no owner. If no other LayerLab process is writing this ${purpose}, delete that folder and run again.`);
      }
      if (!ownerGone(owner)) {
        throw new OutputLockedError(abs, lockDir, owner,
          `${abs} is being written by another LayerLab process (${describeOwner(owner)}), as a ${owner.purpose}. ` +
            `Wait for it to finish or stop it, then run again. If that process no longer exists, delete ${lockDir}.`);
      }
      failpoint('lock:stale-seen');
      const grave = `${lockDir}.stale-${owner.nonce}`;
      try {
        fs.renameSync(lockDir, grave);
      } catch {
        continue; // someone else took this stale lock over first: look again
      }
      // Had the stale lock been replaced between our look and the rename, we would have moved a
      // live lock: put it back.
      if (readOwner(grave)?.nonce !== owner.nonce) {
        try {
          fs.renameSync(grave, lockDir);
        } catch {
          // its owner will find its lock gone at release; nothing better to do here
        }
        continue;
      }
      takenOver.push(grave);
      // Who took it over: if we die before release, the next writer may remove it at once.
      try {
        fs.writeFileSync(path.join(grave, TAKER_FILE), String(process.pid));
      } catch {
        // removed after LEFTOVER_MS instead
      }
    }
    if (readOwner(lockDir)?.nonce !== me.nonce) throw new Error(`${lockDir}: could not take the lock after repeated attempts`);
  } catch (e) {
    fs.rmSync(pending, { recursive: true, force: true });
    for (const g of takenOver) fs.rmSync(g, { recursive: true, force: true });
    throw e;
  }
  removeLeftovers(lockDir);
  let released = false;
  return {
    target: abs,
    dir: lockDir,
    release() {
      if (released) return;
      released = true;
      // Never remove a lock someone else holds (ours was taken over after we were presumed dead).
      if (readOwner(lockDir)?.nonce === me.nonce) fs.rmSync(lockDir, { recursive: true, force: true });
      for (const g of takenOver) fs.rmSync(g, { recursive: true, force: true });
    },
  };
}
