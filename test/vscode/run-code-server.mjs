// LayerLab in a real VS Code: code-server 4.100.3 (VS Code 1.100.3) from npm with the packaged
// linux-x64 VSIX installed, driven by Debian's Chromium through playwright-core.
//
//   npm run test:vscode            (node test/vscode/run-code-server.mjs [--headful])
//
// 1. installs code-server once into $LAYERLAB_CI_CACHE (default ~/.cache/layerlab-ci), following
//    /work/shared/docs/ENVIRONMENT.md: libkrb5-dev and ripgrep from apt, ripgrep's download
//    replaced by Debian's binary through its cache, --unsafe-perm, npm_config_yes=true;
// 2. packages the VSIX (test/vscode/package-vsix.mjs) and installs it with --install-extension;
// 3. starts code-server on 127.0.0.1 with workspace trust disabled and opens a fresh folder;
// 4. runs "LayerLab: Run Demo" from the command palette, waits for it, opens the LayerLab
//    sidebar and checks its views show the demo model and its result; screenshots go to
//    test-output/vscode/;
// 5. runs the mocha suite (test/vscode/suite) inside code-server's extension host through the
//    extensionTestsPath payload, against the installed extension.
// Exits 0 when everything passed, 1 with the reason otherwise; skips (exit 0) only when Chromium
// is not installed.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { format, parseArgs } from 'node:util';
import { buildSuite, REPO, SUITE_INDEX } from './buildSuite.mjs';
import { packageVsix } from './package-vsix.mjs';

const CHROMIUM = '/usr/bin/chromium';
const CODE_SERVER_VERSION = '4.100.3';
const RIPGREP_CACHE = 'vscode-ripgrep-cache-1.15.11';
const RIPGREP_ARCHIVE = 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz';
const OUT = path.join(REPO, 'test-output', 'vscode');

const { values: flags } = parseArgs({ options: { headful: { type: 'boolean', default: false } } });

class HarnessError extends Error {}
const fail = (msg) => {
  throw new HarnessError(msg);
};

const t0 = Date.now();
const timings = {};
async function phase(name, fn) {
  const start = Date.now();
  process.stdout.write(`[vscode-e2e] ${name}…\n`);
  try {
    return await fn();
  } finally {
    timings[name] = (Date.now() - start) / 1000;
    process.stdout.write(`[vscode-e2e] ${name}: ${timings[name].toFixed(1)} s\n`);
  }
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function dpkgInstalled(pkg) {
  return spawnSync('dpkg', ['-s', pkg], { stdio: 'ignore' }).status === 0;
}

/** code-server from npm, once per cache folder; returns its bin script. */
function ensureCodeServer(cacheRoot) {
  const dir = path.join(cacheRoot, 'code-server');
  const pkgFile = path.join(dir, 'node_modules', 'code-server', 'package.json');
  const bin = path.join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  if (fs.existsSync(pkgFile) && fs.existsSync(bin) && JSON.parse(fs.readFileSync(pkgFile, 'utf8')).version === CODE_SERVER_VERSION) return bin;

  const missing = [!dpkgInstalled('libkrb5-dev') && 'libkrb5-dev', !which('rg') && 'ripgrep'].filter(Boolean);
  if (missing.length) fail(`code-server needs ${missing.join(' and ')} to install: run .ci/apt (as root) or apt-get install -y ${missing.join(' ')}`);

  // @vscode/ripgrep downloads from GitHub, which is unreachable: give it Debian's rg through
  // the cache it checks first.
  const rgCache = path.join(os.tmpdir(), RIPGREP_CACHE);
  fs.mkdirSync(rgCache, { recursive: true });
  const rg = which('rg');
  const tar = spawnSync('tar', ['czf', path.join(rgCache, RIPGREP_ARCHIVE), '-C', path.dirname(rg), path.basename(rg)], { encoding: 'utf8' });
  if (tar.status !== 0) fail(`could not seed the ripgrep cache: ${tar.stderr}`);

  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'layerlab-ci-code-server', private: true }) + '\n');
  const log = path.join(OUT, 'code-server-install.log');
  // --unsafe-perm: install scripts run as root here; npm_config_yes: node-pty's build calls npx
  // and the machine's npmrc says yes=false.
  const r = spawnSync('npm', ['install', `code-server@${CODE_SERVER_VERSION}`, '--unsafe-perm', '--foreground-scripts', '--no-audit', '--no-fund'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, npm_config_yes: 'true' },
    maxBuffer: 256 * 1024 * 1024,
  });
  fs.writeFileSync(log, `${r.stdout}\n${r.stderr}`);
  if (r.status !== 0 || !fs.existsSync(bin)) {
    fail(`npm install code-server@${CODE_SERVER_VERSION} failed (exit ${r.status}); last lines of ${log}:\n${`${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-25).join('\n')}`);
  }
  return bin;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitFor(what, cond, ms, intervalMs = 250) {
  const start = Date.now();
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() - start > ms) fail(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

async function main() {
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`skip: ${CHROMIUM} is not installed (apt-get install -y chromium), so the VS Code end-to-end test cannot run`);
    return 0;
  }
  const { chromium } = await import('playwright-core');
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  const cacheRoot = process.env.LAYERLAB_CI_CACHE ?? path.join(os.homedir(), '.cache', 'layerlab-ci');

  const codeServer = await phase('install code-server', () => ensureCodeServer(cacheRoot));
  const vsix = await phase('package VSIX', () => packageVsix({ target: 'linux-x64' }));
  console.log(`[vscode-e2e] VSIX ${path.relative(REPO, vsix.file)}: ${(vsix.bytes / 1e6).toFixed(1)} MB (${vsix.bytes} bytes), ${vsix.entries} entries`);
  await phase('build test suite', () => buildSuite());

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'layerlab-code-server-'));
  const userData = path.join(root, 'user-data');
  const extensions = path.join(root, 'extensions');
  const uiWorkspace = path.join(root, 'workspace-ui');
  const suiteWorkspace = path.join(root, 'workspace-suite');
  for (const d of [userData, extensions, uiWorkspace, suiteWorkspace]) fs.mkdirSync(d, { recursive: true });
  // Keep the editor quiet and predictable: no welcome page, no chat or release notes.
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  fs.writeFileSync(
    path.join(userData, 'User', 'settings.json'),
    JSON.stringify({ 'workbench.startupEditor': 'none', 'workbench.tips.enabled': false, 'update.showReleaseNotes': false, 'chat.commandCenter.enabled': false, 'layerlab.provider': 'cpu' }, null, 2),
  );

  let server;
  let browser;
  /** The page a failure is photographed from. */
  let failurePage;
  const serverLog = fs.createWriteStream(path.join(OUT, 'code-server.log'));
  try {
    await phase('install VSIX', () => {
      const r = spawnSync(process.execPath, [codeServer, '--user-data-dir', userData, '--extensions-dir', extensions, '--install-extension', vsix.file], { encoding: 'utf8' });
      if (r.status !== 0 || !/successfully installed/i.test(r.stdout)) fail(`code-server --install-extension failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
    });
    const installed = fs.readdirSync(extensions).find((d) => d.startsWith('layerlab.layerlab-'));
    if (!installed) fail(`the VSIX did not install into ${extensions}: ${fs.readdirSync(extensions).join(', ')}`);
    const extensionDir = path.join(extensions, installed);

    const port = await freePort();
    const cfg = path.join(root, 'config.yaml');
    fs.writeFileSync(cfg, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
    const base = `http://127.0.0.1:${port}`;
    await phase('start code-server', async () => {
      server = spawn(
        process.execPath,
        [codeServer, '--config', cfg, '--user-data-dir', userData, '--extensions-dir', extensions, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust'],
        { env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      server.stdout.pipe(serverLog);
      server.stderr.pipe(serverLog);
      server.on('exit', (code, signal) => serverLog.write(`\n[code-server exited: ${code ?? signal}]\n`));
      await waitFor(
        `code-server on ${base} (see test-output/vscode/code-server.log)`,
        async () => {
          if (server.exitCode !== null) fail(`code-server exited with ${server.exitCode}; see test-output/vscode/code-server.log`);
          return fetch(`${base}/healthz`).then((r) => r.ok, () => false);
        },
        60_000,
      );
    });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: !flags.headful,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });

    // ---- The user's path: command palette → Run Demo → sidebar views.
    await phase('Run Demo from the command palette', async () => {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      page.on('pageerror', (e) => serverLog.write(`[page error] ${e.message}\n`));
      failurePage = page;
      await page.goto(`${base}/?folder=${encodeURIComponent(uiWorkspace)}`);
      await page.locator('.monaco-workbench .statusbar').waitFor({ timeout: 60_000 });
      await page.screenshot({ path: path.join(OUT, '01-workbench.png') });

      await runFromPalette(page, 'LayerLab: Run Demo');
      const gen = path.join(uiWorkspace, '.layerlab', 'output', 'demo', 'generations.json');
      await waitFor(`the demo result ${gen}`, () => fs.existsSync(gen), 180_000);
      await page.locator('.notifications-toasts', { hasText: 'LayerLab: demo finished' }).waitFor({ timeout: 60_000 });
      await page.screenshot({ path: path.join(OUT, '02-demo-finished.png') });

      await runFromPalette(page, 'View: Show LayerLab');
      const models = paneOf(page, 'Models');
      const runs = paneOf(page, 'Runs');
      await models.locator('.monaco-list-row', { hasText: 'demo' }).first().waitFor({ timeout: 30_000 });
      await runs.locator('.monaco-list-row', { hasText: 'demo generations' }).first().waitFor({ timeout: 30_000 });
      // Expand the model to show its details.
      await models.locator('.monaco-list-row', { hasText: 'demo' }).first().click();
      await models.locator('.monaco-list-row', { hasText: 'd_model' }).first().waitFor({ timeout: 10_000 });
      const rows = {};
      for (const name of ['Models', 'Datasets', 'Hidden-State Cache', 'Runs']) {
        rows[name] = await paneOf(page, name).locator('.monaco-list-row').allInnerTexts().catch(() => []);
      }
      fs.writeFileSync(path.join(OUT, 'tree-views.json'), JSON.stringify(rows, null, 2) + '\n');
      console.log(`[vscode-e2e] tree views: ${JSON.stringify(rows)}`);
      if (!rows.Models.some((r) => r.includes('demo'))) fail(`the Models view does not show the demo model: ${JSON.stringify(rows.Models)}`);
      const status = await page.locator('.statusbar-item', { hasText: 'LayerLab' }).first().innerText();
      console.log(`[vscode-e2e] status bar: ${status.replace(/\s+/g, ' ')}`);
      await page.screenshot({ path: path.join(OUT, '03-sidebar.png') });
      await page.close();
    });

    // ---- The mocha suite inside code-server's extension host, against the installed extension.
    await phase('mocha suite in code-server', async () => {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      failurePage = page;
      const lines = [];
      let exitCode;
      // The workbench forwards the extension host's console as (level, [format, ...args]).
      await page.exposeFunction('codeAutomationLog', (level, args) => {
        const text = Array.isArray(args) ? format(...args) : String(args);
        lines.push(level === 'error' ? `[error] ${text}` : text);
        if (!/^(Resolving|Resolved|Creating a socket|Updating additional|\[Service Worker\]|ChatSessionStore)/.test(text)) process.stdout.write(`[suite] ${text}\n`);
      });
      await page.exposeFunction('codeAutomationExit', (code) => {
        exitCode = code;
      });
      const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
      const payload = [
        ['extensionDevelopmentPath', remote(extensionDir)],
        ['extensionTestsPath', remote(SUITE_INDEX)],
      ];
      await page.goto(`${base}/?folder=${encodeURIComponent(suiteWorkspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
      await waitFor('the suite to finish (codeAutomationExit)', () => exitCode !== undefined, 300_000, 500);
      fs.writeFileSync(path.join(OUT, 'suite.log'), lines.join('\n') + '\n');
      await page.screenshot({ path: path.join(OUT, '04-suite.png') });
      await page.close();
      if (exitCode !== 0) fail(`the VS Code test suite failed (exit ${exitCode}); its output is in test-output/vscode/suite.log`);
    });
  } catch (e) {
    await failurePage?.screenshot({ path: path.join(OUT, 'failure.png') }).catch(() => {});
    throw e;
  } finally {
    await browser?.close().catch(() => {});
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      if (server.exitCode === null) server.kill('SIGKILL');
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
  const summary = { vsix: { file: path.relative(REPO, vsix.file), bytes: vsix.bytes }, timings, totalSeconds: (Date.now() - t0) / 1000 };
  fs.writeFileSync(path.join(OUT, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(`[vscode-e2e] passed in ${summary.totalSeconds.toFixed(0)} s; screenshots in test-output/vscode/`);
  return 0;
}

/** The sidebar pane whose header says `title`. */
function paneOf(page, title) {
  return page.locator('.pane', { has: page.locator('.pane-header h3.title', { hasText: new RegExp(`^${title}$`, 'i') }) });
}

/**
 * Runs a command from the palette. Right after the workbench appears, the extension host may
 * still be registering contributions, so a command missing from the list is retried with a
 * fresh palette for up to a minute.
 */
async function runFromPalette(page, command) {
  const input = page.locator('.quick-input-widget input');
  const item = page.locator('.quick-input-widget .monaco-list-row', { hasText: command }).first();
  const deadline = Date.now() + 60_000;
  for (;;) {
    await page.keyboard.press('F1');
    await input.waitFor({ timeout: 15_000 });
    await input.fill(`>${command}`);
    try {
      await item.waitFor({ timeout: 3_000 });
      await item.click();
      return;
    } catch (e) {
      await page.keyboard.press('Escape');
      if (Date.now() > deadline) fail(`"${command}" is not in the command palette after 60 s`);
    }
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`[vscode-e2e] FAILED: ${e instanceof HarnessError ? e.message : (e?.stack ?? e)}`);
    console.error('[vscode-e2e] screenshots and logs so far are in test-output/vscode/');
    process.exit(1);
  },
);
