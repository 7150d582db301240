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
import { cliLine } from '../runtime/protocol/argv';
import { describeProgress, JOBS, type JobName, type JobParamsIn, type JobResult } from '../runtime/protocol/jobs';
import { runLabels } from '../runtime/protocol/labels';
import { DEMO_MODEL_NAME } from '../runtime/protocol/workspace';
import { FORM_LAYOUTS, type FormJob, type InputKind, type Offered } from './jobForm';
import { modelRef } from './jobParams';
import { CommandError, Dismissed, INPUT_SOURCES, JobPalette, SELECTED_MODEL_KEY, type ViewName } from './jobPalette';
import { COMMANDS_NEEDING_RUNTIME, COMMANDS_NEEDING_TRUST, describeFailure, progressStep, untrustedMessage } from './presentation';
import { RuntimeRequestError, type RuntimeClient } from './runtimeClient';
import { outputFolders, type LayerLabSettings } from './settings';
import { RECORD_SCHEME, recordQuery } from './recordDocument';
import { localTime, type TreeNodeData } from './treeData';
import type { NodeTreeProvider } from './views';
import { directionStatsPathOf, scanHiddenStateFiles, scanRuns } from './workspaceScan';

export { CommandError, Dismissed, type ViewName } from './jobPalette';
import { PROBE_COMMANDS, type ProbeCommandId } from './probeCommands';

/** The palette commands, with their titles (package.json declares the same, category LayerLab). */
export const PALETTE_COMMANDS = {
  'layerlab.saveHiddenStates': 'Save Hidden States',
  'layerlab.computeDirections': 'Compute Directions',
  'layerlab.evaluate': 'Evaluate Accuracy with Intervention',
  'layerlab.sweep': 'Run Layer Sweep',
  'layerlab.openRunChart': 'Open Run Chart',
  'layerlab.chartDirections': 'Chart Direction Quality',
  'layerlab.selectModel': 'Select Model',
  'layerlab.checkModel': 'Check Model',
  'layerlab.addDataset': 'Add Dataset',
  'layerlab.restartRuntime': 'Restart Runtime',
  'layerlab.showLog': 'Show Runtime Log',
  'layerlab.runDemo': 'Run Demo',
  // Registered by ProbeCommands (probeCommands.ts).
  ...PROBE_COMMANDS,
} as const;

/** Commands for view titles, context menus and item clicks (hidden from the palette). */
export const INTERNAL_COMMANDS = {
  'layerlab.refreshViews': 'Refresh',
  'layerlab.openDataset': 'Open Dataset (read-only)',
  'layerlab.openRecord': 'Open Record (read-only)',
  'layerlab.revealFile': 'Reveal in File Explorer',
} as const;

export type CommandId = keyof typeof PALETTE_COMMANDS | keyof typeof INTERNAL_COMMANDS;

/** Opens chart panels: chartPanel.ts in VS Code, a recorder in unit tests. */
export interface ChartOpener {
  /** A run file or a directions statistics file: the page is chosen by the file's format. */
  openChart(file: string): Promise<unknown>;
  openRunChart(runFile: string): Promise<unknown>;
  openDirectionChart(statsFile: string): Promise<unknown>;
}

export interface CommandDeps {
  client: Pick<RuntimeClient, 'runJob' | 'describeModel' | 'restart' | 'model' | 'info' | 'gaveUp'>;
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

/** A job that failed: which job (so the message can say what it leaves behind) and why. */
class JobFailed extends Error {
  constructor(
    readonly job: JobName,
    readonly failure: Error,
  ) {
    super(failure.message);
  }
}

export class LayerLabCommands {
  readonly palette: JobPalette;

  constructor(private readonly d: CommandDeps) {
    this.palette = new JobPalette({
      settings: () => this.settings(),
      describeModel: (ref) => this.d.client.describeModel(ref),
      selection: (view) => this.d.selection(view),
      workspaceState: this.d.workspaceState,
      log: this.d.log,
    });
  }

  register(): vscode.Disposable[] {
    const handlers: Record<Exclude<CommandId, ProbeCommandId>, (arg?: Target) => Promise<unknown>> = {
      'layerlab.saveHiddenStates': (a) => this.saveHiddenStates(a),
      'layerlab.computeDirections': (a) => this.computeDirections(a),
      'layerlab.evaluate': (a) => this.evaluate(a),
      'layerlab.sweep': (a) => this.sweep(a),
      'layerlab.openRunChart': (a) => this.openRunChart(a),
      'layerlab.chartDirections': (a) => this.chartDirections(a),
      'layerlab.selectModel': (a) => this.selectModel(a),
      'layerlab.checkModel': (a) => this.checkModel(a),
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
    return this.guarded(title, COMMANDS_NEEDING_TRUST.has(id), fn, COMMANDS_NEEDING_RUNTIME.has(id));
  }

  /**
   * The trust check and error reporting of `guard`, for commands registered elsewhere (the
   * reasoning-behaviour commands, extension/thinking/): by title, saying whether the command
   * runs a model (needs trust) and needs the runtime.
   */
  async guarded<T>(title: string, needsTrust: boolean, fn: () => Promise<T>, needsRuntime = needsTrust): Promise<T | undefined> {
    if (needsTrust && !vscode.workspace.isTrusted) {
      void vscode.window.showWarningMessage(untrustedMessage(title), 'Manage Workspace Trust').then((a) => {
        if (a) void vscode.commands.executeCommand('workbench.trust.manage');
      });
      return undefined;
    }
    try {
      // A runtime LayerLab stopped restarting cannot run anything: say so before asking for inputs.
      const gaveUp = this.d.client.gaveUp;
      if (gaveUp && needsRuntime) {
        throw new CommandError(`${title} cannot run: ${gaveUp}`, [{ title: 'Restart Runtime', command: 'layerlab.restartRuntime' }, { title: 'Show Runtime Log', command: 'layerlab.showLog' }]);
      }
      return await fn();
    } catch (e) {
      if (e instanceof Dismissed) return undefined;
      if (e instanceof CommandError) {
        this.d.log.warn(`${title}: ${e.message}`);
        void this.showWithActions('error', `LayerLab: ${e.message}`, e.actions);
        return undefined;
      }
      const view = e instanceof JobFailed ? describeFailure(title, e.failure, e.job) : describeFailure(title, e as Error);
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

  /**
   * What a command was given, as the input of its form it fills: a tree node by its kind, a
   * path (another command's result, an explorer menu) by what the file is. Only what was given
   * explicitly: a highlighted node pre-fills the form through the form itself, and says so.
   */
  private offered(job: FormJob, t: Target): Record<string, Offered> {
    const p = LayerLabCommands.pathOf(t);
    if (!p) return {};
    let kind: InputKind | undefined;
    if (t && typeof t === 'object' && !(t instanceof vscode.Uri)) {
      kind = (Object.keys(INPUT_SOURCES) as InputKind[]).find((k) => INPUT_SOURCES[k].kinds.includes(t.kind));
    } else {
      kind = /\.directions\.safetensors$/i.test(p) ? 'directions' : /\.safetensors$/i.test(p) ? 'cache' : /\.(jsonl?|parquet)$/i.test(p) ? 'dataset' : 'model';
    }
    const slot = FORM_LAYOUTS[job].inputs.find((i) => i.kind === kind);
    return slot ? { [slot.key]: { value: p, origin: 'given' } } : {};
  }

  /**
   * The file a command acts on: the one it was given; otherwise asked, the view's highlighted
   * node offered first (never taken silently), or the only one there is.
   */
  private async chosenFile(t: Target, view: ViewName, kinds: TreeNodeData['kind'][], ask: (active?: string) => Promise<string | null | undefined>): Promise<string> {
    const given = LayerLabCommands.pathOf(t);
    if (given && (typeof t !== 'object' || t instanceof vscode.Uri || kinds.includes(t.kind))) return given;
    const sel = this.d.selection(view);
    const chosen = await ask(sel && kinds.includes(sel.kind) ? sel.resourcePath : undefined);
    if (!chosen) throw new Dismissed();
    return chosen;
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
    } catch (e) {
      throw e instanceof RuntimeRequestError ? new JobFailed(name, e) : e;
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
    const title = PALETTE_COMMANDS['layerlab.saveHiddenStates'];
    const params = await this.palette.fill('save-hidden-states', title, this.offered('save-hidden-states', t));
    const r = await this.runJob(title, 'save-hidden-states', params);
    this.offer(`LayerLab: hidden states of ${path.basename(params.dataFilePath)} saved to ${this.rel(r.cacheFile)} (${r.hooks.length} hook points × ${r.records} records).`, [
      { title: 'Compute Directions', id: 'layerlab.computeDirections', run: () => this.computeDirections(r.cacheFile) },
    ]);
    return r;
  }

  async computeDirections(t?: Target, opts: { openChart?: boolean } = {}): Promise<JobResult<'compute-directions'>> {
    const title = PALETTE_COMMANDS['layerlab.computeDirections'];
    const params = await this.palette.fill('compute-directions', title, this.offered('compute-directions', t));
    const r = await this.runJob(title, 'compute-directions', params);
    if (opts.openChart) {
      await this.d.charts.openDirectionChart(r.statsFile);
      return r;
    }
    this.offer(`LayerLab: directions computed from ${path.basename(params.cache)}.`, [this.openChartAction(r.statsFile)]);
    return r;
  }

  /**
   * Direction quality per layer (AUC, Cohen's d, held-out) of a cache: the chart of the
   * statistics compute-directions wrote beside it, or an offer to compute them.
   */
  async chartDirections(t?: Target): Promise<string | undefined> {
    const caches = async (active?: string) => {
      const all = (await scanHiddenStateFiles(outputFolders(this.settings()).cache)).filter((f) => f.kind === 'cache');
      if (all.length === 1 && !active) return all[0]!.path;
      return this.palette.pickHiddenStateFile('cache', { current: active });
    };
    const cacheFile = await this.chosenFile(t, 'cache', INPUT_SOURCES.cache.kinds, caches);
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
    const title = PALETTE_COMMANDS['layerlab.evaluate'];
    const params = await this.palette.fill('evaluate', title, this.offered('evaluate', t));
    const r = await this.runJob(title, 'evaluate', params);
    this.offer(`LayerLab: evaluation finished: ${this.rel(r.runFile)}.${this.warningsNote(r.warnings)}`, [this.openChartAction(r.runFile)]);
    return r;
  }

  async sweep(t?: Target): Promise<JobResult<'sweep'>> {
    const title = PALETTE_COMMANDS['layerlab.sweep'];
    const params = await this.palette.fill('sweep', title, this.offered('sweep', t));
    const r = await this.runJob(title, 'sweep', params);
    this.offer(`LayerLab: layer sweep finished: ${this.rel(r.runFile)}.${this.warningsNote(r.warnings)}`, [this.openChartAction(r.runFile)]);
    return r;
  }

  /** A job's warnings in its closing message: a run that finished with a caveat must not read as plain success. */
  private warningsNote(warnings: readonly string[]): string {
    if (!warnings.length) return '';
    return ` Warning${warnings.length > 1 ? 's' : ''}: ${warnings.slice(0, 2).join('; ')}${warnings.length > 2 ? ` (and ${warnings.length - 2} more in the run file)` : ''}.`;
  }

  /**
   * Opens the chart of a run (accuracy per layer and intervention, sweep heatmap, drill-down).
   * Given a directions statistics file (`<cache>.directions.json`) it opens the direction
   * chart instead: the page follows the file's format.
   */
  async openRunChart(t?: Target): Promise<string> {
    const file = await this.chosenFile(t, 'runs', ['run'], (active) => this.pickRun(active));
    await this.d.charts.openChart(file);
    return file;
  }

  /** A run, labelled by command, data, model and what sets it apart from its likes; searchable by any of them. */
  private async pickRun(active?: string): Promise<string | undefined> {
    const runsDir = outputFolders(this.settings()).runs;
    const runs = await scanRuns(runsDir);
    if (runs.length === 0) throw new CommandError(`no runs in ${runsDir} yet. Evaluate or sweep first, or run the demo.`, [{ title: 'Run Demo', command: 'layerlab.runDemo' }]);
    const labels = runLabels(runs.flatMap((r) => (r.kind === 'run' ? [{ key: r.path, run: r.run }] : [])));
    const items = runs.map((r) => ({
      label: labels.get(r.path) ?? r.name,
      description: `${r.kind === 'run' ? (r.run.complete ? '' : `partial ${r.run.progress.done}/${r.run.progress.total} · `) : 'unreadable · '}${localTime(r.mtimeMs)}`,
      detail: r.name,
      path: r.path,
    }));
    const i = active ? items.findIndex((x) => path.resolve(x.path) === path.resolve(active)) : -1;
    return (await this.palette.pick(items, { title: 'LayerLab: run to chart', placeHolder: 'Run to chart (search by command, data, model or setting)', active: Math.max(0, i) }))?.path;
  }

  /**
   * Opens a model in the runtime and keeps it there: every job that names it (same settings)
   * then reuses it instead of loading it again. The CLI twin is `layerlab info`. From a Models
   * node's menu it loads that model; from the palette it asks, offering the highlighted model first.
   */
  /**
   * The model a probing command (Steer & Compare, Show Projection, Logit Lens) runs: asked, with
   * the selected model offered first; undefined when the user dismissed the choice.
   */
  async chooseModel(): Promise<string | undefined> {
    const selection = this.d.selection('models');
    const offered = this.d.workspaceState.get<string>(SELECTED_MODEL_KEY) ?? (selection?.kind === 'model' ? selection.resourcePath : undefined);
    return this.palette.pickModel(offered);
  }

  /**
   * The model a command runs when it does not ask first: the one given, the one selected in the
   * Models view, the one chosen last (Select Model), else asked; `ask` always asks.
   */
  async model(t: Target, ask = false): Promise<string> {
    if (!ask) {
      const given = LayerLabCommands.pathOf(t);
      if (given && (typeof t !== 'object' || t instanceof vscode.Uri || t.kind === 'model')) return given;
      const sel = this.d.selection('models');
      if (sel?.kind === 'model' && sel.resourcePath) return sel.resourcePath;
      const remembered = this.d.workspaceState.get<string>(SELECTED_MODEL_KEY);
      if (remembered && fs.existsSync(remembered)) return remembered;
    }
    const picked = await this.chooseModel();
    if (!picked) throw new Dismissed();
    return picked;
  }

  async selectModel(t?: Target): Promise<string> {
    const s = this.settings();
    const remembered = this.d.workspaceState.get<string>(SELECTED_MODEL_KEY);
    const model = await this.chosenFile(t, 'models', ['model'], (active) => this.palette.pickModel(active ?? remembered));
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

  /**
   * Checks the model's graph at the weight precision the settings choose, against the
   * independent reference forward (and fp32), and opens the report beside the editor. A failing
   * verdict is a warning, not an error: the report is what the user needs to read.
   */
  async checkModel(t?: Target): Promise<JobResult<'check-model'>> {
    const s = this.settings();
    const remembered = this.d.workspaceState.get<string>(SELECTED_MODEL_KEY);
    const model = await this.chosenFile(t, 'models', ['model'], (active) => this.palette.pickModel(active ?? remembered));
    const r = await this.runJob(PALETTE_COMMANDS['layerlab.checkModel'], 'check-model', modelRef(model, s));
    const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: r.markdown });
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
    const summary = `LayerLab: ${path.basename(model)} at ${r.model.weights} on ${r.model.provider.toUpperCase()}: check ${r.verdict === 'pass' ? 'passed' : 'FAILED'}.`;
    if (r.verdict === 'pass') void vscode.window.showInformationMessage(summary);
    else void vscode.window.showWarningMessage(`${summary} ${r.comparisons.flatMap((c) => c.reasons)[0] ?? 'See the report.'}`);
    return r;
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
   * The whole pipeline on the built-in model organism and its questions (cache → directions →
   * sweep with random controls), then the sweep's chart and what the demo found.
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
    for (const line of r.findings) this.d.log.info(`Run Demo: ${line}`);
    // The finding first: a toast shows only the start of a long message (the log has them all).
    const found = r.findings.find((l) => l.startsWith('Largest effect')) ?? r.findings.at(-1) ?? '';
    if (!chartError) {
      this.offer(`LayerLab: demo finished. ${found} The sweep's chart is open (${this.rel(r.runFile)}); the LayerLab log has the other findings.`);
    } else {
      this.offer(`LayerLab: demo finished. ${found} Its sweep is ${this.rel(r.runFile)}; the chart did not open: ${chartError}.`, [
        { title: 'Open Run File', id: 'layerlab.openRunChart', run: () => Promise.resolve(vscode.window.showTextDocument(vscode.Uri.file(r.runFile), { preview: false })) },
      ]);
    }
    return r;
  }

  async openDataset(t?: Target): Promise<void> {
    const file = LayerLabCommands.pathOf(t);
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
