import { spawn, spawnSync } from 'node:child_process';
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

export interface RunningCli {
  child: import('node:child_process').ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the real CLI without waiting for it (to run several at once, or to kill one). */
export function startCli(args: string[], env: Record<string, string> = {}): RunningCli {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'runtime', 'cli', 'main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('close', (code, signal) => res({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}
