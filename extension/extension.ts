/**
 * The extension's entry points. `activate` creates the one object that owns the extension's
 * life (rust-analyzer's `Ctx`): the runtime client, the output channel, the status bar, the tree
 * views and their file watchers, the chart panels and the commands; everything it creates is
 * disposed with it. Decisions live in the plain modules beside this one; this file connects
 * them to the VS Code API.
 */
import * as vscode from 'vscode';
import type { DatasetInspection, ModelFacts } from '../runtime/protocol/requests';
import type { ChartPageKind } from '../runtime/protocol/webview';
import { ChartPanels } from './chartPanel';
import { LayerLabCommands, type ChartOpener, type ViewName } from './commands';
import { SELECTED_MODEL_KEY } from './jobPalette';
import { FileAnswers } from './fileAnswers';
import { ProbeCommands } from './probeCommands';
import { ProbePanels } from './probePanels';
import { ProjectionDecorations } from './projectionDecorations';
import { modelRef } from './jobParams';
import { statusBarView } from './presentation';
import { parseRecordQuery, RECORD_SCHEME, recordDocumentText } from './recordDocument';
import { RuntimeClient, RuntimeRequestError, type Spawner } from './runtimeClient';
import { isRunning } from './runtimeState';
import { outputFolders, resolveSettings, type LayerLabSettings, type RawSettings } from './settings';
import { nodeSpawner } from './spawn';
import { cacheFileNodes, cacheNodes, datasetNodes, modelNodes, runNodes, type TreeNodeData } from './treeData';
import { registerThinking, type ThinkingParts } from './thinking';
import { NodeTreeProvider, watchFolder } from './views';
import { CACHE_FILE_RE, scanDatasets, scanFiles, scanModels, scanRuns } from './workspaceScan';

/** What activate() returns: the extension's parts, for the VS Code test suites. */
export interface LayerLabApi {
  client: RuntimeClient;
  views: Record<ViewName, NodeTreeProvider>;
  settings(): LayerLabSettings | undefined;
  commands: LayerLabCommands;
  /** The chart panels open now: which page shows which file (for the VS Code test suites). */
  charts(): { page: ChartPageKind; file: string; title: string; visible: boolean }[];
  /** The reasoning-behaviour view, annotations, panels and commands. */
  thinking: ThinkingParts;
}

/** Seams for the unit tests (a fake runtime); VS Code always uses the defaults. */
export interface ActivateOptions {
  spawner?: Spawner;
}


export class LayerLab implements LayerLabApi, vscode.Disposable {
  readonly client: RuntimeClient;
  readonly views: Record<ViewName, NodeTreeProvider>;
  readonly commands: LayerLabCommands;
  readonly probe: ProbeCommands;
  readonly probePanels: ProbePanels;
  readonly thinking: ThinkingParts;
  private readonly log: vscode.LogOutputChannel;
  private readonly chartPanels: ChartPanels;
  private readonly status: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];
  private watchers: vscode.Disposable[] = [];
  /** What the runtime said about each dataset file and each model, per modification time. */
  private readonly datasetAnswers = new FileAnswers<DatasetInspection>();
  private readonly modelAnswers = new FileAnswers<ModelFacts>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    opts: ActivateOptions = {},
  ) {
    this.log = this.own(vscode.window.createOutputChannel('LayerLab', { log: true }));
    this.client = new RuntimeClient({
      spawn: opts.spawner ?? nodeSpawner(() => ({
        nodePath: this.settings()?.nodePath,
        execPath: process.execPath,
        runtimeScript: context.asAbsolutePath('dist/runtime.js'),
        cwd: this.workspaceRoot() ?? context.extensionPath,
        parentPid: process.pid,
        env: process.env,
      })),
      clientName: `${vscode.env.appName} ${vscode.version}`,
      log: (level, message) => this.log[level](message),
      onGaveUp: (message) => {
        void vscode.window.showErrorMessage(message, 'Restart Runtime', 'Show Runtime Log').then((a) => {
          if (a === 'Restart Runtime') void vscode.commands.executeCommand('layerlab.restartRuntime');
          if (a === 'Show Runtime Log') this.log.show();
        });
      },
      onCrashed: ({ message, interruptedJobs }) => {
        // A job the crash interrupted says so in its own failure message (with what it leaves
        // behind); a crash between jobs would otherwise go unnoticed until the next one.
        if (interruptedJobs.length) return;
        void vscode.window.showWarningMessage(`LayerLab: ${message[0]!.toUpperCase()}${message.slice(1)}`, 'Show Runtime Log').then((a) => {
          if (a === 'Show Runtime Log') this.log.show();
        });
        this.refreshViews();
      },
    });

    this.status = this.own(vscode.window.createStatusBarItem('layerlab.status', vscode.StatusBarAlignment.Left, 10));
    this.status.name = 'LayerLab';
    this.own(this.client.onDidChangeState(() => this.updateStatus()));
    this.own(this.client.onDidProgress(() => this.updateStatus()));
    this.own(vscode.workspace.onDidGrantWorkspaceTrust(() => this.updateStatus()));
    this.updateStatus();

    this.views = this.createViews();

    // Chart panels: their serializers restore open charts after a window reload (package.json
    // activates the extension on `onWebviewPanel:` for that); compare pickers offer the Runs view's runs.
    this.chartPanels = this.own(
      new ChartPanels(context, {
        log: (level, message) => this.log[level](message),
        listRuns: async () => {
          const s = this.settings();
          return s ? (await scanRuns(outputFolders(s).runs)).filter((r) => r.kind === 'run').map((r) => r.path) : [];
        },
      }),
    );
    this.disposables.push(...this.chartPanels.register());
    const charts: ChartOpener = {
      openChart: (file) => this.chartPanels.openChart(file),
      openRunChart: (file) => this.chartPanels.openRunChart(file),
      openDirectionChart: (file) => this.chartPanels.openDirectionChart(file),
    };

    this.own(vscode.workspace.registerTextDocumentContentProvider(RECORD_SCHEME, { provideTextDocumentContent: (uri) => this.recordDocument(uri) }));

    this.commands = new LayerLabCommands({
      client: this.client,
      settings: () => this.settings(),
      log: this.log,
      workspaceState: context.workspaceState,
      views: this.views,
      selection: (view) => this.treeViews[view].selection[0],
      charts,
    });
    this.disposables.push(...this.commands.register());

    // Probing: Logit Lens, Show Projection (on the editor text) and Steer & Compare.
    const decorations = this.own(new ProjectionDecorations());
    let probe: ProbeCommands | undefined;
    this.probePanels = this.own(
      new ProbePanels(context, {
        log: (level, message) => this.log[level](message),
        compare: { run: (p) => probe!.compareRunner().run(p), pickVector: () => probe!.compareRunner().pickVector() },
        modelFields: (model) => probe!.modelFields(model),
        onProjectionLayer: (hook) => {
          const i = decorations.current?.result.hooks.indexOf(hook) ?? -1;
          if (i >= 0) decorations.setLayer(i);
        },
      }),
    );
    decorations.onLayerChange = (hook) => this.probePanels.projectionLayer(hook);
    this.disposables.push(...this.probePanels.register());
    probe = this.probe = new ProbeCommands({
      client: this.client,
      settings: () => this.settings(),
      log: this.log,
      workspaceState: context.workspaceState,
      chooseModel: () => this.commands.chooseModel(),
      panels: this.probePanels,
      decorations,
    });
    this.disposables.push(...this.probe.register());
    this.thinking = registerThinking({ extensionUri: context.extensionUri, commands: this.commands, settings: () => this.settings(), log: (level, message) => this.log[level](message) });
    this.disposables.push(...this.thinking.disposables);

    this.watch();
    this.own(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration('layerlab')) return;
        this.watch();
        this.thinking.rewatch();
        this.refreshViews();
        this.thinking.view.refresh();
      }),
    );
    this.own(
      vscode.workspace.onDidChangeWorkspaceFolders(() => {
        this.watch();
        this.refreshViews();
      }),
    );
    this.log.info(`LayerLab activated (${vscode.workspace.isTrusted ? 'trusted' : 'untrusted: browsing only'} workspace ${this.workspaceRoot() ?? '(no folder)'})`);
  }

  private treeViews = {} as Record<ViewName, vscode.TreeView<TreeNodeData>>;

  private own<T extends vscode.Disposable>(d: T): T {
    this.disposables.push(d);
    return d;
  }

  private workspaceRoot(): string | undefined {
    return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  }

  settings(): LayerLabSettings | undefined {
    const root = this.workspaceRoot();
    if (!root) return undefined;
    const c = vscode.workspace.getConfiguration('layerlab');
    const raw: RawSettings = {
      modelsPath: c.get('modelsPath'),
      datasetsPath: c.get('datasetsPath'),
      outputPath: c.get('outputPath'),
      provider: c.get('provider'),
      weights: c.get('weights'),
      threads: c.get('threads'),
      batchSize: c.get('batchSize'),
      nodePath: c.get('nodePath'),
    };
    return resolveSettings(raw, root);
  }

  charts(): ReturnType<LayerLabApi['charts']> {
    return this.chartPanels.panels().map((p) => ({
      page: p.page,
      file: 'runPath' in p ? p.runPath : p.statsPath,
      title: p.panel.title,
      visible: p.panel.visible,
    }));
  }

  private updateStatus(): void {
    const rt = this.client;
    const v = statusBarView({ state: rt.state, trusted: vscode.workspace.isTrusted, gaveUp: rt.gaveUp, model: rt.model, progress: rt.progress });
    this.status.text = v.text;
    this.status.tooltip = v.tooltip;
    this.status.command = v.command;
    this.status.backgroundColor = v.alert ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.status.show();
  }

  /** Only a runtime that is already running is asked for details: browsing starts nothing (nor runs anything untrusted). */
  private canAskRuntime(): boolean {
    return vscode.workspace.isTrusted && isRunning(this.client.state);
  }

  private createViews(): Record<ViewName, NodeTreeProvider> {
    const rt = this.client;
    /** The runtime read the file and said what is wrong with it (not: the runtime went away). */
    const isAnsweredFailure = (e: unknown) => e instanceof RuntimeRequestError && ['data', 'io', 'usage', 'model'].includes(e.kind);
    const onLoadError = (view: string, e: Error) => this.log.error(`${view}: ${e.message}`);
    const noFolder = async (): Promise<TreeNodeData[]> => [];
    const views: Record<ViewName, NodeTreeProvider> = {
      models: new NodeTreeProvider(
        'layerlab.models',
        async () => {
          const s = this.settings();
          if (!s) return noFolder();
          const entries = await scanModels(s.modelsPath);
          const { values: facts, errors: factErrors } = this.canAskRuntime()
            ? await this.modelAnswers.getAll(entries, (p) => rt.describeModel(modelRef(p, s)), isAnsweredFailure, (name, e) => this.log.warn(`models: ${name}: ${e.message}`))
            : { values: new Map<string, ModelFacts>(), errors: new Map<string, string>() };
          return modelNodes(entries, { facts, factErrors, loaded: rt.model, selectedPath: this.context.workspaceState.get<string>(SELECTED_MODEL_KEY) });
        },
        onLoadError,
      ),
      datasets: new NodeTreeProvider(
        'layerlab.datasets',
        async () => {
          const s = this.settings();
          if (!s) return noFolder();
          const entries = await scanDatasets(s.datasetsPath);
          const { values: found, errors } = this.canAskRuntime()
            ? await this.datasetAnswers.getAll(entries, (file) => rt.inspectDataset({ file }), isAnsweredFailure, (name, e) => this.log.warn(`datasets: ${name}: ${e.message}`))
            : { values: new Map<string, DatasetInspection>(), errors: new Map<string, string>() };
          return datasetNodes(entries, found, errors);
        },
        onLoadError,
      ),
      cache: new NodeTreeProvider(
        'layerlab.cache',
        async () => {
          const s = this.settings();
          if (!s) return noFolder();
          const dir = outputFolders(s).cache;
          if (this.canAskRuntime()) return cacheNodes(await rt.listCaches(dir));
          const why = vscode.workspace.isTrusted ? 'details appear once the LayerLab runtime is running' : 'details need a trusted workspace';
          return cacheFileNodes(await scanFiles(dir, CACHE_FILE_RE), why);
        },
        onLoadError,
      ),
      runs: new NodeTreeProvider(
        'layerlab.runs',
        async () => {
          const s = this.settings();
          return s ? runNodes(await scanRuns(outputFolders(s).runs)) : noFolder();
        },
        onLoadError,
      ),
    };
    for (const [name, provider] of Object.entries(views) as [ViewName, NodeTreeProvider][]) {
      this.treeViews[name] = vscode.window.createTreeView(provider.viewId, { treeDataProvider: provider, showCollapseAll: name !== 'datasets' });
      this.own(provider);
      this.own(this.treeViews[name]);
    }

    // A model change or a (re)start changes what the Models, Datasets and Cache views can show.
    let lastState = rt.state;
    let lastModel = rt.model;
    this.own(
      rt.onDidChangeState(() => {
        const runningChanged = isRunning(rt.state) !== isRunning(lastState);
        if (rt.model !== lastModel || runningChanged) views.models.refresh();
        if (runningChanged) {
          views.cache.refresh();
          views.datasets.refresh();
        }
        lastState = rt.state;
        lastModel = rt.model;
      }),
    );
    return views;
  }

  private refreshViews(): void {
    for (const v of Object.values(this.views)) v.refresh();
  }

  /** Watches the configured folders; called again when the settings change. */
  private watch(): void {
    for (const w of this.watchers) w.dispose();
    this.watchers = [];
    const s = this.settings();
    if (!s) return;
    const f = outputFolders(s);
    this.watchers.push(
      watchFolder(s.modelsPath, () => this.views.models.refreshSoon()),
      watchFolder(s.datasetsPath, () => this.views.datasets.refreshSoon()),
      watchFolder(f.cache, () => this.views.cache.refreshSoon()),
      watchFolder(f.runs, () => this.views.runs.refreshSoon()),
    );
  }

  /** A dataset record as a read-only virtual document, served by the running runtime. */
  private async recordDocument(uri: vscode.Uri): Promise<string> {
    const q = parseRecordQuery(uri.query);
    if (!q) return '// not a LayerLab record address\n';
    if (!isRunning(this.client.state)) return recordDocumentText(q.file, q.id, undefined, 'the LayerLab runtime is not running: start it to see this record');
    try {
      return recordDocumentText(q.file, q.id, await this.client.inspectDataset({ file: q.file, recordId: q.id, limit: 0 }));
    } catch (e) {
      return recordDocumentText(q.file, q.id, undefined, `cannot read the record: ${(e as Error).message}`);
    }
  }

  /** Graceful: the runtime gets `shutdown` and `exit` (and is killed if it does not comply), then everything else goes. */
  async dispose(): Promise<void> {
    await this.client.dispose();
    for (const w of this.watchers) w.dispose();
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
  }
}

let instance: LayerLab | undefined;

export function activate(context: vscode.ExtensionContext): LayerLabApi {
  return activateWith(context);
}

export function activateWith(context: vscode.ExtensionContext, opts: ActivateOptions = {}): LayerLabApi {
  instance = new LayerLab(context, opts);
  return instance;
}

export async function deactivate(): Promise<void> {
  await instance?.dispose();
  instance = undefined;
}
