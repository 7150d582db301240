/**
 * Show Projection in the editor: each token of the projected text coloured by its projection
 * onto the direction at one layer (a diverging scale of theme colours package.json contributes,
 * so themes can restyle them), tokens where a steering edit applied outlined, a hover with the
 * token id and the value across all layers as a small chart, and a status-bar item naming the
 * layer that opens the layer picker. What goes where is decided in projectionView.ts.
 */
import * as vscode from 'vscode';
import { PROJECTION_EDITED_COLOR_ID, PROJECTION_LEVELS, projectionColorId, type ProjectionResult } from '../runtime/protocol/probe';
import { decorationPlan, hoverMarkdown, tokenAt } from './projectionView';

interface Shown {
  uri: string;
  version: number;
  result: ProjectionResult;
  /** Document offset of the projected text's start. */
  base: number;
  hookIndex: number;
}

export const PROJECTION_CONTEXT_KEY = 'layerlab.projectionShown';

export class ProjectionDecorations implements vscode.Disposable {
  private readonly types = new Map<number, vscode.TextEditorDecorationType>();
  private readonly edited: vscode.TextEditorDecorationType;
  private readonly status: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];
  private shown: Shown | undefined;
  /** Tells the projection page which layer the editor shows. */
  onLayerChange: ((hook: string) => void) | undefined;

  constructor() {
    for (let k = 1; k <= PROJECTION_LEVELS; k++) {
      for (const level of [k, -k]) this.types.set(level, vscode.window.createTextEditorDecorationType({ backgroundColor: new vscode.ThemeColor(projectionColorId(level)) }));
    }
    this.edited = vscode.window.createTextEditorDecorationType({ borderStyle: 'solid', borderWidth: '0 0 2px 0', borderColor: new vscode.ThemeColor(PROJECTION_EDITED_COLOR_ID) });
    this.status = vscode.window.createStatusBarItem('layerlab.projection', vscode.StatusBarAlignment.Right, 100);
    this.status.name = 'LayerLab Projection';
    this.disposables.push(
      vscode.languages.registerHoverProvider({ pattern: '**' }, { provideHover: (doc, pos) => this.hover(doc, pos) }),
      vscode.window.onDidChangeVisibleTextEditors(() => this.apply()),
      // Edited text no longer matches the tokens: the colours would lie, so they go.
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (this.shown && e.document.uri.toString() === this.shown.uri && e.contentChanges.length) this.clear();
      }),
    );
  }

  get current(): Readonly<Shown> | undefined {
    return this.shown;
  }

  show(document: vscode.TextDocument, result: ProjectionResult, base: number, hookIndex: number): void {
    this.shown = { uri: document.uri.toString(), version: document.version, result, base, hookIndex };
    void vscode.commands.executeCommand('setContext', PROJECTION_CONTEXT_KEY, true);
    this.apply();
  }

  setLayer(hookIndex: number): void {
    if (!this.shown || hookIndex === this.shown.hookIndex) return;
    if (hookIndex < 0 || hookIndex >= this.shown.result.hooks.length) return;
    this.shown.hookIndex = hookIndex;
    this.apply();
    this.onLayerChange?.(this.shown.result.hooks[hookIndex]!);
  }

  clear(): void {
    this.shown = undefined;
    void vscode.commands.executeCommand('setContext', PROJECTION_CONTEXT_KEY, false);
    this.apply();
  }

  private apply(): void {
    const s = this.shown;
    for (const editor of vscode.window.visibleTextEditors) {
      const mine = s && editor.document.uri.toString() === s.uri;
      const plan = mine ? decorationPlan(s.result, s.hookIndex, s.base) : undefined;
      const range = (r: { start: number; end: number }) => new vscode.Range(editor.document.positionAt(r.start), editor.document.positionAt(r.end));
      for (const [level, type] of this.types) editor.setDecorations(type, (plan?.byLevel.get(level) ?? []).map(range));
      editor.setDecorations(this.edited, (plan?.edited ?? []).map(range));
    }
    if (s) {
      const d = decorationPlan(s.result, s.hookIndex, s.base).domain;
      this.status.text = `$(symbol-color) x·d̂ ${s.result.labels[s.hookIndex]}`;
      this.status.command = 'layerlab.projectionLayer';
      this.status.tooltip = `LayerLab projection onto ${s.result.directionSource} at ${s.result.hooks[s.hookIndex]}: blue positive, red negative, strongest at ±${d.toFixed(3)}. Click to choose the layer.`;
      this.status.show();
    } else {
      this.status.hide();
    }
  }

  private hover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const s = this.shown;
    if (!s || doc.uri.toString() !== s.uri) return undefined;
    const i = tokenAt(s.result, s.base, doc.offsetAt(pos));
    if (i === undefined) return undefined;
    const t = s.result.prompt.tokens[i]!;
    const md = new vscode.MarkdownString(hoverMarkdown(s.result, i, s.hookIndex));
    return new vscode.Hover(md, new vscode.Range(doc.positionAt(s.base + t.start), doc.positionAt(s.base + t.end)));
  }

  dispose(): void {
    for (const t of this.types.values()) t.dispose();
    this.edited.dispose();
    this.status.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
