/**
 * The probing panels: Logit Lens, Show Projection and Steer & Compare. Unlike the chart panels
 * (chartPanel.ts) they draw job results rather than files, so each page keeps what it shows in
 * its state (`setState`), from which the panel serializers restore it after a window reload.
 * Steer & Compare also runs: its form (prompt, hooks, method, strength slider, …) re-runs the
 * steer-compare job through the runtime, one run at a time (a slider dragged during a run asks
 * for one more run with its last value), and "Save as experiment" writes the result as the run
 * file `layerlab steer-compare --experiment FILE` runs again.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { JobParamsIn } from '../runtime/protocol/jobs';
import type { SteerCompareResult } from '../runtime/protocol/probe';
import {
  CHART_VIEW_TYPES,
  type ChartPageKind,
  type CompareForm,
  type CompareSource,
  type ShowCompareMessage,
  type ShowLensMessage,
  type ShowProjectionMessage,
  type WebviewToHost,
} from '../runtime/protocol/webview';
import { chartPanelOptions, WebviewHost, type HostLog } from './webviewHost';

type PageMessage = Exclude<WebviewToHost, { type: 'ready' | 'log' | 'save' }>;

function homeFolder(): vscode.Uri {
  return vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(os.homedir());
}

/** A page that shows one message, kept as it was (logit lens, projection). */
class StaticPanel<M extends ShowLensMessage | ShowProjectionMessage> extends WebviewHost {
  constructor(
    panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    page: ChartPageKind,
    public message: M,
    log: HostLog,
    private readonly onPageMessage?: (m: PageMessage) => void,
  ) {
    super(panel, extensionUri, page, log);
    this.render(panel.title);
  }

  show(message: M): void {
    this.message = message;
    this.post(message);
  }

  protected async onReady(): Promise<void> {
    this.post(this.message);
  }

  protected async onMessage(m: PageMessage): Promise<void> {
    if (this.onPageMessage) this.onPageMessage(m);
    else this.log('warn', `${this.page} page: ${m.type} is not a request this page makes`);
  }

  protected exportFolder(): vscode.Uri {
    return homeFolder();
  }
}

export class LensPanel extends StaticPanel<ShowLensMessage> {}
export class ProjectionPanel extends StaticPanel<ShowProjectionMessage> {}

export interface CompareRunner {
  /** Runs steer-compare with these params (the CLI twin is logged by the runner). */
  run(params: JobParamsIn<'steer-compare'>): Promise<SteerCompareResult>;
  /** Asks for another vector file; undefined when dismissed. */
  pickVector(): Promise<Pick<CompareSource, 'steerVector'> | undefined>;
}

/** steer-compare's params for a source and a form. */
export function compareParams(source: CompareSource, form: CompareForm, modelFields: (model: string) => JobParamsIn<'steer-compare'>): JobParamsIn<'steer-compare'> {
  const { model, ...vector } = source;
  return { ...modelFields(model), ...vector, ...form, steerHooks: [...form.steerHooks] };
}

export class ComparePanel extends WebviewHost {
  private running = false;
  private pending: CompareForm | undefined;

  constructor(
    panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    public state: ShowCompareMessage,
    log: HostLog,
    private readonly runner: CompareRunner,
    private readonly modelFields: (model: string) => JobParamsIn<'steer-compare'>,
  ) {
    super(panel, extensionUri, 'compare', log);
    this.render(panel.title);
  }

  protected async onReady(): Promise<void> {
    this.post(this.state);
  }

  protected exportFolder(): vscode.Uri {
    return homeFolder();
  }

  /** Runs the form, or queues it behind the run in progress (only the latest queued one runs). */
  async runForm(form: CompareForm): Promise<void> {
    if (this.running) {
      this.pending = form;
      return;
    }
    this.running = true;
    let next: CompareForm | undefined = form;
    try {
      while (next) {
        const f = next;
        this.pending = undefined;
        this.update({ form: f, busy: true, error: undefined });
        try {
          const result = await this.runner.run(compareParams(this.state.source, f, this.modelFields));
          this.update({ result, busy: false });
        } catch (e) {
          this.update({ busy: false, error: (e as Error).message });
        }
        next = this.pending;
      }
    } finally {
      this.running = false;
    }
  }

  private update(patch: Partial<ShowCompareMessage>): void {
    this.state = { ...this.state, ...patch };
    if (patch.error === undefined) delete this.state.error;
    this.post(this.state);
  }

  protected async onMessage(m: PageMessage): Promise<void> {
    switch (m.type) {
      case 'compareRun':
        await this.runForm(m.form);
        return;
      case 'pickVector': {
        const v = await this.runner.pickVector();
        if (!v) return;
        const { steerPositive: _p, steerNegative: _n, steerTensor: _t, steerRow: _r, ...rest } = this.state.source;
        this.update({ source: { ...rest, ...v }, result: null });
        return;
      }
      case 'saveExperiment':
        await this.saveExperiment();
        return;
      default:
        this.log('warn', `compare page: ${m.type} is not a request this page makes`);
    }
  }

  /** Writes the last result as a run file that `layerlab steer-compare --experiment` runs again. */
  private async saveExperiment(): Promise<void> {
    const result = this.state.result;
    if (!result) {
      void vscode.window.showInformationMessage('LayerLab: run the comparison first, then save it.');
      return;
    }
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.joinPath(this.exportFolder(), 'steer-compare.json'),
      filters: { 'LayerLab run': ['json'] },
      saveLabel: 'Save Experiment',
    });
    if (!target) return;
    const run: SteerCompareResult = { ...result, runFile: target.fsPath };
    await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(JSON.stringify(run, null, 2) + '\n'));
    this.log('info', `steer-compare: saved the experiment to ${target.fsPath} (run it again: layerlab steer-compare --experiment ${target.fsPath})`);
    void vscode.window.showInformationMessage(`LayerLab: saved ${path.basename(target.fsPath)}; \`layerlab steer-compare --experiment ${target.fsPath}\` runs it again.`);
  }
}

export type ProbePanel = LensPanel | ProjectionPanel | ComparePanel;

export interface ProbePanelDeps {
  log: HostLog;
  compare: CompareRunner;
  modelFields: (model: string) => JobParamsIn<'steer-compare'>;
  /** The projection page chose a layer. */
  onProjectionLayer: (hook: string) => void;
}

/** The probing panels of one extension instance: opening, revealing, restoring after a reload. */
export class ProbePanels implements vscode.Disposable {
  private readonly open = new Set<ProbePanel>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly deps: ProbePanelDeps,
  ) {}

  register(): vscode.Disposable[] {
    const restore = (kind: 'lens' | 'projection' | 'compare') => ({
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown): Promise<void> => {
        const s = state as { page?: string; message?: { type?: string } } | undefined;
        if (s?.page !== kind || !s.message) {
          this.deps.log('warn', `${kind} page: no state to restore a panel from; closed it`);
          panel.dispose();
          return;
        }
        if (kind === 'lens') this.track(new LensPanel(panel, this.context.extensionUri, 'lens', s.message as ShowLensMessage, this.deps.log));
        else if (kind === 'projection') this.track(this.projectionPanel(panel, s.message as ShowProjectionMessage));
        else this.track(this.comparePanel(panel, { ...(s.message as ShowCompareMessage), busy: false }));
      },
    });
    return [
      vscode.window.registerWebviewPanelSerializer(CHART_VIEW_TYPES.lens, restore('lens')),
      vscode.window.registerWebviewPanelSerializer(CHART_VIEW_TYPES.projection, restore('projection')),
      vscode.window.registerWebviewPanelSerializer(CHART_VIEW_TYPES.compare, restore('compare')),
    ];
  }

  panels(): readonly ProbePanel[] {
    return [...this.open];
  }

  openLens(message: ShowLensMessage): LensPanel {
    return this.track(new LensPanel(this.newPanel('lens', `Logit Lens: ${message.model}`), this.context.extensionUri, 'lens', message, this.deps.log));
  }

  /** Shows the projection in the open projection panel, or in a new one beside the editor. */
  openProjection(message: ShowProjectionMessage): ProjectionPanel {
    const existing = [...this.open].find((p): p is ProjectionPanel => p instanceof ProjectionPanel);
    if (existing) {
      existing.show(message);
      existing.panel.reveal(undefined, true);
      return existing;
    }
    return this.track(this.projectionPanel(this.newPanel('projection', 'Projection', vscode.ViewColumn.Beside), message));
  }

  /** The projection panel follows the editor's layer choice. */
  projectionLayer(hook: string): void {
    for (const p of this.open) if (p instanceof ProjectionPanel && p.message.hook !== hook) p.show({ ...p.message, hook });
  }

  openCompare(message: ShowCompareMessage): ComparePanel {
    return this.track(this.comparePanel(this.newPanel('compare', `Steer & Compare: ${path.basename(message.source.model)}`), message));
  }

  dispose(): void {
    for (const p of [...this.open]) p.dispose();
  }

  private projectionPanel(panel: vscode.WebviewPanel, message: ShowProjectionMessage): ProjectionPanel {
    return new ProjectionPanel(panel, this.context.extensionUri, 'projection', message, this.deps.log, (m) => {
      if (m.type === 'projectionLayer') this.deps.onProjectionLayer(m.hook);
    });
  }

  private comparePanel(panel: vscode.WebviewPanel, message: ShowCompareMessage): ComparePanel {
    return new ComparePanel(panel, this.context.extensionUri, message, this.deps.log, this.deps.compare, this.deps.modelFields);
  }

  private track<T extends ProbePanel>(p: T): T {
    this.open.add(p);
    p.onDidDispose(() => this.open.delete(p));
    return p;
  }

  private newPanel(kind: 'lens' | 'projection' | 'compare', title: string, column = vscode.ViewColumn.Active): vscode.WebviewPanel {
    const panel = vscode.window.createWebviewPanel(CHART_VIEW_TYPES[kind], title, { viewColumn: column, preserveFocus: column === vscode.ViewColumn.Beside }, chartPanelOptions(this.context.extensionUri));
    panel.iconPath = vscode.Uri.joinPath(this.context.extensionUri, 'extension', 'media', 'layerlab.svg');
    return panel;
  }
}
