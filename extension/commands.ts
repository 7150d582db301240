/**
 * The palette commands. Each takes what it was given (a tree node from a context menu, a path
 * from another command or a test), fills the rest from the tree selection and the settings,
 * asks only for what is still missing, then runs the job — typed params in, typed result out —
 * with a cancellable progress notification fed by the job's work-done progress. The params are
 * logged as the job's CLI twin (`layerlab …`). When a job has written something to look at, the
 * message offers the next step (Compute Directions, Open Chart).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { cliLine, defaultOf } from '../runtime/protocol/argv';
import { describeProgress, evaluateJob, JOBS, type JobName, type JobParamsIn, type JobResult } from '../runtime/protocol/jobs';
import type { HookChoice } from '../runtime/protocol/results';
import { DEMO_MODEL_NAME } from '../runtime/protocol/workspace';
import { batchSizeOf, middleLayer, modelRef, parseLayerList, parseScale } from './jobParams';
import { COMMANDS_NEEDING_TRUST, describeFailure, progressStep, untrustedMessage } from './presentation';
import type { RuntimeClient } from './runtimeClient';
import { outputFolders, type LayerLabSettings } from './settings';
import { RECORD_SCHEME, recordQuery } from './recordDocument';
import type { TreeNodeData } from './treeData';
import type { NodeTreeProvider } from './views';
import { CACHE_FILE_RE, directionStatsPathOf, scanDatasets, scanFiles, scanModels, scanRuns } from './workspaceScan';

/** The palette commands, with their titles (package.json declares the same, category LayerLab). */
export const PALETTE_COMMANDS = {
  'layerlab.saveHiddenStates': 'Save Hidden States',
  'layerlab.computeDirections': 'Compute Directions',
  'layerlab.evaluate': 'Evaluate Accuracy with Intervention',
  'layerlab.sweep': 'Run Layer Sweep',
  'layerlab.openRunChart': 'Open Run Chart',
  'layerlab.chartDirections': 'Chart Direction Quality',
  'layerlab.selectModel': 'Select Model',
  'layerlab.addDataset': 'Add Dataset',
  'layerlab.restartRuntime': 'Restart Runtime',
  'layerlab.showLog': 'Show Runtime Log',
  'layerlab.runDemo': 'Run Demo',
} as const;

/** Commands for view titles, context menus and item clicks (hidden from the palette). */
export const INTERNAL_COMMANDS = {
  'layerlab.refreshViews': 'Refresh',
  'layerlab.openDataset': 'Open Dataset (read-only)',
  'layerlab.openRecord': 'Open Record (read-only)',
  'layerlab.revealFile': 'Reveal in File Explorer',
} as const;

export type CommandId = keyof typeof PALETTE_COMMANDS | keyof typeof INTERNAL_COMMANDS;

export type ViewName = 'models' | 'datasets' | 'cache' | 'runs';

/** Opens chart panels: chartPanel.ts in VS Code, a recorder in unit tests. */
export interface ChartOpener {
  /** A run file or a directions statistics file: the page is chosen by the file's format. */
  openChart(file: string): Promise<unknown>;
  openRunChart(runFile: string): Promise<unknown>;
  openDirectionChart(statsFile: string): Promise<unknown>;
}

export interface CommandDeps {
  client: Pick<RuntimeClient, 'runJob' | 'describeModel' | 'restart' | 'model' | 'info'>;
  /** Undefined when no folder is open. */
  settings(): LayerLabSettings | undefined;
  log: Pick<vscode.LogOutputChannel, 'info' | 'warn' | 'error' | 'show'>;
  workspaceState: vscode.Memento;
  views: Record<ViewName, NodeTreeProvider>;
  /** The selected node of a tree view, if any. */
  selection(view: ViewName): TreeNodeData | undefined;
  charts: ChartOpener;
}

/** A command argument: a tree node (context menu), a path, or a vscode.Uri (explorer menus). */
type Target = TreeNodeData | string | vscode.Uri | undefined;

/** Thrown to end a command quietly (the user dismissed a prompt). */
export class Dismissed extends Error {}

/** Thrown when a command cannot go on; shown as an error with optional actions. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly actions: { title: string; command: string }[] = [],
  ) {
    super(message);
  }
}

const SELECTED_MODEL_KEY = 'layerlab.selectedModel';

export class LayerLabCommands {
  constructor(private readonly d: CommandDeps) {}

  register(): vscode.Disposable[] {
    const handlers: Record<CommandId, (arg?: Target) => Promise<unknown>> = {
      'layerlab.saveHiddenStates': (a) => this.saveHiddenStates(a),
      'layerlab.computeDirections': (a) => this.computeDirections(a),
      'layerlab.evaluate': (a) => this.evaluate(a),
      'layerlab.sweep': (a) => this.sweep(a),
      'layerlab.openRunChart': (a) => this.openRunChart(a),
      'layerlab.chartDirections': (a) => this.chartDirections(a),
      'layerlab.selectModel': (a) => this.selectModel(a),
      'layerlab.addDataset': (a) => this.addDataset(a),
      'layerlab.restartRuntime': () => this.restartRuntime(),
      'layerlab.showLog': async () => this.d.log.show(),
      'layerlab.runDemo': () => this.runDemo(),
      'layerlab.refreshViews': async () => this.refreshAll(),
      'layerlab.openDataset': (a) => this.openDataset(a),
      'layerlab.openRecord': (a) => this.openRecord(a),
      'layerlab.revealFile': (a) => this.revealFile(a),
    };
    return Object.entries(handlers).map(([id, fn]) => vscode.commands.registerCommand(id, (arg?: Target) => this.guard(id as CommandId, () => fn(arg))));
  }

  /** Trust check and error reporting around every command; returns the command's result. */
  private async guard<T>(id: CommandId, fn: () => Promise<T>): Promise<T | undefined> {
    const title = (PALETTE_COMMANDS as Record<string, string>)[id] ?? (INTERNAL_COMMANDS as Record<string, string>)[id];
    return this.guarded(title, COMMANDS_NEEDING_TRUST.has(id), fn);
  }

  /**
   * The same trust check and error reporting for commands defined elsewhere (the reasoning
   * behaviours' commands, extension/thinking/commands.ts).
   */
  async guarded<T>(title: string, needsTrust: boolean, fn: () => Promise<T>): Promise<T | undefined> {
    if (needsTrust && !vscode.workspace.isTrusted) {
      void vscode.window.showWarningMessage(untrustedMessage(title), 'Manage Workspace Trust').then((a) => {
        if (a) void vscode.commands.executeCommand('workbench.trust.manage');
      });
      return undefined;
    }
    try {
      return await fn();
    } catch (e) {
      if (e instanceof Dismissed) return undefined;
      if (e instanceof CommandError) {
        this.d.log.warn(`${title}: ${e.message}`);
        void this.showWithActions('error', `LayerLab: ${e.message}`, e.actions);
        return undefined;
      }
      const view = describeFailure(title, e as Error);
      (view.severity === 'error' ? this.d.log.error : this.d.log.info).call(this.d.log, view.message);
      void this.showWithActions(view.severity, view.message, view.actions);
      return undefined;
    }
  }

  private async showWithActions(severity: 'info' | 'warning' | 'error', message: string, actions: { title: string; command: string }[]): Promise<void> {
    const show =
      severity === 'error' ? vscode.window.showErrorMessage : severity === 'warning' ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    const picked = await show(message, ...actions.map((a) => a.title));
    const action = actions.find((a) => a.title === picked);
    if (action) await vscode.commands.executeCommand(action.command);
  }

  private settings(): LayerLabSettings {
    const s = this.d.settings();
    if (!s) throw new CommandError('open a folder first: LayerLab keeps its models, datasets and results in the workspace folder.');
    return s;
  }

  refreshAll(): void {
    for (const v of Object.values(this.d.views)) v.refresh();
  }

  // -------------------------------------------------------------------------------------------
  // Inputs

  private static pathOf(t: Target): string | undefined {
    if (!t) return undefined;
    if (typeof t === 'string') return t;
    if (t instanceof vscode.Uri) return t.fsPath;
    return t.resourcePath;
  }

  /** The target if it is of one of `kinds`, else the view's selection if it is. */
  private fromContext(t: Target, view: ViewName, kinds: TreeNodeData['kind'][]): string | undefined {
    if (typeof t === 'string' || t instanceof vscode.Uri) return LayerLabCommands.pathOf(t);
    if (t && kinds.includes(t.kind)) return t.resourcePath;
    const sel = this.d.selection(view);
    return sel && kinds.includes(sel.kind) ? sel.resourcePath : undefined;
  }

  private async pick<T extends vscode.QuickPickItem>(items: T[], placeHolder: string, activeIndex = 0): Promise<T> {
    // showQuickPick has no "active item" option; the default goes first instead.
    const ordered = activeIndex > 0 ? [items[activeIndex], ...items.slice(0, activeIndex), ...items.slice(activeIndex + 1)] : items;
    const picked = await vscode.window.showQuickPick(ordered, { placeHolder, ignoreFocusOut: true });
    if (!picked) throw new Dismissed();
    return picked;
  }

  private async input(prompt: string, value: string, validate: (v: string) => string | undefined): Promise<string> {
    const v = await vscode.window.showInputBox({ prompt, value, ignoreFocusOut: true, validateInput: validate });
    if (v === undefined) throw new Dismissed();
    return v;
  }

  /** The model to use: given, selected in the Models view, chosen earlier, the only one, or asked. */
  async model(t: Target, ask = false): Promise<string> {
    const s = this.settings();
    const given = this.fromContext(t, 'models', ['model']);
    if (given && !ask) return given;
    const remembered = this.d.workspaceState.get<string>(SELECTED_MODEL_KEY);
    const models = await scanModels(s.modelsPath);
    if (!ask) {
      if (remembered && fs.existsSync(remembered)) return remembered;
      if (models.length === 1) return models[0].path;
    }
    const browse = { label: '$(folder-opened) Browse…', description: 'a Hugging Face folder or a llama2.c .bin anywhere', path: '' };
    const items = [
      ...models.map((m) => ({
        label: m.name,
        description: m.format === 'llama2c' ? 'llama2.c checkpoint' : 'Hugging Face folder',
        detail: m.path,
        path: m.path,
      })),
      browse,
    ];
    if (models.length === 0 && !ask) {
      throw new CommandError(`no models in ${s.modelsPath}. Run the demo to create one, or select a model folder.`, [
        { title: 'Run Demo', command: 'layerlab.runDemo' },
        { title: 'Select Model', command: 'layerlab.selectModel' },
      ]);
    }
    const current = Math.max(0, items.findIndex((i) => i.path && remembered && path.resolve(i.path) === path.resolve(remembered)));
    const picked = await this.pick(items, `Model (from ${s.modelsPath})`, current);
    if (picked !== browse) return picked.path;
    const uris = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: true, canSelectMany: false, openLabel: 'Use Model' });
    if (!uris?.length) throw new Dismissed();
    return uris[0].fsPath;
  }

  private async dataset(t: Target): Promise<string> {
    const s = this.settings();
    const given = this.fromContext(t, 'datasets', ['dataset']);
    if (given) return given;
    const sets = await scanDatasets(s.datasetsPath);
    if (sets.length === 0) {
      throw new CommandError(`no datasets in ${s.datasetsPath}. Add one (JSON, JSONL or Parquet) first.`, [{ title: 'Add Dataset', command: 'layerlab.addDataset' }]);
    }
    if (sets.length === 1) return sets[0].path;
    const picked = await this.pick(
      sets.map((d) => ({ label: d.name, description: d.records !== undefined ? `${d.records} records` : d.format, path: d.path })),
      `Dataset (from ${s.datasetsPath})`,
    );
    return picked.path;
  }

  private async cacheFile(t: Target): Promise<string> {
    const s = this.settings();
    const given = this.fromContext(t, 'cache', ['cacheEntry', 'cacheFile', 'cacheHook']);
    if (given) return given;
    const dir = outputFolders(s).cache;
    const files = await scanFiles(dir, CACHE_FILE_RE);
    if (files.length === 0) {
      throw new CommandError(`no hidden-state caches in ${dir}. Save hidden states first.`, [{ title: 'Save Hidden States', command: 'layerlab.saveHiddenStates' }]);
    }
    if (files.length === 1) return files[0].path;
    const picked = await this.pick(
      files.map((f) => ({ label: f.name, description: new Date(f.mtimeMs).toLocaleString(), path: f.path })),
      'Hidden-state cache',
    );
    return picked.path;
  }

  /**
   * Blocks of a model as the runtime counts them (huginn-0125 at its default 32 steps: 132),
   * read from its config without loading it; undefined when the runtime cannot say.
   */
  private async blocksOf(model: string): Promise<number | undefined> {
    try {
      return (await this.d.client.describeModel(modelRef(model, this.settings()))).nBlocks;
    } catch (e) {
      this.d.log.warn(`could not read the blocks of ${model}: ${(e as Error).message}`);
      return undefined;
    }
  }

  private async layers(model: string): Promise<number[]> {
    const n = await this.blocksOf(model);
    const text = await this.input(
      `Layers (blocks) to intervene at${n ? `: 0..${n - 1}` : ''}, e.g. 12, 10-14 or 4 8 12`,
      String(n ? middleLayer(n) : 0),
      (v) => {
        const r = parseLayerList(v, n);
        return typeof r === 'string' ? r : undefined;
      },
    );
    return parseLayerList(text, n) as number[];
  }

  private async hook(): Promise<HookChoice> {
    const items = [
      { label: 'post', description: 'edit the output of each block (hook_resid_post; where the cache was read)', value: 'post' as HookChoice },
      { label: 'pre', description: 'edit the input of each block (hook_resid_pre)', value: 'pre' as HookChoice },
    ];
    return (await this.pick(items, 'Where to intervene')).value;
  }

  private async scale(): Promise<number> {
    const text = await this.input('Scale of the projection along the direction (x ← x + scale·(x·d̂)·d̂)', String(defaultOf(evaluateJob, 'scale')), (v) => {
      const r = parseScale(v);
      return typeof r === 'string' ? r : undefined;
    });
    return parseScale(text) as number;
  }

  // -------------------------------------------------------------------------------------------
  // Running jobs

  /**
   * Runs a job under a cancellable progress notification (Cancel sends `$/cancelRequest`),
   * after logging its CLI twin, and refreshes the views however it ends.
   */
  async runJob<N extends JobName>(title: string, name: N, params: JobParamsIn<N>): Promise<JobResult<N>> {
    this.d.log.info(`${title}: ${cliLine(JOBS[name], params as Record<string, unknown>)}`);
    const t0 = Date.now();
    try {
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `LayerLab: ${title}`, cancellable: true },
        async (progress, token) => {
          let percent = 0;
          return this.d.client.runJob(name, params, {
            token,
            onProgress: (p) => {
              const step = progressStep(percent, p);
              percent = step.percent;
              progress.report({ increment: step.increment, message: describeProgress(p) });
            },
          });
        },
      );
    } finally {
      this.d.log.info(`${title} ended after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      this.refreshAll();
    }
  }

  /**
   * An information message whose buttons run the next step, through the same trust check and
   * error reporting as a command. Not awaited by the command that shows it: a command is done
   * when its job is, whether or not the user answers.
   */
  private offer(message: string, actions: { title: string; id: CommandId; run: () => Promise<unknown> }[] = []): void {
    void Promise.resolve(vscode.window.showInformationMessage(message, ...actions.map((a) => a.title))).then(async (picked) => {
      const action = actions.find((a) => a.title === picked);
      if (action) await this.guard(action.id, action.run);
    });
  }

  private openChartAction(file: string): { title: string; id: CommandId; run: () => Promise<unknown> } {
    return { title: 'Open Chart', id: 'layerlab.openRunChart', run: () => this.d.charts.openChart(file) };
  }

  /** A path relative to the workspace folder, for messages. */
  private rel(file: string): string {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const r = root ? path.relative(root, file) : '';
    return r && !r.startsWith('..') && !path.isAbsolute(r) ? r : file;
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  async saveHiddenStates(t?: Target): Promise<JobResult<'save-hidden-states'>> {
    const s = this.settings();
    const model = await this.model(t);
    const dataFile = await this.dataset(t);
    const r = await this.runJob(PALETTE_COMMANDS['layerlab.saveHiddenStates'], 'save-hidden-states', {
      ...modelRef(model, s),
      dataFilePath: dataFile,
      outputPath: outputFolders(s).cache,
      ...batchSizeOf('dataBatchSize', s),
    });
    this.offer(`LayerLab: hidden states of ${path.basename(dataFile)} saved to ${this.rel(r.cacheFile)}.`, [
      { title: 'Compute Directions', id: 'layerlab.computeDirections', run: () => this.computeDirections(r.cacheFile) },
    ]);
    return r;
  }

  async computeDirections(t?: Target, opts: { openChart?: boolean } = {}): Promise<JobResult<'compute-directions'>> {
    const cacheFile = await this.cacheFile(t);
    const r = await this.runJob(PALETTE_COMMANDS['layerlab.computeDirections'], 'compute-directions', { cache: cacheFile });
    if (opts.openChart) {
      await this.d.charts.openDirectionChart(r.statsFile);
      return r;
    }
    this.offer(`LayerLab: directions computed from ${path.basename(cacheFile)}.`, [this.openChartAction(r.statsFile)]);
    return r;
  }

  /**
   * Direction quality per layer (AUC, Cohen's d, held-out) of a cache: the chart of the
   * statistics compute-directions wrote beside it, or an offer to compute them.
   */
  async chartDirections(t?: Target): Promise<string | undefined> {
    const cacheFile = await this.cacheFile(t);
    const stats = directionStatsPathOf(cacheFile);
    if (fs.existsSync(stats)) {
      await this.d.charts.openDirectionChart(stats);
      return stats;
    }
    this.offer(`LayerLab: no directions have been computed from ${path.basename(cacheFile)} yet.`, [
      { title: 'Compute Directions', id: 'layerlab.computeDirections', run: () => this.computeDirections(cacheFile, { openChart: true }) },
    ]);
    return undefined;
  }

  async evaluate(t?: Target): Promise<JobResult<'evaluate'>> {
    const s = this.settings();
    const model = await this.model(t);
    const dataFile = await this.dataset(t);
    const cacheFile = await this.cacheFile(t);
    const layers = await this.layers(model);
    const hook = await this.hook();
    const scale = await this.scale();
    const r = await this.runJob(PALETTE_COMMANDS['layerlab.evaluate'], 'evaluate', {
      ...modelRef(model, s),
      hiddenStatesCachePath: cacheFile,
      dataFile,
      withIntervention: true,
      layerIndices: layers,
      ...(hook === 'pre' ? { withPreHook: true } : { withPostHook: true }),
      scale,
      outputPath: outputFolders(s).runs,
      ...batchSizeOf('batchSize', s),
    });
    this.offer(`LayerLab: evaluation finished: ${this.rel(r.runFile)}.`, [this.openChartAction(r.runFile)]);
    return r;
  }

  async sweep(t?: Target): Promise<JobResult<'sweep'>> {
    const s = this.settings();
    const model = await this.model(t);
    const dataFile = await this.dataset(t);
    const cacheFile = await this.cacheFile(t);
    const hook = await this.hook();
    const scale = await this.scale();
    const r = await this.runJob(PALETTE_COMMANDS['layerlab.sweep'], 'sweep', {
      ...modelRef(model, s),
      hiddenStatesCachePath: cacheFile,
      dataFile,
      ...(hook === 'pre' ? { withPreHook: true } : { withPostHook: true }),
      scales: [scale],
      outputPath: outputFolders(s).runs,
      ...batchSizeOf('batchSize', s),
    });
    this.offer(`LayerLab: layer sweep finished: ${this.rel(r.runFile)}.`, [this.openChartAction(r.runFile)]);
    return r;
  }

  /**
   * Opens the chart of a run (accuracy per layer and intervention, sweep heatmap, drill-down).
   * Given a directions statistics file (`<cache>.directions.json`) it opens the direction
   * chart instead: the page follows the file's format.
   */
  async openRunChart(t?: Target): Promise<string> {
    const s = this.settings();
    let file = this.fromContext(t, 'runs', ['run']);
    if (!file) {
      const runsDir = outputFolders(s).runs;
      const runs = await scanRuns(runsDir);
      if (runs.length === 0) throw new CommandError(`no runs in ${runsDir} yet. Evaluate or sweep first, or run the demo.`, [{ title: 'Run Demo', command: 'layerlab.runDemo' }]);
      file = (
        await this.pick(
          runs.map((r) => ({
            label: r.kind === 'run' ? `${r.run.spec.command} · ${r.run.spec.data.name}` : r.name,
            description: `${r.kind === 'run' && !r.run.complete ? 'partial · ' : ''}${new Date(r.mtimeMs).toLocaleString()}`,
            detail: r.name,
            path: r.path,
          })),
          'Run to chart',
        )
      ).path;
    }
    await this.d.charts.openChart(file);
    return file;
  }

  /**
   * Opens a model in the runtime and keeps it there: every job that names it (same settings)
   * then reuses it instead of loading it again. The CLI twin is `layerlab info`.
   */
  async selectModel(t?: Target): Promise<string> {
    const s = this.settings();
    const given = this.fromContext(t, 'models', ['model']);
    const model = given ?? (await this.model(undefined, true));
    const info = await this.runJob(PALETTE_COMMANDS['layerlab.selectModel'], 'info', modelRef(model, s));
    await this.d.workspaceState.update(SELECTED_MODEL_KEY, model);
    this.d.views.models.refresh();
    const note = info.providerNote ? ` (${info.providerNote})` : '';
    this.d.log.info(`loaded ${model}: ${info.architecture} (${info.modelType}), ${info.nBlocks} blocks, d_model ${info.dModel}, ${info.provider}${note}`);
    void vscode.window.showInformationMessage(
      `LayerLab: ${path.basename(model)} loaded — ${info.modelType} (${info.architecture} graph), ${info.nBlocks} blocks, d_model ${info.dModel}, on ${info.provider.toUpperCase()}.`,
    );
    return model;
  }

  async addDataset(t?: Target): Promise<string> {
    const s = this.settings();
    let source = LayerLabCommands.pathOf(t);
    if (!source) {
      const uris = await vscode.window.showOpenDialog({
        canSelectMany: false,
        openLabel: 'Add Dataset',
        filters: { Datasets: ['json', 'jsonl', 'parquet'] },
      });
      if (!uris?.length) throw new Dismissed();
      source = uris[0].fsPath;
    }
    if (!/\.(json|jsonl|parquet)$/i.test(source)) throw new CommandError(`${path.basename(source)} is not a dataset file: LayerLab reads .json, .jsonl and .parquet.`);
    const target = path.join(s.datasetsPath, path.basename(source));
    if (path.resolve(source) !== path.resolve(target)) {
      if (fs.existsSync(target)) {
        const ok = await vscode.window.showWarningMessage(`${path.basename(target)} already exists in ${s.datasetsPath}. Replace it?`, { modal: true }, 'Replace');
        if (ok !== 'Replace') throw new Dismissed();
      }
      await fs.promises.mkdir(s.datasetsPath, { recursive: true });
      await fs.promises.copyFile(source, target);
    }
    this.d.views.datasets.refresh();
    void vscode.window.showInformationMessage(`LayerLab: dataset ${path.basename(target)} added to ${s.datasetsPath}.`);
    return target;
  }

  async restartRuntime(): Promise<void> {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'LayerLab: restarting the runtime' }, () => this.d.client.restart());
    void vscode.window.showInformationMessage(`LayerLab: runtime restarted (pid ${this.d.client.info?.pid}).`);
  }

  /**
   * The whole pipeline on the built-in demo model and dataset (cache → directions → sweep), then
   * the sweep's chart. The demo model has random weights: the chart shows the pipeline working,
   * not a finding, and the message says so.
   */
  async runDemo(): Promise<JobResult<'demo'>> {
    const s = this.settings();
    const r = await this.runJob(PALETTE_COMMANDS['layerlab.runDemo'], 'demo', {
      modelsPath: s.modelsPath,
      datasetsPath: s.datasetsPath,
      outputPath: s.outputPath,
      provider: s.provider,
      ...(s.threads > 0 ? { threads: s.threads } : {}),
    });
    const model = path.join(s.modelsPath, DEMO_MODEL_NAME);
    // The demo model becomes the default model of the next commands.
    await this.d.workspaceState.update(SELECTED_MODEL_KEY, model);
    this.refreshAll();
    let chartError: string | undefined;
    try {
      await this.d.charts.openRunChart(r.runFile);
    } catch (e) {
      chartError = (e as Error).message;
      this.d.log.warn(`Run Demo: could not open the chart of ${r.runFile}: ${chartError}`);
    }
    // Random weights first: a toast shows only the start of a long message.
    const random = `The demo model (${this.rel(model)}) has random weights, so the numbers show the pipeline working, not a finding.`;
    if (!chartError) {
      this.offer(`LayerLab: demo finished. ${random} It cached hidden states, computed directions and swept interventions; the sweep's chart is open (${this.rel(r.runFile)}).`);
    } else {
      this.offer(`LayerLab: demo finished. ${random} Its sweep is ${this.rel(r.runFile)}; the chart did not open: ${chartError}.`, [
        { title: 'Open Run File', id: 'layerlab.openRunChart', run: () => Promise.resolve(vscode.window.showTextDocument(vscode.Uri.file(r.runFile), { preview: false })) },
      ]);
    }
    return r;
  }

  async openDataset(t?: Target): Promise<void> {
    const file = this.fromContext(t, 'datasets', ['dataset']);
    if (!file) throw new CommandError('no dataset selected.');
    await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
    // Datasets are inputs: opening one to look at it must not invite edits.
    await vscode.commands.executeCommand('workbench.action.files.setActiveEditorReadonlyInSession');
  }

  /**
   * Shows one dataset record as a read-only virtual document (scheme `layerlab-record`, served
   * by the runtime's `inspectDataset`); the argument is what a record node's click passes.
   */
  async openRecord(a?: unknown): Promise<void> {
    const r = a as { file?: unknown; recordId?: unknown } | undefined;
    if (!r || typeof r.file !== 'string' || typeof r.recordId !== 'string') throw new CommandError('no record selected.');
    const uri = vscode.Uri.from({
      scheme: RECORD_SCHEME,
      path: `/${path.basename(r.file)}/${r.recordId.replace(/[\\/]/g, '_')}.json`,
      query: recordQuery(r.file, r.recordId),
    });
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { preview: true });
  }

  async revealFile(t?: Target): Promise<void> {
    const file = LayerLabCommands.pathOf(t);
    if (!file) throw new CommandError('nothing to reveal.');
    await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(file));
  }
}
