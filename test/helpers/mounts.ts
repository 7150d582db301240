/**
 * Real file-system faults for tests: a tiny tmpfs that fills up, a read-only mount. Both need
 * root (mount(2)); without it a test skips with one line saying so.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tmpDir } from './tmp';

export interface Mount {
  dir: string;
  unmount(): void;
}

/** Why mounting is impossible here, or false when it works. */
export const cannotMount: string | false = (() => {
  if (process.platform !== 'linux') return 'tmpfs mounts need Linux';
  if (process.getuid?.() !== 0) return 'mounting a small tmpfs needs root (run the tests as root to cover disk-full and read-only file systems)';
  const probe = tmpDir('layerlab-mount-probe-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `mount(8) refused a tmpfs here: ${(r.stderr || r.error?.message || '').trim()}`;
  spawnSync('umount', [probe]);
  return false;
})();

/** A tmpfs of `sizeKb` KiB (with `ro`, mounted read-only after `populate` filled it). */
export function mountTmpfs(sizeKb: number, opts: { readOnly?: boolean; populate?: (dir: string) => void } = {}): Mount {
  // Not tmpDir(): its exit hook would try to delete the mount point while still mounted.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerlab-mount-'));
  const run = (args: string[]) => {
    const r = spawnSync('mount', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mount ${args.join(' ')}: ${r.stderr}`);
  };
  run(['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', dir]);
  opts.populate?.(dir);
  if (opts.readOnly) run(['-o', 'remount,ro', dir]);
  let mounted = true;
  const unmount = () => {
    if (!mounted) return;
    mounted = false;
    spawnSync('umount', ['-l', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', unmount);
  return { dir, unmount };
}

/** sha256 of every file under a folder (relative path → hash), to show that nothing changed. */
export function snapshotDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}
