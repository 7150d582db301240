/**
 * Runs LayerLab's chart pages in headless Chromium (playwright-core: Debian's chromium when it is
 * installed, else the one the @sparticuz/chromium dev dependency unpacks), hosted by the real
 * extension code (extension/chartPanel.ts over the `vscode` stub):
 *  - a local HTTP server on 127.0.0.1 serves each panel's HTML exactly as the host set it (so
 *    the page runs under the host's own CSP and nonce) and the extension's files, refusing any
 *    file outside the panel's `localResourceRoots` as VS Code does;
 *  - an init script, run before any page script, provides `acquireVsCodeApi` (postMessage to the
 *    host, getState/setState), the VS Code theme variables and body class, and records CSP
 *    violations;
 *  - host → page messages arrive as window `message` events, page → host messages reach the
 *    host's `onDidReceiveMessage`, as in VS Code.
 * Browser-side code is passed as strings: functions compiled by tsx carry helper calls that do
 * not exist in the page.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { stub, type FakePanel } from './vscodeStub';

export const ROOT = path.resolve(__dirname, '..', '..');
/** Debian's chromium (ENVIRONMENT.md); LAYERLAB_CHROMIUM points elsewhere. */
export const CHROMIUM = process.env.LAYERLAB_CHROMIUM ?? '/usr/bin/chromium';

/** Whether npm installed @sparticuz/chromium (a headless Chromium in a package, no apt needed). */
function hasPackagedChromium(): boolean {
  // Its exports map has only an `import` condition, so require.resolve cannot find it.
  return fs.existsSync(path.join(__dirname, '..', '..', 'node_modules', '@sparticuz', 'chromium', 'package.json'));
}

/** A one-line skip reason when no Chromium is available, else false. */
export const chromiumSkip: string | false =
  fs.existsSync(CHROMIUM) || hasPackagedChromium() ? false : `no Chromium: neither ${CHROMIUM} (apt-get install -y chromium) nor the @sparticuz/chromium dev dependency (npm ci)`;

/**
 * Debian's Chromium with ENVIRONMENT.md's flags, else the packaged one, which unpacks itself into
 * the temp folder on first use and brings the flags it needs to run headless.
 */
async function chromiumLaunchOptions(): Promise<{ executablePath: string; args: string[] }> {
  if (fs.existsSync(CHROMIUM)) return { executablePath: CHROMIUM, args: CHROMIUM_ARGS };
  const packaged = (await import('@sparticuz/chromium')).default;
  // Not its serverless flags: --single-process closes the browser with its last page, and
  // --disable-web-security would hide the very CSP violations these tests look for.
  return { executablePath: await packaged.executablePath(), args: CHROMIUM_ARGS };
}
export const OUTPUT_DIR = path.join(ROOT, 'test-output', 'webview');

/** ENVIRONMENT.md's flags for Chromium on these machines. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Builds the bundles the extension ships (dist/webview among them), as `npm run build` does. */
export function buildBundles(): void {
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}\n${r.stderr}`);
}

export type ThemeName = 'dark' | 'light' | 'high-contrast';

/**
 * The variables VS Code sets on a webview's <html> for its default themes (Dark Modern, Light
 * Modern and Dark High Contrast; charts.* are the workbench's defaults), and the body class it
 * sets. Only what the pages and @vscode-elements read.
 */
const THEME_TABLE: Record<'dark' | 'light', { bodyClass: string; vars: Record<string, string> }> = {
  dark: {
    bodyClass: 'vscode-dark',
    vars: {
      '--vscode-font-family': '"DejaVu Sans", system-ui, sans-serif',
      '--vscode-font-size': '13px',
      '--vscode-editor-font-family': '"DejaVu Sans Mono", monospace',
      '--vscode-editor-foreground': '#cccccc',
      '--vscode-editor-background': '#1f1f1f',
      '--vscode-foreground': '#cccccc',
      '--vscode-descriptionForeground': '#9d9d9d',
      '--vscode-charts-foreground': '#cccccc',
      '--vscode-charts-lines': 'rgba(204, 204, 204, 0.5)',
      '--vscode-charts-red': '#f14c4c',
      '--vscode-charts-blue': '#3794ff',
      '--vscode-charts-yellow': '#cca700',
      '--vscode-charts-orange': '#d18616',
      '--vscode-charts-green': '#89d185',
      '--vscode-charts-purple': '#b180d7',
      '--vscode-panel-border': '#2b2b2b',
      '--vscode-panel-background': '#181818',
      '--vscode-editorGroup-border': '#ffffff17',
      '--vscode-badge-background': '#616161',
      '--vscode-badge-foreground': '#f8f8f8',
      '--vscode-focusBorder': '#0078d4',
      '--vscode-textCodeBlock-background': '#2b2b2b',
      '--vscode-button-background': '#0078d4',
      '--vscode-button-foreground': '#ffffff',
      '--vscode-button-secondaryBackground': '#313131',
      '--vscode-button-secondaryForeground': '#cccccc',
      '--vscode-dropdown-background': '#313131',
      '--vscode-dropdown-foreground': '#cccccc',
      '--vscode-dropdown-border': '#3c3c3c',
      '--vscode-tab-activeForeground': '#ffffff',
      '--vscode-editorWarning-foreground': '#cca700',
      '--vscode-testing-iconPassed': '#73c991',
      '--vscode-testing-iconFailed': '#f14c4c',
      '--vscode-font-weight': 'normal',
      '--vscode-icon-foreground': '#cccccc',
      '--vscode-settings-dropdownBackground': '#313131',
      '--vscode-settings-dropdownBorder': '#3c3c3c',
      '--vscode-settings-dropdownForeground': '#cccccc',
      '--vscode-settings-dropdownListBorder': '#454545',
      '--vscode-settings-headerBorder': '#2b2b2b',
      '--vscode-list-activeSelectionBackground': '#04395e',
      '--vscode-list-activeSelectionForeground': '#ffffff',
      '--vscode-list-hoverBackground': '#2a2d2e',
      '--vscode-list-focusOutline': '#0078d4',
      '--vscode-list-highlightForeground': '#2aaaff',
      '--vscode-list-focusHighlightForeground': '#2aaaff',
      '--vscode-panelTitle-activeForeground': '#cccccc',
      '--vscode-panelTitle-inactiveForeground': '#9d9d9d',
      '--vscode-panelTitle-activeBorder': '#0078d4',
      '--vscode-keybindingTable-rowsBackground': 'rgba(204, 204, 204, 0.04)',
      '--vscode-keybindingTable-headerBackground': 'rgba(204, 204, 204, 0.04)',
      '--vscode-scrollbarSlider-background': 'rgba(121, 121, 121, 0.4)',
      '--vscode-scrollbarSlider-hoverBackground': 'rgba(100, 100, 100, 0.7)',
      '--vscode-scrollbarSlider-activeBackground': 'rgba(191, 191, 191, 0.4)',
      '--vscode-scrollbar-shadow': '#000000',
      '--vscode-sash-hoverBorder': '#0078d4',
      '--vscode-widget-shadow': 'rgba(0, 0, 0, 0.36)',
      '--vscode-button-hoverBackground': '#026ec1',
      '--vscode-button-secondaryHoverBackground': '#3c3c3c',
      '--vscode-button-border': 'rgba(255, 255, 255, 0.07)',
    },
  },
  light: {
    bodyClass: 'vscode-light',
    vars: {
      '--vscode-font-family': '"DejaVu Sans", system-ui, sans-serif',
      '--vscode-font-size': '13px',
      '--vscode-editor-font-family': '"DejaVu Sans Mono", monospace',
      '--vscode-editor-foreground': '#3b3b3b',
      '--vscode-editor-background': '#ffffff',
      '--vscode-foreground': '#3b3b3b',
      '--vscode-descriptionForeground': '#717171',
      '--vscode-charts-foreground': '#3b3b3b',
      '--vscode-charts-lines': 'rgba(59, 59, 59, 0.5)',
      '--vscode-charts-red': '#e51400',
      '--vscode-charts-blue': '#1a85ff',
      '--vscode-charts-yellow': '#bf8803',
      '--vscode-charts-orange': '#d18616',
      '--vscode-charts-green': '#388a34',
      '--vscode-charts-purple': '#652d90',
      '--vscode-panel-border': '#e5e5e5',
      '--vscode-panel-background': '#f8f8f8',
      '--vscode-editorGroup-border': '#e5e5e5',
      '--vscode-badge-background': '#cccccc',
      '--vscode-badge-foreground': '#3b3b3b',
      '--vscode-focusBorder': '#005fb8',
      '--vscode-textCodeBlock-background': '#f2f2f2',
      '--vscode-button-background': '#005fb8',
      '--vscode-button-foreground': '#ffffff',
      '--vscode-button-secondaryBackground': '#e5e5e5',
      '--vscode-button-secondaryForeground': '#3b3b3b',
      '--vscode-dropdown-background': '#ffffff',
      '--vscode-dropdown-foreground': '#3b3b3b',
      '--vscode-dropdown-border': '#cecece',
      '--vscode-tab-activeForeground': '#3b3b3b',
      '--vscode-editorWarning-foreground': '#bf8803',
      '--vscode-testing-iconPassed': '#388a34',
      '--vscode-testing-iconFailed': '#e51400',
      '--vscode-font-weight': 'normal',
      '--vscode-icon-foreground': '#3b3b3b',
      '--vscode-settings-dropdownBackground': '#ffffff',
      '--vscode-settings-dropdownBorder': '#cecece',
      '--vscode-settings-dropdownForeground': '#3b3b3b',
      '--vscode-settings-dropdownListBorder': '#c8c8c8',
      '--vscode-settings-headerBorder': '#e5e5e5',
      '--vscode-list-activeSelectionBackground': '#e8e8e8',
      '--vscode-list-activeSelectionForeground': '#000000',
      '--vscode-list-hoverBackground': '#f2f2f2',
      '--vscode-list-focusOutline': '#005fb8',
      '--vscode-list-highlightForeground': '#0066bf',
      '--vscode-list-focusHighlightForeground': '#0066bf',
      '--vscode-panelTitle-activeForeground': '#3b3b3b',
      '--vscode-panelTitle-inactiveForeground': '#717171',
      '--vscode-panelTitle-activeBorder': '#005fb8',
      '--vscode-keybindingTable-rowsBackground': 'rgba(59, 59, 59, 0.04)',
      '--vscode-keybindingTable-headerBackground': 'rgba(59, 59, 59, 0.04)',
      '--vscode-scrollbarSlider-background': 'rgba(100, 100, 100, 0.4)',
      '--vscode-scrollbarSlider-hoverBackground': 'rgba(100, 100, 100, 0.7)',
      '--vscode-scrollbarSlider-activeBackground': 'rgba(0, 0, 0, 0.6)',
      '--vscode-scrollbar-shadow': '#dddddd',
      '--vscode-sash-hoverBorder': '#005fb8',
      '--vscode-widget-shadow': 'rgba(0, 0, 0, 0.16)',
      '--vscode-button-hoverBackground': '#0258a8',
      '--vscode-button-secondaryHoverBackground': '#cccccc',
      '--vscode-button-border': 'rgba(0, 0, 0, 0.1)',
    },
  },
};

/**
 * The colours LayerLab contributes (package.json `contributes.colors`), as VS Code gives every
 * registered colour to a webview: a variable named after the id (dots as dashes), with the
 * theme kind's default.
 */
export function contributedColorVars(kind: 'dark' | 'light' | 'highContrast'): Record<string, string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { contributes: { colors: { id: string; defaults: Record<string, string> }[] } };
  return Object.fromEntries(pkg.contributes.colors.map((c) => [`--vscode-${c.id.replace(/\./g, '-')}`, c.defaults[kind]!]));
}

for (const [name, kind] of [['dark', 'dark'], ['light', 'light']] as const) Object.assign(THEME_TABLE[name].vars, contributedColorVars(kind));

export const THEMES: Record<ThemeName, { bodyClass: string; vars: Record<string, string> }> = {
  ...THEME_TABLE,
  'high-contrast': {
    bodyClass: 'vscode-high-contrast',
    vars: {
      ...THEME_TABLE.dark.vars,
      ...contributedColorVars('highContrast'),
      '--vscode-editor-foreground': '#ffffff',
      '--vscode-editor-background': '#000000',
      '--vscode-foreground': '#ffffff',
      '--vscode-descriptionForeground': 'rgba(255, 255, 255, 0.7)',
      '--vscode-contrastBorder': '#6fc3df',
      '--vscode-contrastActiveBorder': '#f38518',
      '--vscode-charts-foreground': '#ffffff',
      '--vscode-charts-lines': 'rgba(255, 255, 255, 0.5)',
      '--vscode-charts-red': '#f48771',
      '--vscode-charts-blue': '#3794ff',
      '--vscode-charts-yellow': '#ffd370',
      '--vscode-charts-orange': '#d18616',
      '--vscode-charts-green': '#89d185',
      '--vscode-charts-purple': '#b180d7',
      '--vscode-panel-border': '#6fc3df',
      '--vscode-panel-background': '#000000',
      '--vscode-editorGroup-border': '#6fc3df',
      '--vscode-button-secondaryBackground': '#000000',
      '--vscode-button-secondaryForeground': '#ffffff',
      '--vscode-button-border': '#6fc3df',
      '--vscode-settings-dropdownBackground': '#000000',
      '--vscode-settings-dropdownBorder': '#6fc3df',
      '--vscode-settings-dropdownForeground': '#ffffff',
      '--vscode-textCodeBlock-background': '#000000',
      '--vscode-keybindingTable-rowsBackground': 'rgba(0, 0, 0, 0)',
    },
  },
};

/** Runs in the page before its scripts: the VS Code webview environment, and a CSP monitor. */
const SHIM = String.raw`(function (cfg) {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', function (e) {
    var v = { directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample, source: e.sourceFile, line: e.lineNumber };
    window.__cspViolations.push(v);
    if (window.__layerlabCsp) window.__layerlabCsp(v);
  });
  function applyTheme(theme) {
    var root = document.documentElement;
    for (var k in theme.vars) root.style.setProperty(k, theme.vars[k]);
    document.body.classList.remove('vscode-dark', 'vscode-light', 'vscode-high-contrast', 'vscode-high-contrast-light');
    document.body.classList.add(theme.bodyClass);
  }
  window.__applyTheme = applyTheme;
  // VS Code sets the theme before the page's script runs; so does this, as soon as <body> exists.
  var applied = false;
  function tryApply() {
    if (applied || !document.documentElement || !document.body) return;
    applied = true;
    applyTheme(cfg.theme);
  }
  tryApply();
  if (!applied) {
    var mo = new MutationObserver(function () { tryApply(); if (applied) mo.disconnect(); });
    mo.observe(document, { childList: true, subtree: true });
  }
  var state = cfg.state;
  var acquired = false;
  window.acquireVsCodeApi = function () {
    if (acquired) throw new Error('An instance of the VS Code API has already been acquired');
    acquired = true;
    return Object.freeze({
      postMessage: function (m) { window.__layerlabToHost(JSON.parse(JSON.stringify(m))); },
      getState: function () { return state; },
      setState: function (s) { state = s; window.__layerlabSetState(JSON.parse(JSON.stringify(s))); return s; },
    });
  };
})`;

/** Evaluates browser-side source `fn` (a function expression) with a JSON argument. */
export function inPage<T>(page: Page, fn: string, arg?: unknown): Promise<T> {
  return page.evaluate(`(${fn})(${JSON.stringify(arg ?? null)})`) as Promise<T>;
}

export interface CspViolation {
  directive: string;
  blocked: string;
  sample: string;
  source: string;
  line: number;
}

export interface PostedMessage {
  type: string;
  [k: string]: unknown;
}

export class PageSession {
  readonly posted: PostedMessage[] = [];
  readonly states: unknown[] = [];
  readonly csp: CspViolation[] = [];
  readonly consoleErrors: string[] = [];
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly page: Page,
    readonly panel: FakePanel,
  ) {}

  /** Host → page, in order (each is a `message` event in the page). */
  deliver(m: unknown): Promise<boolean> {
    const next = this.chain.then(() => inPage(this.page, `(m) => { window.dispatchEvent(new MessageEvent('message', { data: m })); return true; }`, m));
    this.chain = next.catch(() => undefined);
    return next.then(
      () => true,
      () => false,
    );
  }

  lastState<T>(): T {
    return this.states[this.states.length - 1] as T;
  }

  async waitFor<T extends PostedMessage>(pred: (m: PostedMessage) => boolean, timeoutMs = 10_000, from = 0): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.posted.slice(from).find(pred);
      if (hit) return hit as T;
      if (Date.now() > end) throw new Error(`no page message matched within ${timeoutMs} ms; got ${this.posted.map((m) => m.type).join(', ')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async setTheme(name: ThemeName): Promise<void> {
    await inPage(this.page, `(t) => window.__applyTheme(t)`, THEMES[name]);
    // The page redraws on the next animation frame after the mutation.
    await this.page.waitForTimeout(150);
  }

  /** CSP violations and console errors so far, for an `assert.deepEqual(…, [])`. */
  problems(): string[] {
    return [...this.csp.map((v) => `CSP ${v.directive}: ${v.blocked} ${v.sample} (${v.source}:${v.line})`), ...this.consoleErrors];
  }

  async close(): Promise<void> {
    this.panel.webview.deliver = null;
    await this.page.close();
  }
}

export class WebviewHarness {
  private panels: FakePanel[] = [];

  private constructor(
    private readonly server: http.Server,
    readonly origin: string,
    readonly browser: Browser,
  ) {}

  static async start(): Promise<WebviewHarness> {
    let harness: WebviewHarness | undefined;
    const server = http.createServer((req, res) => harness!.serve(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const browser = await chromium.launch({ ...(await chromiumLaunchOptions()), headless: true });
    harness = new WebviewHarness(server, origin, browser);
    // Every panel the host creates resolves its resources through this server from the start,
    // as a VS Code webview has its cspSource and asWebviewUri before the host sets its HTML.
    stub.onPanel.event((p) => harness!.adopt(p));
    return harness;
  }

  /** Makes a panel's webview resolve resources through this server, as VS Code's would. */
  adopt(panel: FakePanel): void {
    if (this.panels.includes(panel)) return;
    const id = this.panels.push(panel) - 1;
    panel.webview.cspSource = this.origin;
    panel.webview.mapUri = (u) => `${this.origin}/ext/${id}/${path.relative(ROOT, u.fsPath).split(path.sep).join('/')}`;
  }

  /** Loads the panel's current HTML in a new page and connects it to the host. */
  async open(panel: FakePanel, opts: { theme?: ThemeName; state?: unknown; width?: number; height?: number } = {}): Promise<PageSession> {
    this.adopt(panel);
    const page = await this.browser.newPage({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 } });
    const s = new PageSession(page, panel);
    page.on('console', (m) => {
      if (m.type() === 'error') s.consoleErrors.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => s.consoleErrors.push(`pageerror: ${e.message}`));
    await page.exposeFunction('__layerlabToHost', (m: PostedMessage) => {
      s.posted.push(m);
      panel.webview.receive(m);
    });
    await page.exposeFunction('__layerlabSetState', (st: unknown) => void s.states.push(st));
    await page.exposeFunction('__layerlabCsp', (v: CspViolation) => void s.csp.push(v));
    await page.addInitScript({ content: `${SHIM}(${JSON.stringify({ theme: THEMES[opts.theme ?? 'dark'], state: opts.state ?? undefined })})` });
    panel.webview.deliver = (m) => s.deliver(m);
    await page.goto(`${this.origin}/panel/${this.panels.indexOf(panel)}`);
    return s;
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.origin);
    // The browser asks every http origin for a favicon; a VS Code webview has none to ask for.
    if (url.pathname === '/favicon.ico') return void res.writeHead(204).end();
    const panelPage = /^\/panel\/(\d+)$/.exec(url.pathname);
    if (panelPage) {
      const p = this.panels[Number(panelPage[1])];
      if (!p) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(p.webview.html);
      return;
    }
    const ext = /^\/ext\/(\d+)\/(.+)$/.exec(url.pathname);
    if (ext) {
      const p = this.panels[Number(ext[1])];
      const file = path.resolve(ROOT, decodeURIComponent(ext[2]!));
      const roots = (p?.webview.options.localResourceRoots ?? []).map((r) => r.fsPath);
      // VS Code refuses files outside the webview's localResourceRoots; so does this server, so a
      // page that needs anything else fails here as it would in the editor.
      if (!roots.some((r) => file === r || file.startsWith(r + path.sep))) return void res.writeHead(403).end();
      if (!fs.existsSync(file) || !fs.statSync(file).isFile()) return void res.writeHead(404).end();
      const type = { '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf', '.map': 'application/json', '.svg': 'image/svg+xml' }[path.extname(file)] ?? 'application/octet-stream';
      res.writeHead(200, { 'content-type': type });
      fs.createReadStream(file).pipe(res);
      return;
    }
    res.writeHead(404).end();
  }

  async close(): Promise<void> {
    await this.browser.close();
    await new Promise((r) => this.server.close(r));
  }
}

// ---------------------------------------------------------------------------------------------
// Reading charts back (browser-side sources)

/** Everything drawn by the chart in card `id`, as plain JSON. */
export const READ_CHART = `(id) => {
  const canvas = document.querySelector('[data-chart="' + id + '"] canvas');
  const chart = canvas && window.LayerLabChart.getChart(canvas);
  if (!chart) return null;
  const plugins = chart.config.options.plugins || {};
  return JSON.parse(JSON.stringify({
    type: chart.config.type,
    datasets: chart.data.datasets.map((d, i) => ({ label: d.label, data: d.data, borderDash: d.borderDash || [], borderColor: d.borderColor, pointStyle: d.pointStyle, visible: chart.isDatasetVisible(i) })),
    bands: (plugins.layerlabBands && plugins.layerlabBands.bands) || [],
    matrix: (plugins.layerlabMatrix && plugins.layerlabMatrix.cells) || [],
    xTicks: chart.scales.x.ticks.map((t) => ({ value: t.value, label: t.label })),
    yTicks: chart.scales.y.ticks.map((t) => ({ value: t.value, label: t.label })),
    canvas: { width: canvas.width, height: canvas.height },
  }));
}`;

/** Page coordinates of data point `index` of dataset `dataset` in chart card `id`. */
export const POINT_POSITION = `({ id, dataset, index }) => {
  const canvas = document.querySelector('[data-chart="' + id + '"] canvas');
  canvas.scrollIntoView({ block: 'center' });
  const chart = window.LayerLabChart.getChart(canvas);
  const el = chart.getDatasetMeta(dataset).data[index];
  const r = canvas.getBoundingClientRect();
  return { x: r.left + el.x, y: r.top + el.y };
}`;

/** The tooltip lines Chart.js shows now in chart card `id`. */
export const TOOLTIP_LINES = `(id) => {
  const canvas = document.querySelector('[data-chart="' + id + '"] canvas');
  const t = window.LayerLabChart.getChart(canvas).tooltip;
  if (!t || !t.opacity) return null;
  return { title: t.title, body: t.body.flatMap((b) => [...b.before, ...b.lines, ...b.after]) };
}`;

/**
 * Polls a browser-side predicate (source of a function expression). Not page.waitForFunction:
 * that compiles its predicate with eval inside the page, which the page's CSP rightly blocks.
 */
export async function waitUntil(page: Page, predicate: string, arg?: unknown, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await inPage<boolean>(page, predicate, arg))) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${predicate}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits for the chart in card `id` to exist and be laid out at its box's size: a chart made on a
 * hidden tab has no size until the tab shows and its resize observer has run.
 */
export async function waitForChart(page: Page, id: string, timeoutMs = 10_000): Promise<void> {
  await waitUntil(
    page,
    `(id) => { const c = document.querySelector('[data-chart="' + id + '"] canvas'); const ch = c && window.LayerLabChart && window.LayerLabChart.getChart(c); if (!ch) return false; const box = c.parentElement.getBoundingClientRect(); return box.width > 0 && Math.abs(ch.width - box.width) < 1 && Math.abs(ch.height - box.height) < 1 && ch.chartArea.bottom > ch.chartArea.top; }`,
    id,
    timeoutMs,
  );
}

/** Picks `label` in the <vscode-single-select> with element id `id`, with the mouse. */
export async function choose(page: Page, id: string, label: string): Promise<void> {
  await page.locator(`#${id}`).click();
  // The open dropdown lists the options as [role=option] items in the select's shadow root
  // (Playwright's CSS pierces open shadow roots); pick the one whose text is exactly `label`.
  const option = page.locator(`#${id} [role="option"]`).filter({ hasText: new RegExp(`^\\s*${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`) });
  await option.first().click();
}
