/**
 * The one webview host base of LayerLab's chart panels (DESIGN.md convention 6, after
 * vscode-extension-samples and GitLens):
 *  - strict Content-Security-Policy: no inline or remote script, scripts only with this
 *    render's nonce, styles, fonts and images only from the extension's own webview folder;
 *  - narrow `localResourceRoots`: dist/webview only (the bundle, its CSS and the codicons);
 *  - a ready handshake: nothing is posted before the page says `ready`, and again after VS Code
 *    recreates a hidden panel's document (panels do not retain their context when hidden, to
 *    keep memory low; the page restores itself from getState());
 *  - messages from the page are validated against runtime/protocol/webview before use;
 *  - exports: the page posts PNG or CSV bytes, the host asks where to save them.
 * Panel serializers (chartPanel.ts) restore panels after a window reload from the page state.
 */
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import { z } from 'zod';
import { STEER_METHODS, STEER_NORMS, STEER_POSITIONS } from '../runtime/protocol/steering';
import { CHART_VIEW_TYPES, MAX_EXPORT_CHARS, type ChartPageKind, type HostToWebview, type SaveMessage, type WebviewToHost } from '../runtime/protocol/webview';

export type HostLog = (level: 'info' | 'warn' | 'error', message: string) => void;

/** 24 random bytes, base64: a CSP nonce nobody can guess, new for every render. */
export function makeNonce(): string {
  return crypto.randomBytes(24).toString('base64');
}

/** The policy every chart page runs under; webview tests load pages with exactly this. */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    // Lit (vscode-elements) styles its shadow roots with constructable stylesheets, which CSP does
    // not govern; <link> stylesheets come from the extension only.
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    `img-src ${cspSource}`,
    "connect-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
}

export interface PageAssets {
  script: string;
  style: string;
  codicons: string;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function pageHtml(o: { page: ChartPageKind; title: string; cspSource: string; nonce: string; assets: PageAssets }): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(o.cspSource, o.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" id="vscode-codicon-stylesheet" href="${escapeHtml(o.assets.codicons)}" nonce="${escapeHtml(o.nonce)}">
<link rel="stylesheet" href="${escapeHtml(o.assets.style)}" nonce="${escapeHtml(o.nonce)}">
<title>${escapeHtml(o.title)}</title>
</head>
<body data-page="${o.page}">
<main id="app" aria-live="polite"><p class="hint">Loading…</p></main>
<script nonce="${escapeHtml(o.nonce)}" src="${escapeHtml(o.assets.script)}"></script>
</body>
</html>`;
}

/** What a page may send; anything else is logged and dropped. */
const compareFormSchema = z.object({
  prompt: z.string().max(200_000),
  steerHooks: z.array(z.string().max(100)).min(1).max(1000),
  steerMethod: z.enum(STEER_METHODS),
  steerStrength: z.number().finite(),
  steerTarget: z.number().finite(),
  steerNorm: z.enum(STEER_NORMS),
  steerPositions: z.enum(STEER_POSITIONS),
  maxNewTokens: z.number().int().min(0).max(4096),
});

/** Every chart page may export a chart (PNG or CSV through the host's save dialog) and log. */
export const saveMessageSchema = z.object({
  type: z.literal('save'),
  requestId: z.string().max(100),
  format: z.enum(['png', 'csv']),
  chart: z.string().max(100),
  fileName: z.string().min(1).max(200),
  content: z.string().max(MAX_EXPORT_CHARS),
});
export const logMessageSchema = z.object({ type: z.literal('log'), level: z.enum(['info', 'warn', 'error']), message: z.string().max(20_000) });

export const webviewMessageSchema: z.ZodType<WebviewToHost> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), page: z.enum(Object.keys(CHART_VIEW_TYPES) as [ChartPageKind, ...ChartPageKind[]]) }),
  z.object({ type: z.literal('compareRun'), form: compareFormSchema }),
  z.object({ type: z.literal('pickVector') }),
  z.object({ type: z.literal('saveExperiment') }),
  z.object({ type: z.literal('projectionLayer'), hook: z.string().max(100) }),
  z.object({ type: z.literal('pickCompare') }),
  z.object({ type: z.literal('clearCompare') }),
  saveMessageSchema,
  logMessageSchema,
]);

export function parseWebviewMessage(raw: unknown): WebviewToHost | { invalid: string } {
  const r = webviewMessageSchema.safeParse(raw);
  if (r.success) return r.data;
  const type = raw && typeof raw === 'object' && 'type' in raw ? String((raw as { type: unknown }).type) : typeof raw;
  return { invalid: `${type}: ${r.error.issues[0]?.path.join('.')} ${r.error.issues[0]?.message}` };
}

/**
 * A safe file name for an export: the page suggests one, but only its last path component is
 * used and the extension must match the format, so a page cannot steer a save elsewhere.
 */
export function exportFileName(suggested: string, format: 'png' | 'csv'): string {
  const base = suggested.split(/[\\/]/).pop()!.replace(/[^\w.@+=,-]+/g, '_').replace(/^\.+/, '') || 'chart';
  return base.toLowerCase().endsWith(`.${format}`) ? base : `${base}.${format}`;
}

export function exportBytes(m: Pick<SaveMessage, 'format' | 'content'>): Uint8Array {
  if (m.format === 'csv') return new TextEncoder().encode(m.content);
  const bytes = Buffer.from(m.content, 'base64');
  // PNG signature: 89 50 4E 47 0D 0A 1A 0A. Anything else is not the chart the page drew.
  if (bytes.length < 8 || bytes.readUInt32BE(0) !== 0x89504e47 || bytes.readUInt32BE(4) !== 0x0d0a1a0a) {
    throw new Error('the page sent an image that is not a PNG');
  }
  return bytes;
}

/** Webview options of a chart page: scripts on, no forms, resources only from dist/webview. */
export function chartWebviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    enableForms: false,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')],
  };
}

/** Panel options: the webview's, plus find (Ctrl+F in long item tables) and no retained context. */
export function chartPanelOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return { ...chartWebviewOptions(extensionUri), retainContextWhenHidden: false, enableFindWidget: true };
}

export abstract class WebviewHost implements vscode.Disposable {
  private ready = false;
  private queue: HostToWebview[] = [];
  private disposed = false;
  protected readonly disposables: vscode.Disposable[] = [];
  private readonly onDisposeEmitter = new vscode.EventEmitter<void>();
  readonly onDidDispose = this.onDisposeEmitter.event;

  protected constructor(
    readonly panel: vscode.WebviewPanel,
    protected readonly extensionUri: vscode.Uri,
    readonly page: ChartPageKind,
    protected readonly log: HostLog,
  ) {
    // Panels restored by a serializer come with the options of their first life; set them again
    // so a restored panel is held to the same roots as a new one.
    panel.webview.options = chartWebviewOptions(extensionUri);
    this.disposables.push(
      panel.webview.onDidReceiveMessage((raw) => void this.receive(raw)),
      panel.onDidDispose(() => this.dispose()),
      // A hidden panel's document is destroyed (retainContextWhenHidden is off); the page will
      // say `ready` again when shown, and messages posted meanwhile would be lost.
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
    );
  }

  /** Sets the page's HTML (a new nonce each time); the page then says `ready`. */
  protected render(title: string): void {
    const w = this.panel.webview;
    const asset = (f: string) => w.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview', f)).toString();
    this.ready = false;
    w.html = pageHtml({
      page: this.page,
      title,
      cspSource: w.cspSource,
      nonce: makeNonce(),
      assets: { script: asset('main.js'), style: asset('style.css'), codicons: asset('codicon.css') },
    });
  }

  /** Posts now if the page listens, else when it next says `ready`. */
  protected post(m: HostToWebview): void {
    if (this.disposed) return;
    if (!this.ready) {
      this.queue.push(m);
      return;
    }
    void this.panel.webview.postMessage(m);
  }

  private async receive(raw: unknown): Promise<void> {
    const m = parseWebviewMessage(raw);
    if ('invalid' in m) {
      this.log('warn', `${this.page} chart: ignored an invalid message from the page (${m.invalid})`);
      return;
    }
    try {
      switch (m.type) {
        case 'ready': {
          // Everything a fresh document needs is sent by onReady; queued updates were for the
          // old document and are superseded by it.
          this.queue = [];
          this.ready = true;
          await this.onReady();
          const q = this.queue;
          this.queue = [];
          for (const x of q) void this.panel.webview.postMessage(x);
          return;
        }
        case 'log':
          this.log(m.level, m.message);
          return;
        case 'save':
          await this.save(m);
          return;
        default:
          await this.onMessage(m);
      }
    } catch (e) {
      this.log('error', `${this.page} chart: ${m.type}: ${(e as Error).stack ?? e}`);
    }
  }

  /** Sends what the page draws: called on every `ready`. */
  protected abstract onReady(): Promise<void>;

  /** Page requests other than ready, log and save. */
  protected abstract onMessage(m: Exclude<WebviewToHost, { type: 'ready' | 'log' | 'save' }>): Promise<void>;

  /** Folder the save dialog opens in: beside the shown file. */
  protected abstract exportFolder(): vscode.Uri;

  private async save(m: SaveMessage): Promise<void> {
    let target: vscode.Uri | undefined;
    try {
      const bytes = exportBytes(m);
      target = await vscode.window.showSaveDialog({
        defaultUri: vscode.Uri.joinPath(this.exportFolder(), exportFileName(m.fileName, m.format)),
        filters: m.format === 'png' ? { 'PNG image': ['png'] } : { 'CSV (comma-separated values)': ['csv'] },
        saveLabel: m.format === 'png' ? 'Save Chart' : 'Save Data',
      });
      if (!target) {
        this.post({ type: 'saved', requestId: m.requestId, path: null });
        return;
      }
      await vscode.workspace.fs.writeFile(target, bytes);
      this.log('info', `${m.chart}: saved ${m.format.toUpperCase()} to ${target.fsPath}`);
      this.post({ type: 'saved', requestId: m.requestId, path: target.fsPath });
    } catch (e) {
      const message = (e as Error).message;
      this.log('error', `${m.chart}: could not save ${target?.fsPath ?? m.fileName}: ${message}`);
      void vscode.window.showErrorMessage(`LayerLab: could not save ${target?.fsPath ?? m.fileName}: ${message}`);
      this.post({ type: 'saved', requestId: m.requestId, path: null, error: message });
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
    this.onDisposeEmitter.fire();
    this.onDisposeEmitter.dispose();
  }
}
