/**
 * A small stand-in for the `vscode` module, enough for the extension's activation, views and
 * commands to run under node's test runner. Prompts answer from scripted queues and every UI
 * effect is recorded, so tests assert what the user would have seen.
 *
 * install() makes `require('vscode')` return it; import this module before any extension module.
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
    readonly query = '',
  ) {}
  static file(p: string): Uri {
    return new Uri('file', path.resolve(p));
  }
  static from(c: { scheme: string; path?: string; query?: string }): Uri {
    return new Uri(c.scheme, c.path ?? '', c.query ?? '');
  }
  /** The inverse of toString() for this mock's URIs. */
  static parse(s: string): Uri {
    const m = /^([\w-]+):\/\/([^?]*)(?:\?(.*))?$/.exec(s);
    if (!m) throw new Error(`mock Uri.parse: ${s}`);
    return m[1] === 'file' ? Uri.file(m[2]!) : new Uri(m[1]!, m[2]!, m[3] ?? '');
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return Uri.file(path.join(base.fsPath, ...parts));
  }
  get path(): string {
    return this.fsPath;
  }
  toString(): string {
    return `${this.scheme}://${this.fsPath}${this.query ? `?${this.query}` : ''}`;
  }
}

export class ThemeIcon {
  constructor(readonly id: string) {}
}
export class ThemeColor {
  constructor(readonly id: string) {}
}
export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}
export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: string;
  iconPath?: ThemeIcon;
  resourceUri?: Uri;
  contextValue?: string;
  command?: unknown;
  constructor(
    readonly label: string,
    readonly collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {}
}
export class RelativePattern {
  constructor(
    readonly base: unknown,
    readonly pattern: string,
  ) {}
}
export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}
export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
}

/** A webview panel that records what the host sets and posts (no page runs in unit tests). */
export class MockPanel {
  private readonly fromPage = new EventEmitter<unknown>();
  readonly webview = {
    html: '',
    options: {} as unknown,
    cspSource: 'https://mock.vscode-cdn.net',
    posted: [] as unknown[],
    asWebviewUri: (u: Uri) => u,
    postMessage: async (m: unknown) => (this.webview.posted.push(m), true),
    onDidReceiveMessage: this.fromPage.event,
    /** A message from the page (e.g. `{ type: 'ready', page: 'run' }`). */
    receive: (m: unknown) => this.fromPage.fire(m),
  };
  visible = true;
  iconPath: unknown;
  reveals = 0;
  disposed = false;
  private readonly disposeEmitter = new EventEmitter<void>();
  readonly onDidDispose = this.disposeEmitter.event;
  readonly onDidChangeViewState = new EventEmitter<unknown>().event;
  constructor(
    readonly viewType: string,
    public title: string,
  ) {}
  reveal(): void {
    this.reveals++;
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.disposeEmitter.fire();
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}
/** Editor ranges; the projection tests' fake documents give plain offsets as positions. */
export class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
}
export class MarkdownString {
  constructor(readonly value: string) {}
}
export class Hover {
  constructor(
    readonly contents: MarkdownString | MarkdownString[],
    readonly range?: Range,
  ) {}
}
export class CodeActionKind {
  static readonly QuickFix = new CodeActionKind('quickfix');
  constructor(readonly value: string) {}
}
export class CodeAction {
  command?: { command: string; title: string; arguments?: unknown[] };
  constructor(
    readonly title: string,
    readonly kind: CodeActionKind,
  ) {}
}
export enum OverviewRulerLane {
  Left = 1,
  Center = 2,
  Right = 4,
  Full = 7,
}

/** A text document over a string: offsets and positions as VS Code computes them (UTF-16, \n lines). */
export class MockDocument {
  constructor(
    readonly uri: Uri,
    private text: string,
  ) {}
  getText(): string {
    return this.text;
  }
  setText(t: string): void {
    this.text = t;
  }
  positionAt(offset: number): Position {
    const before = this.text.slice(0, offset);
    const line = before.split('\n').length - 1;
    return new Position(line, offset - (before.lastIndexOf('\n') + 1));
  }
  offsetAt(p: Position): number {
    const lines = this.text.split('\n');
    let o = 0;
    for (let i = 0; i < p.line; i++) o += lines[i]!.length + 1;
    return o + p.character;
  }
}

/** An editor of a MockDocument that records its decorations. */
export class MockEditor {
  readonly decorations = new Map<unknown, Range[]>();
  constructor(readonly document: MockDocument) {}
  setDecorations(type: unknown, ranges: Range[]): void {
    this.decorations.set(type, ranges);
  }
}

export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}

export class CancellationTokenSource {
  private emitter = new EventEmitter<void>();
  token = {
    isCancellationRequested: false,
    onCancellationRequested: (l: () => void) => this.emitter.event(l),
  };
  cancel(): void {
    if (this.token.isCancellationRequested) return;
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {}
}

export interface Shown {
  severity: 'info' | 'warning' | 'error';
  message: string;
  actions: string[];
  /** Shown as a modal dialog (`{ modal: true }`). */
  modal?: boolean;
}

/** Everything a test scripts or inspects. Reset with reset(). */
export const mock = {
  /** Answers for showQuickPick: a label to pick, a function choosing an item, or undefined (Escape). */
  quickPicks: [] as (string | ((items: { label: string }[]) => unknown) | undefined)[],
  /** Answers for showInputBox: a string, or null to accept the proposed value, or undefined (Escape). */
  /** Answers to input boxes: a value, null for the proposed value, undefined for Escape, or a function of the box. */
  inputs: [] as (string | null | undefined | ((validate: (v: string) => string | undefined, value: string, prompt: string) => string | undefined))[],
  /** Answers for showOpenDialog. */
  openDialogs: [] as (string[] | undefined)[],
  /** Button to press on the next message (by title), per message in order. */
  messageAnswers: [] as (string | undefined)[],
  shown: [] as Shown[],
  quickPickCalls: [] as { items: { label: string; description?: string; detail?: string }[]; placeHolder?: string; title?: string; canPickMany?: boolean }[],
  inputCalls: [] as { prompt?: string; value?: string; validation?: string | undefined }[],
  openedDocuments: [] as string[],
  executed: [] as { command: string; args: unknown[] }[],
  progress: [] as { title?: string; cancellable?: boolean; reports: { increment?: number; message?: string }[]; cancel: () => void }[],
  /** When set, withProgress cancels its token as soon as the first progress is reported. */
  cancelOnFirstReport: false,
  log: [] as { level: string; message: string }[],
  statusBar: { text: '', tooltip: '' as unknown, command: '' as unknown, backgroundColor: undefined as unknown, visible: false },
  trusted: true,
  workspaceFolder: undefined as string | undefined,
  config: {} as Record<string, unknown>,
  registered: new Map<string, (...args: unknown[]) => unknown>(),
  treeViews: new Map<string, { selection: unknown[] }>(),
  watchers: [] as RelativePattern[],
  /** Webview panels created (chart panels), and the panel serializers registered. */
  panels: [] as MockPanel[],
  serializers: new Map<string, unknown>(),
  /** Text document content providers registered, by scheme, and the texts they gave. */
  contentProviders: new Map<string, { provideTextDocumentContent(uri: Uri): string | Promise<string>; onDidChange?: (l: (u: Uri) => void) => unknown }>(),
  documentTexts: new Map<string, string>(),
  /** Editor decoration types created, with their options. */
  decorationTypes: [] as { options: Record<string, unknown>; dispose(): void }[],
  /** Hover providers with the selectors they were registered for; code action providers by scheme. */
  hoverProviders: [] as { selector: unknown; provider: unknown }[],
  codeActionProviders: new Map<string, { provideCodeActions(doc: MockDocument, range: Range): unknown[] }>(),
  /** The editors window.visibleTextEditors lists (showTextDocument adds one; tests may set it). */
  visibleEditors: [] as unknown[],
  reset(): void {
    this.quickPicks = [];
    this.inputs = [];
    this.openDialogs = [];
    this.messageAnswers = [];
    this.shown = [];
    this.quickPickCalls = [];
    this.inputCalls = [];
    this.openedDocuments = [];
    this.executed = [];
    this.progress = [];
    this.cancelOnFirstReport = false;
    this.log = [];
    this.trusted = true;
    this.workspaceFolder = undefined;
    this.config = {};
    this.registered.clear();
    this.treeViews.clear();
    this.watchers = [];
    this.panels = [];
    this.serializers.clear();
    this.contentProviders.clear();
    this.documentTexts.clear();
    this.decorationTypes = [];
    this.hoverProviders = [];
    this.codeActionProviders.clear();
    this.visibleEditors = [];
  },
};

function message(severity: Shown['severity']) {
  return async (msg: string, ...rest: unknown[]) => {
    const actions = rest.filter((a): a is string => typeof a === 'string');
    const modal = rest.some((a) => typeof a === 'object' && a !== null && (a as { modal?: boolean }).modal === true);
    mock.shown.push({ severity, message: msg, actions, ...(modal ? { modal } : {}) });
    const answer = mock.messageAnswers.shift();
    return answer && actions.includes(answer) ? answer : undefined;
  };
}

export const window = {
  createOutputChannel(_name: string, _opts?: unknown) {
    const at = (level: string) => (m: string) => void mock.log.push({ level, message: m });
    return { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), show: () => mock.executed.push({ command: '(log.show)', args: [] }), dispose() {} };
  },
  createStatusBarItem() {
    const s = mock.statusBar;
    return {
      set text(v: string) {
        s.text = v;
      },
      get text() {
        return s.text;
      },
      set tooltip(v: unknown) {
        s.tooltip = v;
      },
      set command(v: unknown) {
        s.command = v;
      },
      set backgroundColor(v: unknown) {
        s.backgroundColor = v;
      },
      name: '',
      show: () => void (s.visible = true),
      hide: () => void (s.visible = false),
      dispose() {},
    };
  },
  createTreeView(id: string, _opts: unknown) {
    const view = { selection: [] as unknown[], dispose() {} };
    mock.treeViews.set(id, view);
    return view;
  },
  async showQuickPick(items: { label: string; description?: string; detail?: string }[], opts?: { placeHolder?: string; title?: string; canPickMany?: boolean }) {
    mock.quickPickCalls.push({ items, placeHolder: opts?.placeHolder, title: opts?.title, canPickMany: opts?.canPickMany });
    const answer = mock.quickPicks.shift();
    if (answer === undefined) return undefined;
    if (typeof answer === 'function') return answer(items);
    const found = items.find((i) => i.label === answer);
    if (!found) throw new Error(`mock quick pick: no item '${answer}' in ${items.map((i) => i.label).join(', ')}`);
    return found;
  },
  async showInputBox(opts: { prompt?: string; title?: string; value?: string; validateInput?: (v: string) => string | undefined }) {
    const given = mock.inputs.shift();
    const answer = typeof given === 'function' ? given((v) => opts.validateInput?.(v), opts.value ?? '', opts.prompt ?? '') : given;
    const value = answer === null ? (opts.value ?? '') : answer;
    mock.inputCalls.push({ prompt: opts.prompt, value: opts.value, validation: value === undefined ? undefined : opts.validateInput?.(value) });
    if (value !== undefined && opts.validateInput?.(value)) throw new Error(`mock input box: '${value}' fails validation: ${opts.validateInput(value)}`);
    return value;
  },
  async showOpenDialog() {
    const answer = mock.openDialogs.shift();
    return answer?.map((p) => Uri.file(p));
  },
  createWebviewPanel(viewType: string, title: string) {
    const p = new MockPanel(viewType, title);
    mock.panels.push(p);
    return p;
  },
  createTextEditorDecorationType(options: Record<string, unknown>) {
    const t = { options, dispose() {} };
    mock.decorationTypes.push(t);
    return t;
  },
  get visibleTextEditors(): unknown[] {
    return mock.visibleEditors;
  },
  set visibleTextEditors(editors: unknown[]) {
    mock.visibleEditors = editors;
  },
  activeTextEditor: undefined as unknown,
  onDidChangeVisibleTextEditors: new EventEmitter<unknown>().event,
  registerWebviewPanelSerializer(viewType: string, s: unknown) {
    mock.serializers.set(viewType, s);
    return { dispose: () => mock.serializers.delete(viewType) };
  },
  showInformationMessage: message('info'),
  showWarningMessage: message('warning'),
  showErrorMessage: message('error'),
  async showTextDocument(doc: Uri | { uri: Uri }) {
    const uri = doc instanceof Uri ? doc : doc.uri;
    mock.openedDocuments.push(uri.scheme === 'file' ? uri.fsPath : `${uri.scheme}:${uri.fsPath}`);
    const editor = new MockEditor(doc instanceof MockDocument ? doc : new MockDocument(uri, mock.documentTexts.get(`${uri.scheme}:${uri.fsPath}`) ?? ''));
    mock.visibleEditors.push(editor);
    return editor;
  },
  async withProgress<T>(
    opts: { title?: string; cancellable?: boolean },
    task: (p: { report(v: { increment?: number; message?: string }): void }, token: CancellationTokenSource['token']) => Promise<T>,
  ): Promise<T> {
    const source = new CancellationTokenSource();
    const entry = { title: opts.title, cancellable: opts.cancellable, reports: [] as { increment?: number; message?: string }[], cancel: () => source.cancel() };
    mock.progress.push(entry);
    return task(
      {
        report: (v) => {
          entry.reports.push(v);
          if (mock.cancelOnFirstReport) source.cancel();
        },
      },
      source.token,
    );
  },
};

const configChange = new EventEmitter<{ affectsConfiguration(s: string): boolean }>();

export const workspace = {
  fs: {
    async readFile(u: Uri): Promise<Uint8Array> {
      return fs.promises.readFile(u.fsPath);
    },
    async writeFile(u: Uri, bytes: Uint8Array): Promise<void> {
      await fs.promises.writeFile(u.fsPath, bytes);
    },
  },
  get isTrusted() {
    return mock.trusted;
  },
  get workspaceFolders() {
    return mock.workspaceFolder ? [{ uri: Uri.file(mock.workspaceFolder), name: path.basename(mock.workspaceFolder), index: 0 }] : undefined;
  },
  getWorkspaceFolder(uri: Uri) {
    const f = workspace.workspaceFolders?.[0];
    return f && (uri.fsPath === f.uri.fsPath || uri.fsPath.startsWith(f.uri.fsPath + path.sep)) ? f : undefined;
  },
  getConfiguration(section: string) {
    return { get: (key: string) => mock.config[`${section}.${key}`] };
  },
  createFileSystemWatcher(pattern: RelativePattern) {
    mock.watchers.push(pattern);
    const noop = () => ({ dispose() {} });
    return { onDidCreate: noop, onDidChange: noop, onDidDelete: noop, dispose() {} };
  },
  registerTextDocumentContentProvider(scheme: string, provider: { provideTextDocumentContent(uri: Uri): string | Promise<string> }) {
    mock.contentProviders.set(scheme, provider);
    return { dispose: () => mock.contentProviders.delete(scheme) };
  },
  /** Documents of a content provider's scheme are read-only; their text comes from it. */
  async openTextDocument(arg: Uri | { language?: string; content: string }) {
    if (!(arg instanceof Uri)) {
      // An untitled document with the given text (what a report opens as).
      const uri = Uri.from({ scheme: 'untitled', path: `/Untitled-${mock.documentTexts.size + 1}.${arg.language === 'markdown' ? 'md' : 'txt'}` });
      mock.documentTexts.set(`${uri.scheme}:${uri.fsPath}`, arg.content);
      return new MockDocument(uri, arg.content);
    }
    const uri = arg;
    const provider = mock.contentProviders.get(uri.scheme);
    const text = provider ? await provider.provideTextDocumentContent(uri) : await fs.promises.readFile(uri.fsPath, 'utf8');
    mock.documentTexts.set(`${uri.scheme}:${uri.fsPath}`, text);
    return new MockDocument(uri, text);
  },
  onDidChangeConfiguration: configChange.event,
  onDidChangeTextDocument: new EventEmitter<unknown>().event,
  onDidGrantWorkspaceTrust: new EventEmitter<void>().event,
  onDidChangeWorkspaceFolders: new EventEmitter<void>().event,
};

export const commands = {
  registerCommand(id: string, fn: (...args: unknown[]) => unknown) {
    if (mock.registered.has(id)) throw new Error(`command '${id}' already exists`);
    mock.registered.set(id, fn);
    return { dispose: () => mock.registered.delete(id) };
  },
  async executeCommand(id: string, ...args: unknown[]) {
    mock.executed.push({ command: id, args });
    return mock.registered.get(id)?.(...args);
  },
};

export const languages = {
  registerHoverProvider(selector: unknown, provider: unknown) {
    const entry = { selector, provider };
    mock.hoverProviders.push(entry);
    return { dispose: () => void mock.hoverProviders.splice(mock.hoverProviders.indexOf(entry) >>> 0, 1) };
  },
  registerCodeActionsProvider(selector: { scheme: string }, provider: { provideCodeActions(doc: MockDocument, range: Range): unknown[] }) {
    mock.codeActionProviders.set(selector.scheme, provider);
    return { dispose: () => mock.codeActionProviders.delete(selector.scheme) };
  },
};

/** The hover provider registered for documents of a URI scheme. */
export function hoverProviderFor<P>(scheme: string): P | undefined {
  return mock.hoverProviders.find((h) => (h.selector as { scheme?: string } | undefined)?.scheme === scheme)?.provider as P | undefined;
}

export const env = { appName: 'Mock Code' };
export const version = '1.100.0-mock';

const api = {
  EventEmitter,
  Uri,
  ThemeIcon,
  ThemeColor,
  TreeItem,
  TreeItemCollapsibleState,
  RelativePattern,
  StatusBarAlignment,
  ViewColumn,
  ProgressLocation,
  CancellationTokenSource,
  Position,
  Range,
  MarkdownString,
  Hover,
  CodeAction,
  CodeActionKind,
  OverviewRulerLane,
  window,
  workspace,
  commands,
  languages,
  env,
  version,
};

let installed = false;

/** Makes `require('vscode')` (what the extension's `import * as vscode` compiles to) return the mock. */
export function install(): void {
  if (installed) return;
  installed = true;
  const m = Module as unknown as { _load(request: string, parent: unknown, isMain: boolean): unknown };
  const load = m._load;
  m._load = function (request: string, parent: unknown, isMain: boolean) {
    if (request === 'vscode') return api;
    return load.call(this, request, parent, isMain);
  };
}

install();

/** An ExtensionContext over a temp folder, with an in-memory workspaceState. */
export function fakeContext(extensionPath: string) {
  const state = new Map<string, unknown>();
  return {
    subscriptions: [] as { dispose(): unknown }[],
    extensionPath,
    extensionUri: Uri.file(extensionPath),
    asAbsolutePath: (p: string) => path.join(extensionPath, p),
    workspaceState: {
      get: <T>(k: string, d?: T) => (state.has(k) ? (state.get(k) as T) : d),
      update: async (k: string, v: unknown) => void state.set(k, v),
      keys: () => [...state.keys()],
    },
  };
}
