/**
 * Entry of the reasoning-behaviour pages (bundled to dist/webview/thinking.js; the host is
 * extension/thinking/panels.ts). The page kind is in <body data-page="thinking-…">; the page
 * announces `ready` and draws the file the host posts, again on every theme change.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import type { HostToThinking, ShowThinkingMessage, ThinkingPage, ThinkingPageState } from '../../runtime/protocol/thinkingWebview';
import type { ChartPageState, HostToWebview, WebviewToHost } from '../../runtime/protocol/webview';
import { applyThemeDefaults } from '../charts/setup';
import { onThemeChange, readTheme } from '../theme';
import { h } from '../ui/dom';
import { HostChannel } from '../vscodeApi';
import { renderEffects, renderSteering, renderVectors, type PageEnv } from './pages';

const page = (document.body.dataset.page ?? 'thinking-effects').replace(/^thinking-/, '') as ThinkingPage;
const root = document.getElementById('app')!;
let last: ShowThinkingMessage | null = null;

function showError(text: string): void {
  const el = document.getElementById('load-error') ?? h('div', { id: 'load-error', class: 'error', role: 'alert' });
  el.textContent = text;
  if (!el.parentElement) document.body.prepend(el);
}

// The chart pages' channel carries these pages' messages too (same handshake, same save pairing).
const channel: HostChannel = new HostChannel((m) => onMessage(m as unknown as HostToThinking));
const post = (m: unknown) => channel.post(m as WebviewToHost);

function draw(m: ShowThinkingMessage): void {
  const saved = channel.state<ChartPageState>() as unknown as ThinkingPageState | undefined;
  const state: ThinkingPageState = saved && saved.path === m.path ? saved : { page, path: m.path, ui: { tables: [] } };
  const env: PageEnv = {
    root,
    channel,
    theme: readTheme(),
    name: m.name,
    state,
    save: (s) => {
      env.state = s;
      channel.setState(s as unknown as ChartPageState);
    },
  };
  env.save(state);
  if (m.data.page === 'effects') renderEffects(env, m.data.file);
  else if (m.data.page === 'vectors') renderVectors(env, m.data.file);
  else renderSteering(env, m.data.file);
}

function onMessage(m: HostToThinking | HostToWebview): void {
  try {
    document.getElementById('load-error')?.remove();
    if (m.type === 'showThinking') {
      last = m;
      draw(m);
    } else if (m.type === 'loadFailed') showError(`Cannot show ${m.path}: ${m.message}`);
  } catch (e) {
    showError(`LayerLab could not draw this file: ${(e as Error).message}`);
    post({ type: 'log', level: 'error', message: `thinking ${page} page: ${(e as Error).stack ?? e}` });
  }
}

window.addEventListener('error', (e) => post({ type: 'log', level: 'error', message: `thinking ${page} page: ${e.message} (${e.filename}:${e.lineno})` }));
applyThemeDefaults(readTheme());
onThemeChange(() => {
  applyThemeDefaults(readTheme());
  if (last) draw(last);
});
post({ type: 'ready', page });
