/**
 * Entry of LayerLab's chart pages (bundled to dist/webview/main.js). The host's HTML names the
 * page in <body data-page>; the page restores its UI from getState(), announces `ready`, and
 * draws when the host posts the files.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import '@vscode-elements/elements/dist/vscode-table/index.js';
import '@vscode-elements/elements/dist/vscode-table-body/index.js';
import '@vscode-elements/elements/dist/vscode-table-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-header/index.js';
import '@vscode-elements/elements/dist/vscode-table-header-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-row/index.js';
import type { ChartPageKind, ComparePageState, DirectionsPageState, HostToWebview, LensPageState, ProjectionPageState, RunPageState } from '../runtime/protocol/webview';
import { applyThemeDefaults } from './charts/setup';
import { DirectionsPage } from './pages/directionsPage';
import { ComparePage, LensPage, ProjectionPage } from './pages/probePages';
import { RunPage } from './pages/runPage';
import { onThemeChange, readTheme } from './theme';
import { h } from './ui/dom';
import { HostChannel } from './vscodeApi';

const kind = (document.body.dataset.page ?? 'run') as ChartPageKind;
const root = document.getElementById('app')!;
let page: RunPage | DirectionsPage | LensPage | ProjectionPage | ComparePage | null = null;

function showError(text: string): void {
  const existing = document.getElementById('load-error');
  const el = existing ?? h('div', { id: 'load-error', class: 'error', role: 'alert' });
  el.textContent = text;
  if (!existing) document.body.prepend(el);
}

const channel = new HostChannel((m: HostToWebview) => {
  try {
    document.getElementById('load-error')?.remove();
    switch (m.type) {
      case 'showRun':
        if (!(page instanceof RunPage)) page = new RunPage(root, channel, channel.state<RunPageState>());
        page.show(m.run, m.compare);
        break;
      case 'runChanged':
        if (page instanceof RunPage) page.runChanged(m.role, m.run);
        break;
      case 'showDirections':
        if (!(page instanceof DirectionsPage)) page = new DirectionsPage(root, channel, channel.state<DirectionsPageState>());
        page.show(m.directions);
        break;
      case 'showLens':
        if (!(page instanceof LensPage)) page = new LensPage(root, channel, channel.state<LensPageState>());
        page.show(m);
        break;
      case 'showProjection':
        if (!(page instanceof ProjectionPage)) page = new ProjectionPage(root, channel, channel.state<ProjectionPageState>());
        page.show(m);
        break;
      case 'showCompare':
        if (!(page instanceof ComparePage)) page = new ComparePage(root, channel, channel.state<ComparePageState>());
        page.show(m);
        break;
      case 'loadFailed':
        showError(`Cannot show ${m.path}: ${m.message}`);
        break;
      case 'saved':
        break;
    }
  } catch (e) {
    // A file the page cannot draw must say so in the panel and the log, not leave it blank.
    showError(`LayerLab could not draw this file: ${(e as Error).message}`);
    channel.post({ type: 'log', level: 'error', message: `${kind} page: ${(e as Error).stack ?? e}` });
  }
});

window.addEventListener('error', (e) => channel.post({ type: 'log', level: 'error', message: `${kind} page: ${e.message} (${e.filename}:${e.lineno})` }));
window.addEventListener('unhandledrejection', (e) => channel.post({ type: 'log', level: 'error', message: `${kind} page: ${String(e.reason?.stack ?? e.reason)}` }));

applyThemeDefaults(readTheme());
onThemeChange(() => {
  applyThemeDefaults(readTheme());
  page?.render();
});

channel.post({ type: 'ready', page: kind });
