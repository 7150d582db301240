/**
 * The reasoning-behaviour chart panels: layer effects, vector statistics and steering (with its
 * side-by-side chains), one panel per file, drawn by webview/thinking/ (bundle thinking.js). The
 * host follows the chart panels' rules (extension/webviewHost.ts, whose helpers it uses): the
 * same CSP and resource roots, a ready handshake, page messages validated before use, exports
 * saved where the user says, the file re-read when it changes, panels restored after a reload.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { z } from 'zod';
import { effectsFileSchema, steeringFileSchema, thinkingFileKind, vectorStatsFileSchema } from '../../runtime/protocol/thinking';
import { THINKING_PAGES, THINKING_VIEW_TYPE, type HostToThinking, type ThinkingData, type ThinkingPage, type ThinkingToHost } from '../../runtime/protocol/thinkingWebview';
import type { ChartPageKind, SaveMessage } from '../../runtime/protocol/webview';
import { chartPanelOptions, chartWebviewOptions, exportBytes, exportFileName, logMessageSchema, makeNonce, pageHtml, saveMessageSchema, type HostLog } from '../webviewHost';

const messageSchema: z.ZodType<ThinkingToHost> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), page: z.enum(THINKING_PAGES) }),
  saveMessageSchema,
  logMessageSchema,
]);

/** A thinking file's page and validated contents; the error names the file. */
export function readThinkingFile(file: string): ThinkingData {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  const kind = thinkingFileKind(text);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  const parse = <T>(schema: z.ZodType<T>): T => {
    const r = schema.safeParse(raw);
    if (!r.success) throw new Error(`${file}: ${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`);
    return r.data;
  };
  switch (kind) {
    case 'effects':
      return { page: 'effects', file: parse(effectsFileSchema) };
    case 'vectors':
      return { page: 'vectors', file: parse(vectorStatsFileSchema) };
    case 'steering':
      return { page: 'steering', file: parse(steeringFileSchema) };
    default:
      throw new Error(`${file} is not a layer-effects, vector statistics or steering file of LayerLab`);
  }
}

export class ThinkingPanel implements vscode.Disposable {
  private ready = false;
  private disposed = false;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly onDisposeEmitter = new vscode.EventEmitter<void>();
  readonly onDidDispose = this.onDisposeEmitter.event;

  constructor(
    readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    readonly file: string,
    readonly page: ThinkingPage,
    private readonly log: HostLog,
  ) {
    panel.webview.options = chartWebviewOptions(extensionUri);
    const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(path.dirname(file)), path.basename(file)));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reload = () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.send(), 200);
    };
    this.disposables.push(
      w,
      w.onDidChange(reload),
      w.onDidCreate(reload),
      { dispose: () => clearTimeout(timer) },
      panel.webview.onDidReceiveMessage((m) => void this.receive(m)),
      panel.onDidDispose(() => this.dispose()),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
    );
    const asset = (f: string) => panel.webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', f)).toString();
    panel.webview.html = pageHtml({
      // The page kind travels in <body data-page>; pageHtml only writes it there.
      page: `thinking-${page}` as ChartPageKind,
      title: panel.title,
      cspSource: panel.webview.cspSource,
      nonce: makeNonce(),
      assets: { script: asset('thinking.js'), style: asset('style.css'), codicons: asset('codicon.css') },
    });
  }

  private post(m: HostToThinking): void {
    if (!this.disposed && this.ready) void this.panel.webview.postMessage(m);
  }

  private send(): void {
    try {
      const data = readThinkingFile(this.file);
      this.post({ type: 'showThinking', path: this.file, name: `${path.basename(path.dirname(this.file))}/${path.basename(this.file)}`, data });
    } catch (e) {
      this.post({ type: 'loadFailed', path: this.file, message: (e as Error).message });
    }
  }

  private async receive(raw: unknown): Promise<void> {
    const r = messageSchema.safeParse(raw);
    if (!r.success) {
      this.log('warn', `behaviour chart: ignored an invalid message from the page (${r.error.issues[0]?.path.join('.')} ${r.error.issues[0]?.message})`);
      return;
    }
    const m = r.data;
    if (m.type === 'ready') {
      this.ready = true;
      this.send();
    } else if (m.type === 'log') this.log(m.level, m.message);
    else await this.save(m);
  }

  private async save(m: SaveMessage): Promise<void> {
    try {
      const bytes = exportBytes(m);
      const target = await vscode.window.showSaveDialog({
        defaultUri: vscode.Uri.joinPath(vscode.Uri.file(path.dirname(this.file)), exportFileName(m.fileName, m.format)),
        filters: m.format === 'png' ? { 'PNG image': ['png'] } : { 'CSV (comma-separated values)': ['csv'] },
      });
      if (!target) return this.post({ type: 'saved', requestId: m.requestId, path: null });
      await vscode.workspace.fs.writeFile(target, bytes);
      this.post({ type: 'saved', requestId: m.requestId, path: target.fsPath });
    } catch (e) {
      this.post({ type: 'saved', requestId: m.requestId, path: null, error: (e as Error).message });
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

/** The open behaviour panels; restores them after a window reload. */
export class ThinkingPanels implements vscode.Disposable {
  private readonly open = new Set<ThinkingPanel>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly log: HostLog,
  ) {}

  register(): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(THINKING_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown) => {
        const s = state as { path?: unknown; page?: unknown } | undefined;
        if (typeof s?.path !== 'string' || !THINKING_PAGES.includes(s.page as ThinkingPage)) {
          panel.dispose();
          return;
        }
        this.track(new ThinkingPanel(panel, this.extensionUri, s.path, s.page as ThinkingPage, this.log));
      },
    });
  }

  panels(): readonly ThinkingPanel[] {
    return [...this.open];
  }

  /** Opens (or reveals) the page of an effects, vector statistics or steering file. */
  async openChart(file: string): Promise<ThinkingPanel> {
    const abs = path.resolve(file);
    const { page } = readThinkingFile(abs);
    const existing = [...this.open].find((p) => p.file === abs);
    if (existing) {
      existing.panel.reveal();
      return existing;
    }
    const title = `${{ effects: 'Layer effects', vectors: 'Vectors', steering: 'Steering' }[page]}: ${path.basename(abs)}`;
    const panel = vscode.window.createWebviewPanel(THINKING_VIEW_TYPE, title, { viewColumn: vscode.ViewColumn.Active, preserveFocus: false }, chartPanelOptions(this.extensionUri));
    return this.track(new ThinkingPanel(panel, this.extensionUri, abs, page, this.log));
  }

  private track(p: ThinkingPanel): ThinkingPanel {
    this.open.add(p);
    p.onDidDispose(() => this.open.delete(p));
    return p;
  }

  dispose(): void {
    for (const p of [...this.open]) p.dispose();
  }
}
