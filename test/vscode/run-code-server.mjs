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
// 4. runs "LayerLab: Run Demo" from the command palette (the whole pipeline on the demo model:
//    cache → directions → sweep), checks the sweep's chart panel opens and draws its accuracy
//    chart, that the LayerLab sidebar shows the demo model, dataset, cache (with its hook points)
//    and run; reloads the window (Developer: Reload Window) and checks the panel serializer
//    restores the chart; closes it and opens it again with "LayerLab: Open Run Chart", then
//    opens the cache's "LayerLab: Chart Direction Quality"; screenshots go to test-output/vscode/;
// 5. drives the job forms as a researcher would, in the dark and the light theme: highlights a
//    dataset, opens "Save Hidden States" from the palette (the form states the highlighted dataset
//    and asks), sets --data_name under "More options…" and the hook points to "pre", runs it and
//    checks the cache holds exactly the blocks' inputs; opens "Evaluate Accuracy with
//    Intervention", adds the baseline and log-likelihood scoring, runs it and checks the run file;
//    runs it again scored by generation (the form remembers the rest) and checks the Runs view
//    tells the two apart; opens the walkthrough and presses a step's button; kills the runtime and
//    checks the message says it restarts and what was lost (screenshots 10-… to 19-…);
// 6. runs the mocha suite (test/vscode/suite) inside code-server's extension host through the
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

    // ---- The user's path: command palette → Run Demo → chart → sidebar → reload → Open Run Chart.
    await phase('Run Demo from the command palette', async () => {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      page.on('pageerror', (e) => serverLog.write(`[page error] ${e.message}\n`));
      failurePage = page;
      await page.goto(`${base}/?folder=${encodeURIComponent(uiWorkspace)}`);
      await page.locator('.monaco-workbench .statusbar').waitFor({ timeout: 60_000 });
      await page.screenshot({ path: path.join(OUT, '01-workbench.png') });

      await runFromPalette(page, 'LayerLab: Run Demo');
      const runsDir = path.join(uiWorkspace, '.layerlab', 'output', 'runs', 'demo');
      const runFile = await waitFor(
        `the demo's sweep run file in ${runsDir}`,
        () => {
          const f = fs.existsSync(runsDir) && fs.readdirSync(runsDir).find((n) => /\.sweep\.[0-9a-f]+\.json$/.test(n));
          if (!f) return undefined;
          try {
            return JSON.parse(fs.readFileSync(path.join(runsDir, f), 'utf8')).complete === true ? f : undefined;
          } catch {
            return undefined; // being replaced
          }
        },
        120_000,
      );
      await page.locator('.notifications-toasts', { hasText: 'LayerLab: demo finished' }).waitFor({ timeout: 60_000 });
      const toast = await page.locator('.notifications-toasts').innerText();
      if (!/Largest effect: .* outside the interval/.test(toast)) fail(`the demo's message does not say what it found: ${toast}`);
      await page.screenshot({ path: path.join(OUT, '02-demo-finished.png') });

      // The chart panel: a tab titled after the run, its page drawing the accuracy chart.
      await page.locator('.tabs-container .tab', { hasText: `Run: ${runFile}` }).waitFor({ timeout: 30_000 });
      const drawn = await chartDrawn(page, 'first open');
      console.log(`[vscode-e2e] run chart: ${JSON.stringify(drawn)}`);
      await page.screenshot({ path: path.join(OUT, '03-run-chart.png') });

      // The sidebar: every view shows what the demo wrote.
      await runFromPalette(page, 'View: Show LayerLab');
      const rowOf = (pane, text) => paneOf(page, pane).locator('.monaco-list-row', { hasText: text }).first();
      await rowOf('Models', 'demo').waitFor({ timeout: 30_000 });
      await rowOf('Datasets', 'demo-reason-mem.json').waitFor({ timeout: 30_000 });
      await rowOf('Runs', 'sweep · demo-reason-mem').waitFor({ timeout: 30_000 });
      // The cache view details come from the runtime (running now): expand the cache entry.
      await rowOf('Hidden-State Cache', 'complete').waitFor({ timeout: 30_000 });
      await rowOf('Hidden-State Cache', 'demo-reason-mem').click();
      await rowOf('Hidden-State Cache', 'blocks.1.hook_resid_post').waitFor({ timeout: 10_000 });
      await rowOf('Models', 'demo').click();
      await rowOf('Models', 'd_model').waitFor({ timeout: 10_000 });
      const rows = {};
      for (const name of ['Models', 'Datasets', 'Hidden-State Cache', 'Runs']) {
        rows[name] = await paneOf(page, name).locator('.monaco-list-row').allInnerTexts().catch(() => []);
      }
      fs.writeFileSync(path.join(OUT, 'tree-views.json'), JSON.stringify(rows, null, 2) + '\n');
      console.log(`[vscode-e2e] tree views: ${JSON.stringify(rows)}`);
      const hooks = rows['Hidden-State Cache'].filter((r) => /^blocks\.\d+\.hook_resid_(pre|post)/.test(r));
      if (hooks.length !== 4) fail(`the Hidden-State Cache view shows ${hooks.length} hook points, not 4: ${JSON.stringify(rows['Hidden-State Cache'])}`);
      const status = await page.locator('.statusbar-item', { hasText: 'LayerLab' }).first().innerText();
      console.log(`[vscode-e2e] status bar: ${status.replace(/\s+/g, ' ')}`);
      await page.screenshot({ path: path.join(OUT, '04-sidebar.png') });

      // Reload: the chart comes back through the panel serializer (activation on
      // onWebviewPanel:layerlab.runChart, the page state holding the run's path).
      await runFromPalette(page, 'Developer: Reload Window');
      await page.locator('.monaco-workbench .statusbar').waitFor({ timeout: 60_000 });
      await page.locator('.tabs-container .tab', { hasText: `Run: ${runFile}` }).waitFor({ timeout: 30_000 });
      const restored = await chartDrawn(page, 'after the reload');
      if (restored.datasets !== drawn.datasets) fail(`the restored chart draws ${restored.datasets} series, the first ${drawn.datasets}`);
      await page.screenshot({ path: path.join(OUT, '05-run-chart-restored.png') });

      // Close it, and open it again from the palette.
      await runFromPalette(page, 'View: Close All Editors');
      await page.locator('.tabs-container .tab', { hasText: `Run: ${runFile}` }).waitFor({ state: 'detached', timeout: 10_000 });
      await runFromPalette(page, 'LayerLab: Open Run Chart');
      const pick = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'sweep · demo-reason-mem' }).first();
      await pick.waitFor({ timeout: 15_000 });
      await pick.click();
      await page.locator('.tabs-container .tab', { hasText: `Run: ${runFile}` }).waitFor({ timeout: 30_000 });
      await chartDrawn(page, 'Open Run Chart');
      await page.screenshot({ path: path.join(OUT, '06-open-run-chart.png') });

      // The cache's direction quality (AUC per layer), from the palette: one cache, no question.
      await runFromPalette(page, 'View: Close All Editors');
      await runFromPalette(page, 'LayerLab: Chart Direction Quality');
      await page.locator('.tabs-container .tab', { hasText: 'Directions: demo-reason-mem.directions.json' }).waitFor({ timeout: 30_000 });
      const auc = await chartDrawn(page, 'Chart Direction Quality', 'direction-auc');
      console.log(`[vscode-e2e] direction chart: ${JSON.stringify(auc)}`);
      await page.screenshot({ path: path.join(OUT, '07-direction-chart.png') });
      await page.close();
    });

    // ---- The job forms as a researcher uses them, in the dark theme and then the light one.
    await phase('job forms, walkthrough and crash message from the palette', () => paletteFlows(browser, base, uiWorkspace, extensionDir, (p) => (failurePage = p)));

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

/**
 * Waits until the chart page inside the active webview has drawn the chart `chartId` (a
 * chart.js instance on its canvas, with series), and returns what it drew. VS Code shows a
 * webview in an iframe holding another (#active-frame) with the page.
 */
async function chartDrawn(page, when, chartId = 'accuracy-reasoning') {
  const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  const canvas = frame.locator(`[data-chart="${chartId}"] canvas`);
  try {
    await canvas.waitFor({ timeout: 30_000 });
  } catch {
    fail(`${when}: the ${chartId} canvas did not appear in the webview`);
  }
  const start = Date.now();
  for (;;) {
    const drawn = await canvas.evaluate((c) => {
      const chart = window.LayerLabChart?.getChart(c);
      return chart ? { datasets: chart.data.datasets.length, points: chart.data.datasets.reduce((a, d) => a + d.data.length, 0), width: c.width, height: c.height } : null;
    });
    if (drawn && drawn.datasets > 0 && drawn.points > 0 && drawn.width > 0) return drawn;
    if (Date.now() - start > 15_000) fail(`${when}: the ${chartId} canvas has no chart with data: ${JSON.stringify(drawn)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
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
    // A quick input left open, or focus inside an editor page that swallowed F1 (seen after the
    // walkthrough on a loaded machine), must not make the palette unreachable: retry.
    if (await input.isVisible()) await page.keyboard.press('Escape');
    await page.keyboard.press('F1');
    try {
      await input.waitFor({ state: 'visible', timeout: 5_000 });
    } catch {
      if (Date.now() > deadline) fail(`the command palette did not open for "${command}" within 60 s`);
      await page.locator('.monaco-workbench .part.statusbar').click({ position: { x: 2, y: 2 } }).catch(() => {});
      continue;
    }
    try {
      // The palette can close again between appearing and being typed into (focus taken by a
      // walkthrough page still loading): a short fill timeout turns that into a retry.
      await input.fill(`>${command}`, { timeout: 5_000 });
      await item.waitFor({ timeout: 3_000 });
      await item.click();
      return;
    } catch (e) {
      if (await input.isVisible()) await page.keyboard.press('Escape');
      if (Date.now() > deadline) fail(`"${command}" is not in the command palette after 60 s`);
    }
  }
}


/** Names of the tensors in a safetensors file (its header only). */
function safetensorsNames(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    fs.readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const buf = Buffer.alloc(n);
    fs.readSync(fd, buf, 0, n, 8);
    return Object.keys(JSON.parse(buf.toString('utf8'))).filter((k) => k !== '__metadata__');
  } finally {
    fs.closeSync(fd);
  }
}

/** Waits for a quick pick titled `title` (a job form's or a picker's), then returns its rows' texts. */
async function quickPickTitled(page, title) {
  const widget = page.locator('.quick-input-widget');
  await widget.locator('.quick-input-title', { hasText: title }).waitFor({ timeout: 30_000 });
  await widget.locator('.monaco-list-row').first().waitFor({ timeout: 15_000 });
  return widget.locator('.monaco-list-row').allInnerTexts();
}

/** Types `filter` into the open quick pick and picks the first row containing `row`. */
async function pickRow(page, filter, row = filter) {
  const input = page.locator('.quick-input-widget input');
  await input.fill(filter);
  const item = page.locator('.quick-input-widget .monaco-list-row', { hasText: row }).first();
  await item.waitFor({ timeout: 15_000 });
  await item.click();
}

/** The rows of the open quick pick that match `filter`, as a user typing it sees them. */
async function filteredRows(page, filter) {
  await page.locator('.quick-input-widget input').fill(filter);
  await page.waitForTimeout(300);
  return page.locator('.quick-input-widget .monaco-list-row').allInnerTexts();
}

/** Types `value` into the open input box and accepts it. */
async function typeInput(page, value) {
  const input = page.locator('.quick-input-widget input');
  await page.locator('.quick-input-widget .quick-input-message').waitFor({ timeout: 15_000 });
  await input.fill(value);
  await input.press('Enter');
}

async function setTheme(page, name) {
  await runFromPalette(page, 'Preferences: Color Theme');
  await pickRow(page, name);
  await page.waitForTimeout(500);
}

/**
 * The researcher's path through the job forms (README "In VS Code"), on the workspace the demo
 * filled: every form is driven through the quick input as a user types, and every claim is
 * checked on what the job wrote.
 */
async function paletteFlows(browser, base, ws, extensionDir, setFailurePage) {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  setFailurePage(page);
  await page.goto(`${base}/?folder=${encodeURIComponent(ws)}`);
  await page.locator('.monaco-workbench .statusbar').waitFor({ timeout: 60_000 });
  await runFromPalette(page, 'View: Show LayerLab');
  const rowOf = (pane, text) => paneOf(page, pane).locator('.monaco-list-row', { hasText: text }).first();
  const cacheDir = path.join(ws, '.layerlab', 'output', 'hidden_states', 'demo');
  const runsDir = path.join(ws, '.layerlab', 'output', 'runs', 'demo');

  // 1. A highlighted dataset pre-fills Save Hidden States' form; the form asks before running.
  await rowOf('Datasets', 'demo-reason-mem.json').click();
  await runFromPalette(page, 'LayerLab: Save Hidden States');
  let rows = await quickPickTitled(page, 'LayerLab: Save Hidden States');
  const datasetRow = rows.find((r) => /^\s*Dataset/.test(r)) ?? '';
  if (!/demo-reason-mem\.json.*highlighted in the view/s.test(datasetRow)) fail(`the form does not state the highlighted dataset: ${JSON.stringify(rows)}`);
  await page.screenshot({ path: path.join(OUT, '10-form-save-hidden-states-dark.png') });
  // --data_name under More options (so the demo's cache stays as it is), then the hook points.
  await pickRow(page, 'More options');
  await quickPickTitled(page, 'LayerLab: more options');
  await pickRow(page, '--data_name');
  await typeInput(page, 'demo-pre');
  await quickPickTitled(page, 'LayerLab: Save Hidden States');
  await pickRow(page, '--hooks');
  await quickPickTitled(page, '--hooks');
  await page.screenshot({ path: path.join(OUT, '11-form-hooks-dark.png') });
  await pickRow(page, 'pre', 'every block’s input');
  rows = await quickPickTitled(page, 'LayerLab: Save Hidden States');
  if (!rows.some((r) => /--hooks.*pre/s.test(r))) fail(`the form does not show the hook choice: ${JSON.stringify(rows)}`);
  await page.screenshot({ path: path.join(OUT, '12-form-save-hidden-states-set-dark.png') });
  await pickRow(page, 'Run Save Hidden States');
  const cache = path.join(cacheDir, 'demo-pre.safetensors');
  await waitFor(`the cache ${cache}`, () => fs.existsSync(cache), 120_000);
  const names = safetensorsNames(cache).sort();
  // The demo model (the organism) has 4 blocks.
  if (JSON.stringify(names) !== JSON.stringify([0, 1, 2, 3].map((b) => `blocks.${b}.hook_resid_pre`))) fail(`the cache holds ${names}, not the blocks' inputs chosen in the form`);
  await page.locator('.notifications-toasts', { hasText: 'hidden states of demo-reason-mem.json saved' }).waitFor({ timeout: 60_000 });
  await page.keyboard.press('Escape');

  // 2. Evaluate with the baseline and log-likelihood scoring; the status bar during the job.
  const before = fs.existsSync(runsDir) ? fs.readdirSync(runsDir) : [];
  await runFromPalette(page, 'LayerLab: Evaluate Accuracy with Intervention');
  await quickPickTitled(page, 'LayerLab: Evaluate Accuracy with Intervention');
  await pickRow(page, '--with_baseline');
  await quickPickTitled(page, 'LayerLab: Evaluate Accuracy with Intervention');
  await pickRow(page, '--scoring');
  await quickPickTitled(page, '--scoring');
  await pickRow(page, 'loglik');
  rows = await quickPickTitled(page, 'LayerLab: Evaluate Accuracy with Intervention');
  // The Run line states the CLI twin of what will run (the list shows only its first rows).
  for (const want of [/^\s*Run Evaluate.*--scoring loglik.*--with_baseline/s, /Hidden-state cache.*demo-reason-mem · demo/s]) {
    if (!rows.some((r) => want.test(r))) fail(`the Evaluate form lacks ${want}: ${JSON.stringify(rows)}`);
  }
  await page.screenshot({ path: path.join(OUT, '13-form-evaluate-dark.png') });
  await pickRow(page, 'Run Evaluate');
  const newRun = () => (fs.existsSync(runsDir) ? fs.readdirSync(runsDir).filter((f) => /\.evaluate\./.test(f) && !before.includes(f)) : []);
  const statusItem = page.locator('.statusbar-item', { hasText: 'LayerLab' }).first();
  const busy = await waitFor('the status bar during the job', async () => {
    const t = (await statusItem.innerText().catch(() => '')).replace(/\s+/g, ' ');
    return /%|opening/.test(t) ? t : newRun().length ? 'finished before it was seen' : undefined;
  }, 120_000, 100);
  console.log(`[vscode-e2e] status bar during Evaluate: ${busy}`);
  await page.screenshot({ path: path.join(OUT, '14-evaluate-running-dark.png') });
  const evalFile = await waitFor('the evaluate run file', () => {
    const f = newRun()[0];
    try {
      return f && JSON.parse(fs.readFileSync(path.join(runsDir, f), 'utf8')).complete ? path.join(runsDir, f) : undefined;
    } catch {
      return undefined;
    }
  }, 180_000);
  const evaluated = JSON.parse(fs.readFileSync(evalFile, 'utf8'));
  if (evaluated.spec.scoring !== 'loglik') fail(`the run was scored by ${evaluated.spec.scoring}, not loglik`);
  if (!evaluated.results.some((r) => r.intervention.kind === 'none')) fail('the run has no baseline');
  await page.locator('.notifications-toasts', { hasText: 'evaluation finished' }).waitFor({ timeout: 60_000 });

  // 3. Again, scored by generation: the form remembers the baseline; the Runs view tells the two apart.
  await runFromPalette(page, 'LayerLab: Evaluate Accuracy with Intervention');
  await quickPickTitled(page, 'LayerLab: Evaluate Accuracy with Intervention');
  rows = await filteredRows(page, '--scoring');
  if (!rows.some((r) => /--scoring.*loglik · last used/s.test(r))) fail(`the form does not remember the last values: ${JSON.stringify(rows)}`);
  await pickRow(page, '--scoring');
  await quickPickTitled(page, '--scoring');
  await pickRow(page, 'generate');
  await quickPickTitled(page, 'LayerLab: Evaluate Accuracy with Intervention');
  await pickRow(page, '--max_new_tokens');
  await typeInput(page, '4');
  await quickPickTitled(page, 'LayerLab: Evaluate Accuracy with Intervention');
  await pickRow(page, 'Run Evaluate');
  await waitFor('a second evaluate run, complete', () => {
    const files = newRun();
    try {
      return files.length >= 2 && files.every((f) => JSON.parse(fs.readFileSync(path.join(runsDir, f), 'utf8')).complete);
    } catch {
      return false; // being replaced
    }
  }, 180_000);
  await rowOf('Runs', 'generate ≤4 tokens').waitFor({ timeout: 30_000 });
  const runRows = (await paneOf(page, 'Runs').locator('.monaco-list-row').allInnerTexts()).map((r) => r.split('\n')[0]);
  const evalRows = runRows.filter((r) => r.startsWith('evaluate · demo-reason-mem · demo'));
  if (evalRows.length !== 2 || evalRows[0] === evalRows[1]) fail(`the Runs view does not tell the two evaluations apart: ${JSON.stringify(runRows)}`);
  console.log(`[vscode-e2e] Runs view: ${JSON.stringify(runRows)}`);
  await page.screenshot({ path: path.join(OUT, '15-runs-told-apart-dark.png') });

  // 4. The walkthrough: its steps, and a step's button running its command.
  await runFromPalette(page, 'Welcome: Open Walkthrough');
  await pickRow(page, 'Get started with LayerLab');
  await page.locator('.getting-started-step', { hasText: 'Open a real model' }).first().waitFor({ timeout: 30_000 });
  await page.screenshot({ path: path.join(OUT, '16-walkthrough-dark.png') });
  await page.locator('.getting-started-step', { hasText: 'Open a real model' }).first().click();
  await page.locator('.gettingStartedContainer .monaco-button', { hasText: 'Select Model' }).first().click();
  rows = await quickPickTitled(page, 'LayerLab: model');
  if (!rows.some((r) => /^demo/.test(r.trim()))) fail(`the walkthrough's Select Model button did not open the model picker: ${JSON.stringify(rows)}`);
  await page.keyboard.press('Escape');

  // 5. A runtime crash says what happened and what was lost.
  // Only this code-server's runtime: its script lies in this run's own extensions folder.
  const pids = spawnSync('pgrep', ['-f', path.join(extensionDir, 'dist', 'runtime.js')], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  if (pids.length === 0) fail('no runtime process to stop');
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  const toast = page.locator('.notifications-toasts', { hasText: 'stopped unexpectedly' }).first();
  await toast.waitFor({ timeout: 30_000 });
  const crashText = await toast.innerText();
  if (!/killed by SIGKILL/.test(crashText) || !/restarting it/.test(crashText) || !/was unloaded/.test(crashText)) fail(`the crash message does not say what happened and what was lost: ${crashText}`);
  await page.waitForTimeout(800); // the toast slides in
  await page.screenshot({ path: path.join(OUT, '17-crash-message-dark.png') });

  // 6. The same forms and walkthrough in the light theme.
  await setTheme(page, 'Light Modern');
  await runFromPalette(page, 'View: Close All Editors');
  await runFromPalette(page, 'LayerLab: Evaluate Accuracy with Intervention');
  await quickPickTitled(page, 'LayerLab: Evaluate Accuracy with Intervention');
  await page.screenshot({ path: path.join(OUT, '13-form-evaluate-light.png') });
  await pickRow(page, 'More options');
  await quickPickTitled(page, 'LayerLab: more options');
  await page.screenshot({ path: path.join(OUT, '18-form-more-options-light.png') });
  await page.keyboard.press('Escape');
  await page.keyboard.press('Escape');
  await runFromPalette(page, 'LayerLab: Save Hidden States');
  await quickPickTitled(page, 'LayerLab: Save Hidden States');
  await page.screenshot({ path: path.join(OUT, '10-form-save-hidden-states-light.png') });
  await page.keyboard.press('Escape');
  await runFromPalette(page, 'Welcome: Open Walkthrough');
  await pickRow(page, 'Get started with LayerLab');
  await page.locator('.getting-started-step', { hasText: 'Open a real model' }).first().waitFor({ timeout: 30_000 });
  await page.screenshot({ path: path.join(OUT, '16-walkthrough-light.png') });
  await runFromPalette(page, 'View: Close All Editors');
  await page.screenshot({ path: path.join(OUT, '15-runs-told-apart-light.png') });
  await setTheme(page, 'Dark Modern');
  await page.close();
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`[vscode-e2e] FAILED: ${e instanceof HarnessError ? e.message : (e?.stack ?? e)}`);
    console.error('[vscode-e2e] screenshots and logs so far are in test-output/vscode/');
    process.exit(1);
  },
);
