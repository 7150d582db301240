import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/** Runs the real `layerlab` CLI (TypeScript sources through tsx) as a child process. */
export function runCli(args: string[], env: Record<string, string> = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'runtime', 'cli', 'main.ts'), ...args], {
    encoding: 'utf8',
    cwd: ROOT,
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', ...env },
    timeout: 120_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
