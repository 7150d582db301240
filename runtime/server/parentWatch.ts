/**
 * Ends the runtime when the process that started it dies. Its stdin closing usually says so,
 * but not always: a parent killed with SIGKILL can leave the pipe open through a grandchild
 * that inherited it, and a crashed extension host may never close it. A model mid-run would
 * then keep a core busy and hold gigabytes forever (vscode-languageserver-node's and
 * rust-analyzer's runtimes poll their parent for the same reason).
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else (it is alive).
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Polls every `intervalMs`; calls `onGone` once when `parentPid` no longer exists or this
 * process was re-parented (its original parent died and init adopted it).
 */
export function watchParent(parentPid: number, onGone: (why: string) => void, intervalMs = 2000): () => void {
  const originalPpid = process.ppid;
  const timer = setInterval(() => {
    let why: string | undefined;
    if (!isAlive(parentPid)) why = `parent process ${parentPid} is gone`;
    else if (process.ppid !== originalPpid) why = `re-parented from ${originalPpid} to ${process.ppid}`;
    if (why) {
      clearInterval(timer);
      onGone(why);
    }
  }, intervalMs);
  // The watch alone must not keep the process alive.
  timer.unref();
  return () => clearInterval(timer);
}
