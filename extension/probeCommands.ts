/**
 * The probing commands: Logit Lens, Show Projection (with its layer picker and clear), and Steer
 * & Compare. Each takes its text from the editor (the selection, or the whole document), asks
 * only for what it lacks (a vector file, a layer), runs its job through the runtime (the CLI
 * twin logged, a cancellable progress notification) and shows the result in its panel
 * (probePanels.ts) and, for Show Projection, on the text itself (projectionDecorations.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { cliLine } from '../runtime/protocol/argv';
import { describeProgress, JOBS, type JobName, type JobParamsIn, type JobResult } from '../runtime/protocol/jobs';
import type { ProjectionResult } from '../runtime/protocol/probe';
import type { CompareForm, CompareSource } from '../runtime/protocol/webview';
import { middleLayer, modelRef, parseScale } from './jobParams';
import { describeFailure, progressStep, untrustedMessage } from './presentation';
import type { ProbePanels } from './probePanels';
import type { ProjectionDecorations } from './projectionDecorations';
import { textOffset } from './projectionView';
import type { RuntimeClient } from './runtimeClient';
import { outputFolders, type LayerLabSettings } from './settings';

/** The probing commands and their titles (package.json declares the same, category LayerLab). */
export const PROBE_COMMANDS = {
  'layerlab.steerCompare': 'Steer & Compare',
  'layerlab.showProjection': 'Show Projection',
  'layerlab.projectionLayer': 'Projection Layer…',
  'layerlab.clearProjection': 'Clear Projection',
  'layerlab.logitLens': 'Logit Lens',
} as const;

export type ProbeCommandId = keyof typeof PROBE_COMMANDS;

/** Commands that run a model: refused in untrusted workspaces. */
const NEEDS_TRUST: ReadonlySet<ProbeCommandId> = new Set(['layerlab.steerCompare', 'layerlab.showProjection', 'layerlab.logitLens']);

const LAST_DIRECTION_KEY = 'layerlab.lastDirectionFile';
const LAST_VECTOR_KEY = 'layerlab.lastSteeringVector';
const DEFAULT_PROMPT = 'Once upon a time';

export interface ProbeDeps {
  client: Pick<RuntimeClient, 'runJob' | 'describeModel'>;
  settings(): LayerLabSettings | undefined;
  log: Pick<vscode.LogOutputChannel, 'info' | 'warn' | 'error' | 'show'>;
  workspaceState: vscode.Memento;
  /** The model to run (the Models view's selection, the remembered one, or asked); undefined when dismissed. */
  chooseModel(): Promise<string | undefined>;
  panels: ProbePanels;
  decorations: ProjectionDecorations;
}

class Dismissed extends Error {}

const VECTOR_FILTERS = { 'Vectors (directions, safetensors, .npy, GGUF)': ['safetensors', 'npy', 'gguf'] };

export class ProbeCommands {
  constructor(private readonly d: ProbeDeps) {}

  register(): vscode.Disposable[] {
    const handlers: Record<ProbeCommandId, () => Promise<unknown>> = {
      'layerlab.steerCompare': () => this.steerCompare(),
      'layerlab.showProjection': () => this.showProjection(),
      'layerlab.projectionLayer': () => this.projectionLayer(),
      'layerlab.clearProjection': async () => this.d.decorations.clear(),
      'layerlab.logitLens': () => this.logitLens(),
    };
    return Object.entries(handlers).map(([id, fn]) => vscode.commands.registerCommand(id, () => this.guard(id as ProbeCommandId, fn)));
  }

  private async guard<T>(id: ProbeCommandId, fn: () => Promise<T>): Promise<T | undefined> {
    const title = PROBE_COMMANDS[id];
    if (NEEDS_TRUST.has(id) && !vscode.workspace.isTrusted) {
      void vscode.window.showWarningMessage(untrustedMessage(title));
      return undefined;
    }
    try {
      return await fn();
    } catch (e) {
      if (e instanceof Dismissed) return undefined;
      const view = describeFailure(title, e as Error);
      (view.severity === 'error' ? this.d.log.error : this.d.log.info).call(this.d.log, view.message);
      void (view.severity === 'error' ? vscode.window.showErrorMessage : vscode.window.showWarningMessage)(view.message);
      return undefined;
    }
  }

  private settings(): LayerLabSettings {
    const s = this.d.settings();
    if (!s) throw new Error('open a folder first: LayerLab keeps its models, datasets and results in the workspace folder.');
    return s;
  }

  private async model(): Promise<string> {
    const m = await this.d.chooseModel();
    if (!m) throw new Dismissed();
    return m;
  }

  /** The selection of the active editor, or all its text, with the offset it starts at. */
  private editorText(): { editor: vscode.TextEditor; text: string; start: number } | undefined {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return undefined;
    const sel = editor.selection;
    if (!sel.isEmpty) return { editor, text: editor.document.getText(sel), start: editor.document.offsetAt(sel.start) };
    return { editor, text: editor.document.getText(), start: 0 };
  }

  /** The editor's selection, or a prompt typed in. */
  private async promptText(): Promise<string> {
    const editor = vscode.window.activeTextEditor;
    if (editor && !editor.selection.isEmpty) return editor.document.getText(editor.selection);
    const v = await vscode.window.showInputBox({ prompt: 'Prompt', value: DEFAULT_PROMPT, ignoreFocusOut: true });
    if (v === undefined) throw new Dismissed();
    return v;
  }

  private async vectorFile(title: string, key: string): Promise<string> {
    const s = this.settings();
    const remembered = this.d.workspaceState.get<string>(key);
    const start = remembered && fs.existsSync(remembered) ? vscode.Uri.file(remembered) : vscode.Uri.file(outputFolders(s).cache);
    const uris = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: title, filters: VECTOR_FILTERS, defaultUri: start });
    if (!uris?.length) throw new Dismissed();
    await this.d.workspaceState.update(key, uris[0]!.fsPath);
    return uris[0]!.fsPath;
  }

  private async blocks(model: string): Promise<number> {
    return (await this.d.client.describeModel(modelRef(model, this.settings()))).nBlocks;
  }

  /** Runs a job after logging its CLI twin; `notify` shows a cancellable notification. */
  async runJob<N extends JobName>(title: string, name: N, params: JobParamsIn<N>, notify = true): Promise<JobResult<N>> {
    this.d.log.info(`${title}: ${cliLine(JOBS[name], params as Record<string, unknown>)}`);
    return vscode.window.withProgress(
      { location: notify ? vscode.ProgressLocation.Notification : vscode.ProgressLocation.Window, title: `LayerLab: ${title}`, cancellable: notify },
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
  }

  // -------------------------------------------------------------------------------------------

  async logitLens(): Promise<void> {
    const model = await this.model();
    const prompt = await this.promptText();
    const lens = await this.runJob('Logit Lens', 'logit-lens', { ...modelRef(model, this.settings()), prompt, topK: 5 });
    this.d.panels.openLens({ type: 'showLens', lens, model: path.basename(model) });
  }

  async showProjection(): Promise<void> {
    const at = this.editorText();
    if (!at || at.text.trim() === '') throw new Error('Show Projection colours the text of an editor: open a file (or select text) first.');
    const model = await this.model();
    const direction = await this.vectorFile('Project onto This Direction', LAST_DIRECTION_KEY);
    const steerChoice = await vscode.window.showQuickPick(
      [
        { label: 'Project only', steer: false },
        { label: 'Project while steering…', description: 'add a vector at some layers and mark where it applied', steer: true },
      ],
      { placeHolder: 'Steer while projecting?', ignoreFocusOut: true },
    );
    if (!steerChoice) throw new Dismissed();
    let steering: Partial<JobParamsIn<'projection'>> = {};
    if (steerChoice.steer) {
      const n = await this.blocks(model);
      const vector = await this.vectorFile('Steer with This Vector', LAST_VECTOR_KEY);
      const hooks = await vscode.window.showInputBox({ prompt: `Hook points to steer (blocks 0..${n - 1})`, value: `blocks.${middleLayer(n)}.hook_resid_post`, ignoreFocusOut: true });
      if (!hooks) throw new Dismissed();
      const strength = await vscode.window.showInputBox({ prompt: 'Strength s (x ← x + s·u)', value: '4', ignoreFocusOut: true, validateInput: (v) => (typeof parseScale(v) === 'string' ? (parseScale(v) as string) : undefined) });
      if (strength === undefined) throw new Dismissed();
      steering = { steerHooks: hooks.split(/[\s,]+/).filter(Boolean), steerVector: vector, steerStrength: parseScale(strength) as number };
    }
    const result = await this.runJob('Show Projection', 'projection', { ...modelRef(model, this.settings()), prompt: at.text, direction, ...steering });
    this.present(at.editor, at.text, at.start, result, path.basename(model));
  }

  /** Puts a projection on the editor text and in the projection panel, at the middle layer. */
  present(editor: vscode.TextEditor, text: string, start: number, result: ProjectionResult, model: string): void {
    const shift = textOffset(result.prompt.text, text);
    if (shift === undefined) {
      this.d.log.warn('Show Projection: the tokenizer gives the text back differently, so the tokens cannot be placed on it; see the Projection panel');
    } else {
      this.d.decorations.show(editor.document, result, start + shift, middleLayer(result.hooks.length));
    }
    const hook = result.hooks[this.d.decorations.current?.hookIndex ?? middleLayer(result.hooks.length)]!;
    this.d.panels.openProjection({ type: 'showProjection', projection: result, model, hook });
  }

  async projectionLayer(): Promise<void> {
    const s = this.d.decorations.current;
    if (!s) throw new Error('no projection is shown: run Show Projection first.');
    const picked = await vscode.window.showQuickPick(
      s.result.hooks.map((hook, i) => ({ label: s.result.labels[i]!, description: hook, index: i, picked: i === s.hookIndex })),
      { placeHolder: 'Colour the tokens by their projection at which layer?' },
    );
    if (!picked) return;
    this.d.decorations.setLayer(picked.index);
  }

  async steerCompare(): Promise<void> {
    const model = await this.model();
    const how = await vscode.window.showQuickPick(
      [
        { label: 'A vector file', description: 'directions, safetensors, .npy or a GGUF control vector', contrast: false },
        { label: 'The contrast of two prompt files', description: 'mean(positive) − mean(negative) at the last token (.txt, one prompt per line)', contrast: true },
      ],
      { placeHolder: 'Steer with', ignoreFocusOut: true },
    );
    if (!how) throw new Dismissed();
    let source: CompareSource = { model };
    if (how.contrast) {
      const pick = async (label: string) => {
        const u = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: label, filters: { 'Prompts or traces': ['txt', 'json', 'jsonl', 'safetensors'] } });
        if (!u?.length) throw new Dismissed();
        return u[0]!.fsPath;
      };
      source = { model, steerPositive: [await pick('Positive Prompts')], steerNegative: [await pick('Negative Prompts')] };
    } else {
      source = { model, steerVector: await this.vectorFile('Steer with This Vector', LAST_VECTOR_KEY) };
    }
    const n = await this.blocks(model);
    const form: CompareForm = {
      prompt: await this.promptText(),
      steerHooks: [`blocks.${middleLayer(n)}.hook_resid_post`],
      steerMethod: 'add',
      steerStrength: 4,
      steerTarget: 0,
      steerNorm: 'absolute',
      steerPositions: 'all',
      maxNewTokens: 40,
    };
    const panel = this.d.panels.openCompare({ type: 'showCompare', source, form, result: null, busy: false });
    await panel.runForm(form);
  }

  /** What the Steer & Compare panel runs its form with. */
  compareRunner() {
    return {
      run: (params: JobParamsIn<'steer-compare'>) => this.runJob('Steer & Compare', 'steer-compare', params, false),
      pickVector: async () => {
        try {
          return { steerVector: await this.vectorFile('Steer with This Vector', LAST_VECTOR_KEY) };
        } catch (e) {
          if (e instanceof Dismissed) return undefined;
          throw e;
        }
      },
    };
  }

  modelFields(model: string): JobParamsIn<'steer-compare'> {
    return { ...modelRef(model, this.settings()) };
  }
}
