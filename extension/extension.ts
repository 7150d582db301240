/**
 * Activation: wires the runtime client, the LayerLab output channel, the status-bar item, the
 * sidebar views, the chart panels and the commands together. Everything with a decision in it lives in the plain
 * modules beside this one; this file only connects them to the VS Code API.
 */
import * as vscode from 'vscode';
import type { DatasetInspection } from '../runtime/protocol/requests';
import { openChart, openChartPanels, openDirectionChart, openRunChart, registerChartPanels } from './chartPanel';
import { LayerLabCommands, type ChartOpener, type ViewName } from './commands';
import { statusBarView } from './presentation';
import { RuntimeClient, RuntimeRequestError, type Spawner } from './runtimeClient';
import { DatasetInspections, parseRecordQuery, RECORD_SCHEME, recordDocumentText } from './datasetInspection';
import { isRunning } from './runtimeState';
import { outputFolders, resolveSettings, type LayerLabSettings, type RawSettings } from './settings';
import { nodeSpawner } from './spawn';
import { cacheFileNodes, cacheNodes, datasetNodes, modelNodes, runNodes, type TreeNodeData } from './treeData';
import { NodeTreeProvider, watchFolder } from './views';
import { CACHE_FILE_RE, scanDatasets, scanFiles, scanModels, scanRuns } from './workspaceScan';

/** What activate() returns: the extension's parts, for the VS Code test suites. */
export interface LayerLabApi {
  client: RuntimeClient;
  views: Record<ViewName, NodeTreeProvider>;
  settings(): LayerLabSettings | undefined;
  commands: LayerLabCommands;
  /** The chart panels open now: which page shows which file (for the VS Code test suites). */
  charts(): { page: 'run' | 'directions'; file: string; title: string; visible: boolean }[];
}

/** Seams for the unit tests (a fake runtime); VS Code always uses the defaults. */
export interface ActivateOptions {
  spawner?: Spawner;
}

let client: RuntimeClient | undefined;

export function activate(context: vscode.ExtensionContext): LayerLabApi {
  return activateWith(context);
}

export function activateWith(context: vscode.ExtensionContext, opts: ActivateOptions = {}): LayerLabApi {
  const log = vscode.window.createOutputChannel('LayerLab', { log: true });
  context.subscriptions.push(log);

  const workspaceRoot = () => vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const settings = (): LayerLabSettings | undefined => {
    const root = workspaceRoot();
    if (!root) return undefined;
    const c = vscode.workspace.getConfiguration('layerlab');
    const raw: RawSettings = {
      modelsPath: c.get('modelsPath'),
      datasetsPath: c.get('datasetsPath'),
      outputPath: c.get('outputPath'),
      provider: c.get('provider'),
      threads: c.get('threads'),
      batchSize: c.get('batchSize'),
      nodePath: c.get('nodePath'),
    };
    return resolveSettings(raw, root);
  };

  const spawner =
    opts.spawner ??
    nodeSpawner(() => ({
      nodePath: settings()?.nodePath,
      execPath: process.execPath,
      runtimeScript: context.asAbsolutePath('dist/runtime.js'),
      cwd: workspaceRoot() ?? context.extensionPath,
      parentPid: process.pid,
      env: process.env,
    }));

  client = new RuntimeClient({
    spawn: spawner,
    clientName: `${vscode.env.appName} ${vscode.version}`,
    log: (level, message) => log[level](message),
    onGaveUp: (message) => {
      void vscode.window.showErrorMessage(message, 'Restart Runtime', 'Show Runtime Log').then((a) => {
        if (a === 'Restart Runtime') void vscode.commands.executeCommand('layerlab.restartRuntime');
        if (a === 'Show Runtime Log') log.show();
      });
    },
  });
  const rt = client;
  context.subscriptions.push({ dispose: () => void rt.dispose() });

  // Status bar: runtime state, provider and model.
  const status = vscode.window.createStatusBarItem('layerlab.status', vscode.StatusBarAlignment.Left, 10);
  status.name = 'LayerLab';
  const updateStatus = () => {
    const v = statusBarView({ state: rt.state, trusted: vscode.workspace.isTrusted, gaveUp: rt.gaveUp, model: rt.model, progress: rt.progress });
    status.text = v.text;
    status.tooltip = v.tooltip;
    status.command = v.command;
    status.backgroundColor = v.alert ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    status.show();
  };
  context.subscriptions.push(status, rt.onDidChangeState(updateStatus), rt.onDidProgress(updateStatus));
  context.subscriptions.push(vscode.workspace.onDidGrantWorkspaceTrust(updateStatus));
  updateStatus();

  // Views.
  const inspections = new DatasetInspections();
  /** The runtime loaded the file and said what is wrong with it (not: the runtime went away). */
  const isAnsweredFailure = (e: unknown) => e instanceof RuntimeRequestError && ['data', 'io', 'usage'].includes(e.kind);
  const onLoadError = (view: string, e: Error) => log.error(`${view}: ${e.message}`);
  const noFolder = async (): Promise<TreeNodeData[]> => [];
  const views: Record<ViewName, NodeTreeProvider> = {
    models: new NodeTreeProvider(
      'layerlab.models',
      async () => {
        const s = settings();
        return s ? modelNodes(await scanModels(s.modelsPath), rt.model, context.workspaceState.get<string>('layerlab.selectedModel')) : noFolder();
      },
      onLoadError,
    ),
    datasets: new NodeTreeProvider('layerlab.datasets', async () => {
      const s = settings();
      if (!s) return noFolder();
      const entries = await scanDatasets(s.datasetsPath);
      const found = new Map<string, DatasetInspection>();
      const errors = new Map<string, string>();
      // As for caches: only a runtime already running is asked (browsing starts nothing), and
      // its answers are kept per file and modification time.
      if (vscode.workspace.isTrusted && isRunning(rt.state)) {
        await Promise.all(
          entries.map(async (e) => {
            try {
              const r = await inspections.get(e.path, (p) => rt.inspectDataset(p), isAnsweredFailure);
              if (r.ok) found.set(e.path, r.inspection);
              else errors.set(e.path, r.error);
            } catch (err) {
              log.warn(`datasets: ${e.name}: ${(err as Error).message}`);
            }
          }),
        );
      }
      return datasetNodes(entries, found, errors);
    }, onLoadError),
    cache: new NodeTreeProvider('layerlab.cache', async () => {
      const s = settings();
      if (!s) return noFolder();
      const dir = outputFolders(s).cache;
      // Only a runtime that is already running is asked for details: browsing must not start
      // a process (nor run anything in an untrusted workspace).
      if (vscode.workspace.isTrusted && isRunning(rt.state)) {
        try {
          return cacheNodes(await rt.listCaches(dir));
        } catch (e) {
          if (!(e instanceof RuntimeRequestError && e.kind === 'unavailable')) throw e;
          return cacheFileNodes(await scanFiles(dir, CACHE_FILE_RE), e.message);
        }
      }
      const why = vscode.workspace.isTrusted ? 'details appear once the LayerLab runtime is running' : 'details need a trusted workspace';
      return cacheFileNodes(await scanFiles(dir, CACHE_FILE_RE), why);
    }, onLoadError),
    runs: new NodeTreeProvider('layerlab.runs', async () => {
      const s = settings();
      if (!s) return noFolder();
      return runNodes(await scanRuns(outputFolders(s).runs));
    }, onLoadError),
  };
  const treeViews = {} as Record<ViewName, vscode.TreeView<TreeNodeData>>;
  for (const [name, provider] of Object.entries(views) as [ViewName, NodeTreeProvider][]) {
    treeViews[name] = vscode.window.createTreeView(provider.viewId, { treeDataProvider: provider, showCollapseAll: name !== 'datasets' });
    context.subscriptions.push(provider, treeViews[name]);
  }

  // A model load or a (re)start changes what the Models and cache views can show.
  let lastState = rt.state;
  let lastModel = rt.model;
  context.subscriptions.push(
    rt.onDidChangeState(() => {
      if (rt.model !== lastModel) views.models.refresh();
      if (isRunning(rt.state) !== isRunning(lastState)) {
        views.cache.refresh();
        views.datasets.refresh();
      }
      lastState = rt.state;
      lastModel = rt.model;
    }),
  );

  // Watch the configured folders; re-watch when the settings change.
  let watchers: vscode.Disposable[] = [];
  const watch = () => {
    for (const w of watchers) w.dispose();
    watchers = [];
    const s = settings();
    if (!s) return;
    const f = outputFolders(s);
    watchers.push(
      watchFolder(s.modelsPath, () => views.models.refreshSoon()),
      watchFolder(s.datasetsPath, () => views.datasets.refreshSoon()),
      watchFolder(f.cache, () => views.cache.refreshSoon()),
      watchFolder(f.runs, () => views.runs.refreshSoon()),
    );
  };
  watch();
  context.subscriptions.push(
    { dispose: () => watchers.forEach((w) => w.dispose()) },
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('layerlab')) return;
      watch();
      for (const v of Object.values(views)) v.refresh();
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => {
      watch();
      for (const v of Object.values(views)) v.refresh();
    }),
  );

  // Dataset records open as read-only virtual documents, served by the running runtime.
  context.subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider(RECORD_SCHEME, {
      async provideTextDocumentContent(uri) {
        const q = parseRecordQuery(uri.query);
        if (!q) return '// not a LayerLab record address\n';
        if (!isRunning(rt.state)) return recordDocumentText(q.file, q.id, undefined, 'the LayerLab runtime is not running: start it to see this record');
        try {
          return recordDocumentText(q.file, q.id, await rt.inspectDataset({ file: q.file, recordId: q.id, limit: 0 }));
        } catch (e) {
          return recordDocumentText(q.file, q.id, undefined, `cannot read the record: ${(e as Error).message}`);
        }
      },
    }),
  );

  // Chart panels: their serializers restore open charts after a window reload (package.json
  // activates the extension on `onWebviewPanel:` for that); compare pickers offer the Runs view's runs.
  context.subscriptions.push(
    ...registerChartPanels(context, {
      log: (level, message) => log[level](message),
      listRuns: async () => {
        const s = settings();
        return s ? (await scanRuns(outputFolders(s).runs)).filter((r) => r.kind === 'run').map((r) => r.path) : [];
      },
    }),
  );
  const charts: ChartOpener = {
    openChart: (file) => openChart(context, file),
    openRunChart: (file) => openRunChart(context, file),
    openDirectionChart: (file) => openDirectionChart(context, file),
  };

  const commands = new LayerLabCommands({
    client: rt,
    settings,
    log,
    workspaceState: context.workspaceState,
    views,
    selection: (view) => treeViews[view].selection[0],
    charts,
  });
  context.subscriptions.push(...commands.register());

  log.info(`LayerLab activated (${vscode.workspace.isTrusted ? 'trusted' : 'untrusted: browsing only'} workspace ${workspaceRoot() ?? '(no folder)'})`);
  const chartList = () =>
    openChartPanels().map((p) => ({
      page: p.page,
      file: 'runPath' in p ? p.runPath : p.statsPath,
      title: p.panel.title,
      visible: p.panel.visible,
    }));
  return { client: rt, views, settings, commands, charts: chartList };
}

export async function deactivate(): Promise<void> {
  // Graceful: the runtime gets `shutdown` and `exit`, and is killed if it does not comply.
  await client?.dispose();
  client = undefined;
}
