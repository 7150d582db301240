/**
 * How the runtime process is started: with VS Code's own Node (the extension host's executable
 * run as plain Node through ELECTRON_RUN_AS_NODE) unless `layerlab.nodePath` names another.
 * Plain functions so the command line is unit-tested; runtimeClient.ts takes the Spawner.
 */
import { spawn } from 'node:child_process';
import type { Spawner } from './runtimeClient';

export interface RuntimeLaunch {
  /** `layerlab.nodePath`, when set. */
  nodePath?: string;
  /** The extension host's executable (process.execPath). */
  execPath: string;
  /** dist/runtime.js inside the extension. */
  runtimeScript: string;
  /** The folder relative paths in job arguments resolve against (the workspace folder). */
  cwd: string;
  /** The extension host's pid: the runtime exits when it is gone. */
  parentPid: number;
  env: NodeJS.ProcessEnv;
}

export interface SpawnCommand {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export function runtimeCommand(l: RuntimeLaunch): SpawnCommand {
  const env: NodeJS.ProcessEnv = { ...l.env, ORT_DISABLE_TELEMETRY: '1' };
  // The extension host's NODE_OPTIONS (inspector flags, loaders) are meant for it, not for us:
  // an inherited --inspect port would even make the runtime fail to start.
  delete env.NODE_OPTIONS;
  if (l.nodePath) {
    delete env.ELECTRON_RUN_AS_NODE;
  } else {
    // In desktop VS Code execPath is the Electron binary; this makes it behave as Node.
    env.ELECTRON_RUN_AS_NODE = '1';
  }
  return {
    command: l.nodePath ?? l.execPath,
    args: [l.runtimeScript, '--parent-pid', String(l.parentPid)],
    cwd: l.cwd,
    env,
  };
}

export function nodeSpawner(launch: () => RuntimeLaunch): Spawner {
  return () => {
    const c = runtimeCommand(launch());
    return spawn(c.command, c.args, { cwd: c.cwd, env: c.env, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
  };
}
