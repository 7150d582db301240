/**
 * The palette commands of the reasoning-behaviour workflow, one per job (generate chains,
 * annotate, vectors, layer effects, steering), plus opening annotations (decorations, quick
 * fixes) and behaviour charts. Like the other commands (extension/commands.ts, whose job runner,
 * model picker and error reporting they use), each takes what it was given (a tree node, a path),
 * asks only for what is missing, runs the job with its CLI twin logged, and offers the next step.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ANNOTATORS, type AnnotatorKind } from '../../runtime/protocol/thinking';
import { CommandError, Dismissed, type LayerLabCommands } from '../commands';
import { modelRef } from '../jobParams';
import { outputFolders, type LayerLabSettings } from '../settings';
import type { TreeNodeData } from '../treeData';
import type { AnnotationsView } from './annotations';
import type { ThinkingPanels } from './panels';
import { scanThinking } from './tree';

/** Palette commands (package.json declares the same, category LayerLab). */
export const THINKING_COMMANDS = {
  'layerlab.generateChains': 'Generate Reasoning Chains',
  'layerlab.annotateChains': 'Annotate Chains',
  'layerlab.behaviourVectors': 'Compute Behaviour Vectors',
  'layerlab.layerEffects': 'Select Layers by Patching',
  'layerlab.steerEval': 'Evaluate Steering',
  'layerlab.openAnnotations': 'Open Annotations',
  'layerlab.openBehaviourChart': 'Open Behaviour Chart',
} as const;

export type ThinkingCommandId = keyof typeof THINKING_COMMANDS;

/** Commands run by quick fixes (hidden from the palette). */
export const THINKING_INTERNAL_COMMANDS = { 'layerlab.editSpan': 'Edit Annotation Span' } as const;

/** Commands that run models need a trusted workspace; opening files does not. */
const NEEDS_TRUST: ReadonlySet<ThinkingCommandId> = new Set(['layerlab.generateChains', 'layerlab.annotateChains', 'layerlab.behaviourVectors', 'layerlab.layerEffects', 'layerlab.steerEval']);

type Target = TreeNodeData | string | vscode.Uri | undefined;

function pathOf(t: Target): string | undefined {
  if (!t) return undefined;
  if (typeof t === 'string') return t;
  if (t instanceof vscode.Uri) return t.fsPath;
  return t.resourcePath;
}

export interface ThinkingCommandDeps {
  commands: LayerLabCommands;
  settings(): LayerLabSettings | undefined;
  annotations: AnnotationsView;
  panels: ThinkingPanels;
  refresh(): void;
}

export class ThinkingCommands {
  constructor(private readonly d: ThinkingCommandDeps) {}

  register(): vscode.Disposable[] {
    const handlers: Record<ThinkingCommandId, (t?: Target) => Promise<unknown>> = {
      'layerlab.generateChains': (t) => this.generateChains(t),
      'layerlab.annotateChains': (t) => this.annotate(t),
      'layerlab.behaviourVectors': (t) => this.vectors(t),
      'layerlab.layerEffects': (t) => this.effects(t),
      'layerlab.steerEval': (t) => this.steer(t),
      'layerlab.openAnnotations': (t) => this.openAnnotations(t),
      'layerlab.openBehaviourChart': (t) => this.openChart(t),
    };
    return Object.entries(handlers).map(([id, fn]) =>
      vscode.commands.registerCommand(id, (t?: Target) => this.d.commands.guarded(THINKING_COMMANDS[id as ThinkingCommandId], NEEDS_TRUST.has(id as ThinkingCommandId), () => fn(t))),
    );
  }

  private settings(): LayerLabSettings {
    const s = this.d.settings();
    if (!s) throw new CommandError('open a folder first: LayerLab keeps its models, datasets and results in the workspace folder.');
    return s;
  }

  private async pickFile(t: Target, kind: 'chains' | 'annotations' | 'vectors', what: string, next: { title: string; command: string }): Promise<string> {
    const given = pathOf(t);
    if (given) return given;
    const dir = outputFolders(this.settings()).thinking;
    const found = await scanThinking(dir);
    const files = found[kind].map((f) => f.path);
    if (files.length === 0) throw new CommandError(`no ${what} in ${dir} yet.`, [next]);
    if (files.length === 1) return files[0]!;
    const picked = await vscode.window.showQuickPick(files.map((f) => ({ label: path.relative(dir, f), path: f })), { placeHolder: what, ignoreFocusOut: true });
    if (!picked) throw new Dismissed();
    return picked.path;
  }

  /** The model a file says it came from (provenance, statistics), else the usual choice. */
  private async modelFor(recorded: string | undefined): Promise<string> {
    if (recorded && fs.existsSync(recorded)) return recorded;
    return this.d.commands.model(undefined);
  }

  private offer(message: string, actions: { title: string; run: () => Promise<unknown> }[]): void {
    void Promise.resolve(vscode.window.showInformationMessage(message, ...actions.map((a) => a.title))).then(async (picked) => {
      const a = actions.find((x) => x.title === picked);
      if (a) await this.d.commands.guarded(a.title, false, a.run);
    });
  }

  private async run<N extends Parameters<LayerLabCommands['runJob']>[1]>(title: string, name: N, params: Parameters<LayerLabCommands['runJob']>[2] & object) {
    try {
      return await this.d.commands.runJob(title, name, params as never);
    } finally {
      this.d.refresh();
    }
  }

  async generateChains(t?: Target): Promise<string> {
    const s = this.settings();
    const model = await this.d.commands.model(t);
    let tasks = typeof t === 'string' && /\.(jsonl?|json)$/.test(t) ? t : undefined;
    if (!tasks) {
      const uris = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Use Task Set', filters: { 'Task set': ['jsonl', 'json'] }, defaultUri: vscode.Uri.file(s.datasetsPath) });
      if (!uris?.length) throw new Dismissed();
      tasks = uris[0]!.fsPath;
    }
    const r = (await this.run(THINKING_COMMANDS['layerlab.generateChains'], 'generate-chains', { ...modelRef(model, s), tasks, outputPath: outputFolders(s).thinking })) as { chainsFile: string; chains: number };
    this.offer(`LayerLab: ${r.chains} chains written to ${path.basename(r.chainsFile)}.`, [{ title: 'Annotate', run: () => this.annotate(r.chainsFile) }]);
    return r.chainsFile;
  }

  async annotate(t?: Target): Promise<string> {
    const chains = await this.pickFile(t, 'chains', 'Chains to annotate', { title: 'Generate Reasoning Chains', command: 'layerlab.generateChains' });
    const descriptions: Record<AnnotatorKind, string> = {
      rules: 'documented phrase rules per behaviour (no model)',
      import: 'spans from a JSONL file of another tool',
      model: "a chat model with the paper's definitions (a model here, or an OpenAI-compatible endpoint)",
    };
    const picked = await vscode.window.showQuickPick(ANNOTATORS.map((a) => ({ label: a, description: descriptions[a] })), { placeHolder: 'Annotator', ignoreFocusOut: true });
    if (!picked) throw new Dismissed();
    const annotator = picked.label as AnnotatorKind;
    const extra: Record<string, unknown> = {};
    if (annotator === 'import') {
      const uris = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Import Spans', filters: { 'JSONL spans': ['jsonl'] } });
      if (!uris?.length) throw new Dismissed();
      extra.importFile = uris[0]!.fsPath;
    } else if (annotator === 'model') {
      const how = await vscode.window.showQuickPick([{ label: 'A model in this workspace' }, { label: 'An OpenAI-compatible endpoint' }], { placeHolder: 'Which model annotates?' });
      if (!how) throw new Dismissed();
      if (how.label.startsWith('A model')) extra.annotatorModel = await this.d.commands.model(undefined, true);
      else {
        const url = await vscode.window.showInputBox({ prompt: 'Endpoint (OpenAI chat completions), e.g. http://127.0.0.1:8000/v1', ignoreFocusOut: true, validateInput: (v) => (/^https?:\/\/\S+$/.test(v) ? undefined : 'an http:// or https:// URL') });
        if (!url) throw new Dismissed();
        extra.endpoint = url;
      }
    }
    const r = (await this.run(THINKING_COMMANDS['layerlab.annotateChains'], 'annotate', { chains, annotator, ...extra })) as { annotationsFile: string; spans: number };
    this.offer(`LayerLab: ${r.spans} spans in ${path.basename(r.annotationsFile)}.`, [
      { title: 'Open Annotations', run: () => this.openAnnotations(r.annotationsFile) },
      { title: 'Compute Vectors', run: () => this.vectors(r.annotationsFile) },
    ]);
    return r.annotationsFile;
  }

  async vectors(t?: Target): Promise<string> {
    const s = this.settings();
    const annotations = await this.pickFile(t, 'annotations', 'Annotations to compute vectors from', { title: 'Annotate Chains', command: 'layerlab.annotateChains' });
    const chainsProv = (() => {
      try {
        const header = JSON.parse(fs.readFileSync(annotations, 'utf8').split('\n', 1)[0]!) as { chains?: string };
        return JSON.parse(fs.readFileSync(header.chains!.replace(/\.jsonl$/, '.json'), 'utf8')) as { model?: { path?: string } };
      } catch {
        return undefined;
      }
    })();
    const model = await this.modelFor(chainsProv?.model?.path);
    const r = (await this.run(THINKING_COMMANDS['layerlab.behaviourVectors'], 'behaviour-vectors', { ...modelRef(model, s), annotations })) as { vectorsFile: string; statsFile: string };
    this.offer(`LayerLab: vectors written to ${path.basename(r.vectorsFile)}.`, [
      { title: 'Open Chart', run: () => this.openChart(r.statsFile) },
      { title: 'Select Layers', run: () => this.effects(r.vectorsFile) },
    ]);
    return r.vectorsFile;
  }

  private statsModel(vectorsFile: string): string | undefined {
    try {
      return (JSON.parse(fs.readFileSync(vectorsFile.replace(/\.safetensors$/, '.json'), 'utf8')) as { model?: { path?: string } }).model?.path;
    } catch {
      return undefined;
    }
  }

  async effects(t?: Target): Promise<string> {
    const s = this.settings();
    const vectors = await this.pickFile(t, 'vectors', 'Vectors whose layers to rank', { title: 'Compute Behaviour Vectors', command: 'layerlab.behaviourVectors' });
    const model = await this.modelFor(this.statsModel(vectors));
    const r = (await this.run(THINKING_COMMANDS['layerlab.layerEffects'], 'layer-effects', { ...modelRef(model, s), vectors })) as { effectsFile: string };
    await this.d.panels.openChart(r.effectsFile);
    this.offer(`LayerLab: layer effects written to ${path.basename(r.effectsFile)}.`, [{ title: 'Evaluate Steering', run: () => this.steer(vectors) }]);
    return r.effectsFile;
  }

  async steer(t?: Target): Promise<string> {
    const s = this.settings();
    const vectors = await this.pickFile(t, 'vectors', 'Vectors to steer with', { title: 'Compute Behaviour Vectors', command: 'layerlab.behaviourVectors' });
    const model = await this.modelFor(this.statsModel(vectors));
    const r = (await this.run(THINKING_COMMANDS['layerlab.steerEval'], 'steer-eval', { ...modelRef(model, s), vectors })) as { steeringFile: string };
    await this.d.panels.openChart(r.steeringFile);
    return r.steeringFile;
  }

  async openAnnotations(t?: Target): Promise<vscode.TextEditor> {
    const file = await this.pickFile(t, 'annotations', 'Annotations to open', { title: 'Annotate Chains', command: 'layerlab.annotateChains' });
    return this.d.annotations.open(file);
  }

  async openChart(t?: Target): Promise<unknown> {
    let file = pathOf(t);
    if (file?.endsWith('.vectors.safetensors')) file = file.replace(/\.safetensors$/, '.json');
    if (!file) {
      const found = await scanThinking(outputFolders(this.settings()).thinking);
      const charts = found.vectors.flatMap((v) => [v.path.replace(/\.safetensors$/, '.json'), ...(v.effects ? [v.effects] : []), ...(v.steering ? [v.steering] : [])]);
      if (!charts.length) throw new CommandError('no behaviour vectors yet.', [{ title: 'Compute Behaviour Vectors', command: 'layerlab.behaviourVectors' }]);
      const picked = await vscode.window.showQuickPick(charts.map((c) => ({ label: path.basename(c), description: path.dirname(c), path: c })), { placeHolder: 'Chart' });
      if (!picked) throw new Dismissed();
      file = picked.path;
    }
    return this.d.panels.openChart(file);
  }
}
