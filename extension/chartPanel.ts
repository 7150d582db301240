/**
 * The chart panels: a run (evaluate or sweep) and a directions statistics file. Each panel
 * shows one file, re-reads it when it changes on disk (a partial run being checkpointed), and
 * is restored after a window reload by a panel serializer from the page state, which holds the
 * file paths (the files are the source of truth; the page keeps no copy of its own).
 *
 * One ChartPanels object (owned by the extension object, extension.ts) registers the panel
 * serializers and keeps the open panels; package.json's activationEvents lists
 * `onWebviewPanel:layerlab.runChart` and `onWebviewPanel:layerlab.directionChart`, so a reload
 * restores panels before any command runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { CHART_VIEW_TYPES, type ChartPageKind, type LoadedRun, type WebviewToHost } from '../runtime/protocol/webview';
import { runDifferences, runLabels } from '../runtime/protocol/labels';
import { ChartFileError, chartKindOf, displayName, parseDirectionStats, parseRunFile } from './chartFiles';
import { chartPanelOptions, WebviewHost, type HostLog } from './webviewHost';

export interface ChartPanelOptions {
  /** Where messages for the LayerLab output channel go (default: the console). */
  log?: HostLog;
  /** Run files offered for comparison (default: the JSON run files near the shown run). */
  listRuns?: () => Promise<string[]>;
}

const consoleLog: HostLog = (level, message) => console[level === 'info' ? 'log' : level](`[LayerLab charts] ${message}`);

function pathOf(file: string | vscode.Uri): string {
  return path.resolve(typeof file === 'string' ? file : file.fsPath);
}

async function readText(file: string): Promise<string> {
  try {
    return new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.file(file)));
  } catch (e) {
    throw new ChartFileError(file, `cannot read ${file}: ${(e as Error).message}`);
  }
}

async function loadRun(file: string): Promise<LoadedRun> {
  return parseRunFile(await readText(file), file);
}

/** Watches one file; `onChange` runs (debounced) when it is written or replaced. */
function watchFile(file: string, onChange: () => void): vscode.Disposable {
  const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(path.dirname(file)), path.basename(file)));
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Atomic writes (temp file + rename) arrive as create or change, sometimes both: one reload.
  const fire = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, 200);
  };
  const subs = [w, w.onDidChange(fire), w.onDidCreate(fire)];
  return { dispose: () => (clearTimeout(timer), subs.forEach((s) => s.dispose())) };
}

// ---------------------------------------------------------------------------------------------

export class RunChartPanel extends WebviewHost {
  private compareWatch: vscode.Disposable | undefined;

  constructor(
    panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    readonly runPath: string,
    private comparePath: string | null,
    log: HostLog,
    private readonly listRuns?: () => Promise<string[]>,
  ) {
    super(panel, extensionUri, 'run', log);
    this.disposables.push(watchFile(runPath, () => void this.reload('primary')));
    if (comparePath) this.watchCompare(comparePath);
    this.render(panel.title);
  }

  get compare(): string | null {
    return this.comparePath;
  }

  protected exportFolder(): vscode.Uri {
    return vscode.Uri.file(path.dirname(this.runPath));
  }

  protected async onReady(): Promise<void> {
    await this.sendAll();
  }

  private async sendAll(): Promise<void> {
    let run: LoadedRun;
    try {
      run = await loadRun(this.runPath);
    } catch (e) {
      this.post({ type: 'loadFailed', path: this.runPath, message: (e as Error).message });
      return;
    }
    let compare: LoadedRun | null = null;
    if (this.comparePath) {
      try {
        compare = await loadRun(this.comparePath);
      } catch (e) {
        // The primary run still shows; the overlay is dropped with a note.
        this.log('warn', (e as Error).message);
        void vscode.window.showWarningMessage(`LayerLab: the compared run is not shown: ${(e as Error).message}`);
        this.setCompare(null);
      }
    }
    this.post({ type: 'showRun', run, compare });
  }

  private async reload(role: 'primary' | 'compare'): Promise<void> {
    const file = role === 'primary' ? this.runPath : this.comparePath;
    if (!file || !fs.existsSync(file)) return;
    try {
      this.post({ type: 'runChanged', role, run: await loadRun(file) });
    } catch (e) {
      // A half-written or replaced file: the page keeps its last good copy.
      this.log('warn', `not redrawn: ${(e as Error).message}`);
    }
  }

  private watchCompare(file: string): void {
    this.compareWatch?.dispose();
    this.compareWatch = watchFile(file, () => void this.reload('compare'));
  }

  private setCompare(file: string | null): void {
    this.comparePath = file;
    this.compareWatch?.dispose();
    this.compareWatch = undefined;
    if (file) this.watchCompare(file);
  }

  protected async onMessage(m: Exclude<WebviewToHost, { type: 'ready' | 'log' | 'save' }>): Promise<void> {
    if (m.type === 'clearCompare') {
      this.setCompare(null);
      return;
    }
    if (m.type === 'pickCompare') {
      const file = await this.pickCompare();
      if (!file) return;
      try {
        await loadRun(file);
      } catch (e) {
        void vscode.window.showErrorMessage(`LayerLab: ${(e as Error).message}`);
        return;
      }
      this.setCompare(file);
      await this.sendAll();
    }
  }

  private async candidates(): Promise<string[]> {
    if (this.listRuns) return (await this.listRuns()).map((f) => path.resolve(f));
    // Runs live in <runs>/<model>/<data>.<command>.<hash>.json: look across the model folders.
    const root = path.dirname(path.dirname(this.runPath));
    const out: string[] = [];
    const walk = (dir: string, depth: number) => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory() && depth > 0) walk(p, depth - 1);
        else if (e.isFile() && e.name.endsWith('.json')) {
          try {
            const fd = fs.openSync(p, 'r');
            const head = Buffer.alloc(256);
            fs.readSync(fd, head, 0, 256, 0);
            fs.closeSync(fd);
            if (chartKindOf(head.toString('utf8')) === 'run') out.push(p);
          } catch {
            // Unreadable files are not offered.
          }
        }
      }
    };
    walk(root, 2);
    return out;
  }

  /**
   * The runs to overlay, labelled as the Runs view labels them and each saying how it differs
   * from the shown run (same model and data first), searchable by any of it.
   */
  private async pickCompare(): Promise<string | undefined> {
    const shown = await loadRun(this.runPath).catch(() => undefined);
    const runs: LoadedRun[] = [];
    for (const f of (await this.candidates()).filter((f) => f !== this.runPath)) {
      try {
        runs.push(await loadRun(f));
      } catch {
        // unreadable runs are not offered (the Runs view says what is wrong with them)
      }
    }
    const labels = runLabels(runs.map((r) => ({ key: r.path, run: r.run })));
    const diffsOf = (r: LoadedRun) => (shown ? runDifferences(shown.run, r.run) : []);
    const fundamental = (r: LoadedRun) => diffsOf(r).some((d) => d.fundamental);
    runs.sort((a, b) => Number(fundamental(a)) - Number(fundamental(b)));
    const browse: vscode.QuickPickItem & { file?: string } = { label: '$(folder-opened) Browse…', description: 'a run file anywhere' };
    const items: (vscode.QuickPickItem & { file?: string })[] = [
      ...runs.map((r) => {
        const diffs = diffsOf(r);
        return {
          label: labels.get(r.path)!,
          description: diffs.length ? `${fundamental(r) ? '$(warning) ' : ''}differs in ${diffs.map((d) => d.name).join(', ')}` : 'same setup',
          detail: r.path,
          file: r.path,
        };
      }),
      browse,
    ];
    const picked = await vscode.window.showQuickPick(items, {
      placeHolder: `Overlay which run on ${displayName(this.runPath)}? (runs of the same model and data first)`,
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (!picked) return undefined;
    if (picked.file) return picked.file;
    const uris = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'LayerLab run': ['json'] }, openLabel: 'Compare', defaultUri: this.exportFolder() });
    return uris?.[0]?.fsPath;
  }

  override dispose(): void {
    this.compareWatch?.dispose();
    super.dispose();
  }
}

export class DirectionChartPanel extends WebviewHost {
  constructor(
    panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    readonly statsPath: string,
    log: HostLog,
  ) {
    super(panel, extensionUri, 'directions', log);
    this.disposables.push(watchFile(statsPath, () => void this.onReady()));
    this.render(panel.title);
  }

  protected exportFolder(): vscode.Uri {
    return vscode.Uri.file(path.dirname(this.statsPath));
  }

  protected async onReady(): Promise<void> {
    try {
      this.post({ type: 'showDirections', directions: parseDirectionStats(await readText(this.statsPath), this.statsPath) });
    } catch (e) {
      this.post({ type: 'loadFailed', path: this.statsPath, message: (e as Error).message });
    }
  }

  protected async onMessage(m: Exclude<WebviewToHost, { type: 'ready' | 'log' | 'save' }>): Promise<void> {
    this.log('warn', `directions chart: ${m.type} is not a directions page request`);
  }
}

// ---------------------------------------------------------------------------------------------

export type ChartPanel = RunChartPanel | DirectionChartPanel;

/** The chart panels of one extension instance: opening, revealing, restoring after a reload. */
export class ChartPanels implements vscode.Disposable {
  private readonly open = new Set<ChartPanel>();
  private readonly log: HostLog;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly opts: ChartPanelOptions = {},
  ) {
    this.log = opts.log ?? consoleLog;
  }

  /** The panel serializers, which restore chart panels after a window reload. */
  register(): vscode.Disposable[] {
    const restore = (kind: ChartPageKind) => ({
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown): Promise<void> => {
        const s = state as { page?: unknown; runPath?: unknown; comparePath?: unknown; statsPath?: unknown } | undefined;
        const file = kind === 'run' ? s?.runPath : s?.statsPath;
        if (typeof file !== 'string' || s?.page !== kind) {
          // A panel that never received its file has nothing to restore.
          this.log('warn', `${kind} chart: no state to restore a panel from; closed it`);
          panel.dispose();
          return;
        }
        if (kind === 'run') this.track(this.runPanel(panel, path.resolve(file), typeof s.comparePath === 'string' ? path.resolve(s.comparePath) : null));
        else this.track(new DirectionChartPanel(panel, this.context.extensionUri, path.resolve(file), this.log));
      },
    });
    return [
      vscode.window.registerWebviewPanelSerializer(CHART_VIEW_TYPES.run, restore('run')),
      vscode.window.registerWebviewPanelSerializer(CHART_VIEW_TYPES.directions, restore('directions')),
    ];
  }

  /** The chart panels open now (for tests and the "reveal if open" rule). */
  panels(): readonly ChartPanel[] {
    return [...this.open];
  }

  /** Opens (or reveals) the chart of a run file; `compare` overlays a second run. */
  async openRunChart(runFile: string | vscode.Uri, opts: { compare?: string } = {}): Promise<RunChartPanel> {
    const file = pathOf(runFile);
    // Fail here, with the file named, rather than open an empty panel.
    await loadRun(file);
    const existing = [...this.open].find((p): p is RunChartPanel => p instanceof RunChartPanel && p.runPath === file);
    if (existing && (opts.compare === undefined || existing.compare === path.resolve(opts.compare))) {
      existing.panel.reveal();
      return existing;
    }
    return this.track(this.runPanel(this.newPanel('run', `Run: ${path.basename(file)}`), file, opts.compare ? path.resolve(opts.compare) : null));
  }

  /** Opens (or reveals) the direction-quality chart of a compute-directions statistics file. */
  async openDirectionChart(statsFile: string | vscode.Uri): Promise<DirectionChartPanel> {
    const file = pathOf(statsFile);
    parseDirectionStats(await readText(file), file);
    const existing = [...this.open].find((p): p is DirectionChartPanel => p instanceof DirectionChartPanel && p.statsPath === file);
    if (existing) {
      existing.panel.reveal();
      return existing;
    }
    return this.track(new DirectionChartPanel(this.newPanel('directions', `Directions: ${path.basename(file)}`), this.context.extensionUri, file, this.log));
  }

  /** Opens the right chart for a file by its `format` (run or directions statistics). */
  async openChart(file: string | vscode.Uri): Promise<ChartPanel> {
    const p = pathOf(file);
    const kind = chartKindOf(await readText(p));
    if (kind === 'directions') return this.openDirectionChart(p);
    return this.openRunChart(p);
  }

  dispose(): void {
    for (const p of [...this.open]) p.dispose();
  }

  private runPanel(panel: vscode.WebviewPanel, file: string, compare: string | null): RunChartPanel {
    return new RunChartPanel(panel, this.context.extensionUri, file, compare, this.log, this.opts.listRuns);
  }

  private track<T extends ChartPanel>(p: T): T {
    this.open.add(p);
    p.onDidDispose(() => this.open.delete(p));
    return p;
  }

  private newPanel(kind: ChartPageKind, title: string): vscode.WebviewPanel {
    const panel = vscode.window.createWebviewPanel(CHART_VIEW_TYPES[kind], title, { viewColumn: vscode.ViewColumn.Active, preserveFocus: false }, chartPanelOptions(this.context.extensionUri));
    panel.iconPath = vscode.Uri.joinPath(this.context.extensionUri, 'extension', 'media', 'layerlab.svg');
    return panel;
  }
}
