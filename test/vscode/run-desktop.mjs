// The same mocha suite as the code-server harness, in desktop VS Code through
// @vscode/test-electron, for machines that can download VS Code (this CI machine cannot reach
// update.code.visualstudio.com; use `npm run test:vscode` there).
//
//   npm run test:vscode:desktop                  (node test/vscode/run-desktop.mjs)
//   VSCODE_VERSION=stable npm run test:vscode:desktop
//
// It builds the extension (npm run build) and the suite, opens a fresh temporary folder with
// the development extension only, and exits non-zero when a test fails. On a Linux machine
// without a display, run it under `xvfb-run -a`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { buildSuite, REPO } from './buildSuite.mjs';

async function main() {
  const build = spawnSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')], { cwd: REPO, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
  const suite = await buildSuite();
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'layerlab-desktop-'));
  try {
    // 1.100.3 is the VS Code that code-server 4.100.3 embeds: both runs test the same editor.
    await runTests({
      version: process.env.VSCODE_VERSION ?? '1.100.3',
      extensionDevelopmentPath: REPO,
      extensionTestsPath: suite,
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes'],
      extensionTestsEnv: { ORT_DISABLE_TELEMETRY: '1' },
    });
  } finally {
    fs.rmSync(workspace, { recursive: true, force: true });
  }
}

main().then(
  () => console.log('[vscode-desktop] passed'),
  (e) => {
    const msg = String(e?.message ?? e);
    if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|getaddrinfo/.test(msg)) {
      console.error(`[vscode-desktop] FAILED: could not download VS Code (${msg.split('\n')[0]}). This needs a machine that reaches update.code.visualstudio.com; here, run npm run test:vscode (code-server) instead.`);
    } else {
      console.error(`[vscode-desktop] FAILED: ${msg}`);
    }
    process.exit(1);
  },
);
