/**
 * The part of the `vscode` API the chart panels use (extension/webviewHost.ts, chartPanel.ts),
 * enough to run the real host code under node's test runner with its webviews shown in headless
 * Chromium (harness.ts bridges each fake webview to a browser page). Dialogs answer from
 * scripted queues and every effect is recorded.
 *
 * Importing this module makes `require('vscode')` return it; import it before any extension
 * module.
 */
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';

type Listener<T> = (e: T) => unknown;

export class EventEmitter<T> {
  private listeners = new Set<Listener<T>>();
  event = (l: Listener<T>) => {
    this.listeners.add(l);
    return { dispose: () => this.listeners.delete(l) };
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
    private readonly url?: string,
  ) {}
  static file(p: string): Uri {
    return new Uri('file', path.resolve(p));
  }
  /** A webview resource URL (what asWebviewUri returns). */
  static http(url: string): Uri {
    return new Uri('http', '', url);
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return Uri.file(path.join(base.fsPath, ...parts));
  }
  get path(): string {
    return this.fsPath;
  }
  toString(): string {
    return this.url ?? `file://${this.fsPath}`;
  }
}

export class RelativePattern {
  constructor(
    readonly baseUri: Uri,
    readonly pattern: string,
  ) {}
}

export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
}

export interface FakeWebviewOptions {
  enableScripts?: boolean;
  enableForms?: boolean;
  localResourceRoots?: Uri[];
}

/** A webview whose page lives in Chromium; the harness sets `deliver` and calls `receive`. */
export class FakeWebview {
  private _html = '';
  options: FakeWebviewOptions = {};
  /** Set by the harness: the origin pages are served from (VS Code: https://*.vscode-cdn.net). */
  cspSource = 'http://127.0.0.1';
  /** Set by the harness: maps an extension file to the URL the test server serves it at. */
  mapUri: (u: Uri) => string = (u) => u.toString();
  /** Set by the harness: delivers a host message to the page (dropped while no page is attached). */
  deliver: ((m: unknown) => Promise<boolean>) | null = null;
  readonly sent: unknown[] = [];
  readonly htmlHistory: string[] = [];
  private readonly received = new EventEmitter<unknown>();
  readonly onDidReceiveMessage = this.received.event;
  readonly onHtml = new EventEmitter<string>();

  get html(): string {
    return this._html;
  }
  set html(v: string) {
    this._html = v;
    this.htmlHistory.push(v);
    this.onHtml.fire(v);
  }
  asWebviewUri(u: Uri): Uri {
    return Uri.http(this.mapUri(u));
  }
  async postMessage(m: unknown): Promise<boolean> {
    this.sent.push(m);
    return this.deliver ? this.deliver(m) : false;
  }
  /** A message from the page. */
  receive(m: unknown): void {
    this.received.fire(m);
  }
}

export class FakePanel {
  readonly webview = new FakeWebview();
  visible = true;
  iconPath: unknown;
  reveals = 0;
  disposed = false;
  private readonly disposeEmitter = new EventEmitter<void>();
  private readonly viewState = new EventEmitter<unknown>();
  readonly onDidDispose = this.disposeEmitter.event;
  readonly onDidChangeViewState = this.viewState.event;
  constructor(
    readonly viewType: string,
    public title: string,
    readonly panelOptions: Record<string, unknown>,
  ) {}
  reveal(): void {
    this.reveals++;
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.disposeEmitter.fire();
  }
  setVisible(v: boolean): void {
    this.visible = v;
    this.viewState.fire({ webviewPanel: this });
  }
}

class FakeWatcher {
  readonly change = new EventEmitter<Uri>();
  readonly create = new EventEmitter<Uri>();
  readonly onDidChange = this.change.event;
  readonly onDidCreate = this.create.event;
  readonly onDidDelete = new EventEmitter<Uri>().event;
  disposed = false;
  constructor(readonly pattern: RelativePattern) {}
  dispose(): void {
    this.disposed = true;
  }
}

export interface Serializer {
  deserializeWebviewPanel(panel: FakePanel, state: unknown): Promise<void>;
}

/** Recorded effects and scripted answers; reset() between tests. */
export const stub = {
  panels: [] as FakePanel[],
  serializers: new Map<string, Serializer>(),
  watchers: [] as FakeWatcher[],
  messages: [] as { severity: 'info' | 'warning' | 'error'; text: string }[],
  saveAnswers: [] as (Uri | undefined)[],
  saveDialogs: [] as { defaultUri?: Uri; filters?: Record<string, string[]> }[],
  quickPick: null as null | ((items: { label: string; file?: string }[]) => unknown),
  openAnswers: [] as (Uri[] | undefined)[],
  onPanel: new EventEmitter<FakePanel>(),
  reset(): void {
    this.messages = [];
    this.saveAnswers = [];
    this.saveDialogs = [];
    this.quickPick = null;
    this.openAnswers = [];
  },
  /** Fires the watchers of `file` as VS Code does when a file is written. */
  fileChanged(file: string): number {
    const abs = path.resolve(file);
    const hit = this.watchers.filter((w) => !w.disposed && path.join(w.pattern.baseUri.fsPath, w.pattern.pattern) === abs);
    for (const w of hit) w.change.fire(Uri.file(abs));
    return hit.length;
  },
};

export const window = {
  createWebviewPanel(viewType: string, title: string, _show: unknown, options: Record<string, unknown> = {}): FakePanel {
    const p = new FakePanel(viewType, title, options);
    p.webview.options = options as FakeWebviewOptions;
    stub.panels.push(p);
    stub.onPanel.fire(p);
    return p;
  },
  registerWebviewPanelSerializer(viewType: string, s: Serializer) {
    stub.serializers.set(viewType, s);
    return { dispose: () => stub.serializers.delete(viewType) };
  },
  async showSaveDialog(o: { defaultUri?: Uri; filters?: Record<string, string[]> }) {
    stub.saveDialogs.push(o);
    return stub.saveAnswers.shift();
  },
  async showQuickPick(items: { label: string; file?: string }[]) {
    return stub.quickPick ? stub.quickPick(items) : undefined;
  },
  async showOpenDialog() {
    return stub.openAnswers.shift();
  },
  async showErrorMessage(text: string) {
    stub.messages.push({ severity: 'error', text });
    return undefined;
  },
  async showWarningMessage(text: string) {
    stub.messages.push({ severity: 'warning', text });
    return undefined;
  },
  async showInformationMessage(text: string) {
    stub.messages.push({ severity: 'info', text });
    return undefined;
  },
};

export const workspace = {
  fs: {
    async readFile(u: Uri): Promise<Uint8Array> {
      return fs.promises.readFile(u.fsPath);
    },
    async writeFile(u: Uri, bytes: Uint8Array): Promise<void> {
      await fs.promises.mkdir(path.dirname(u.fsPath), { recursive: true });
      await fs.promises.writeFile(u.fsPath, bytes);
    },
  },
  createFileSystemWatcher(pattern: RelativePattern) {
    const w = new FakeWatcher(pattern);
    stub.watchers.push(w);
    return w;
  },
};

/** An ExtensionContext rooted at the repository (dist/webview is served from there). */
export function fakeContext(extensionPath: string) {
  return { extensionUri: Uri.file(extensionPath), extensionPath, subscriptions: [] as { dispose(): unknown }[] };
}

const api = { EventEmitter, Uri, RelativePattern, ViewColumn, window, workspace };

// `import * as vscode from 'vscode'` compiles to require('vscode'): answer it with the stub.
const M = Module as unknown as { _load(request: string, parent: unknown, isMain: boolean): unknown };
const load = M._load;
M._load = function (request: string, parent: unknown, isMain: boolean) {
  if (request === 'vscode') return api;
  return load.call(this, request, parent, isMain);
};
