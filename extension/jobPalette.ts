/**
 * The palette's side of a job form (jobForm.ts decides; this file asks): one quick pick that
 * states everything the job will use — Run first, then the model, dataset, cache and directions
 * with where each came from, then the common parameters and "More options…" with the rest —
 * and lets any line be changed before running. A highlighted tree node or a context-menu node
 * pre-fills a line; nothing runs until Run is picked. Caches and directions from another model
 * are marked in their pickers and checked again at Run: refused when the runtime could not use
 * them, run only after an explicit confirmation otherwise. The last values are remembered per
 * workspace.
 *
 * Also the pickers the commands share: models, datasets, caches (matching the model first),
 * directions files and runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { FieldInfo } from '../runtime/protocol/argv';
import type { ModelRef } from '../runtime/protocol/jobs';
import { cacheLabels, describeHooks, formatModelOptions, modelNameOf } from '../runtime/protocol/labels';
import type { ModelFacts } from '../runtime/protocol/requests';
import { byCompatibility, compatibility, uncoveredEdits, uncoveredMessage, type Verdict } from './compatibility';
import {
  FORM_LAYOUTS,
  formatValue,
  formFields,
  INPUT_NOUN,
  moreLines,
  openForm,
  paramsOf,
  parseValue,
  plannedEdits,
  problemOf,
  rememberedOf,
  resetOptions,
  reviewLines,
  setValue,
  settingsValues,
  type FormJob,
  type FormState,
  type InputKind,
  type InputView,
  type Offered,
  type ReviewLine,
} from './jobForm';
import { middleLayer } from './jobParams';
import { outputFolders, type LayerLabSettings } from './settings';
import type { NodeKind, TreeNodeData } from './treeData';
import { describeHiddenStateFile, directionsPathOf, scanDatasets, scanHiddenStateFiles, scanModels, type HiddenStateFile } from './workspaceScan';

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

export type ViewName = 'models' | 'datasets' | 'cache' | 'runs';

/** Which view's highlighted node can pre-fill which input, and the node kinds that can. */
export const INPUT_SOURCES: Record<InputKind, { view: ViewName; kinds: NodeKind[] }> = {
  model: { view: 'models', kinds: ['model'] },
  dataset: { view: 'datasets', kinds: ['dataset'] },
  cache: { view: 'cache', kinds: ['cacheEntry', 'cacheFile', 'cacheHook'] },
  directions: { view: 'cache', kinds: [] },
};

/** The model Select Model chose: every job form starts from it. */
export const SELECTED_MODEL_KEY = 'layerlab.selectedModel';
const REMEMBERED_KEY = (job: FormJob) => `layerlab.lastParams.${job}`;
/** How long the model picker waits for the runtime's description of each model. */
const DESCRIBE_WAIT_MS = 1500;

export interface PaletteDeps {
  settings(): LayerLabSettings;
  describeModel(ref: ModelRef): Promise<ModelFacts>;
  selection(view: ViewName): TreeNodeData | undefined;
  workspaceState: vscode.Memento;
  log: Pick<vscode.LogOutputChannel, 'warn'>;
}

type PickItem<T> = vscode.QuickPickItem & { value: T };

/** The model fields of a form that change what the model is (its options): part of describeModel's ref. */
function modelRefOf(values: Record<string, unknown>, s: LayerLabSettings): ModelRef {
  const pick = (k: string) => (values[k] !== undefined ? { [k]: values[k] } : {});
  return { model: String(values.model), provider: s.provider, weights: s.weights, ...pick('weights'), ...pick('tokenizer'), ...pick('numSteps'), ...pick('stateInit'), ...pick('stateSeed') };
}

function exists(p: unknown): boolean {
  return typeof p === 'string' && (p === 'demo' || fs.existsSync(p));
}

export class JobPalette {
  private readonly facts = new Map<string, Promise<ModelFacts | undefined>>();

  constructor(private readonly d: PaletteDeps) {}

  // -------------------------------------------------------------------------------------------
  // Prompts

  async pick<T extends vscode.QuickPickItem>(items: T[], opts: vscode.QuickPickOptions & { active?: number } = {}): Promise<T | undefined> {
    // showQuickPick has no "active item" option; the active one goes first instead.
    const a = opts.active ?? 0;
    const ordered = a > 0 ? [items[a]!, ...items.slice(0, a), ...items.slice(a + 1)] : items;
    return vscode.window.showQuickPick(ordered, { ignoreFocusOut: true, matchOnDescription: true, matchOnDetail: true, ...opts });
  }

  /** A picked item, or Dismissed on Escape (ends the command). */
  async choose<T extends vscode.QuickPickItem>(items: T[], opts: vscode.QuickPickOptions & { active?: number } = {}): Promise<T> {
    const picked = await this.pick(items, opts);
    if (!picked) throw new Dismissed();
    return picked;
  }

  // -------------------------------------------------------------------------------------------
  // Model facts (blocks, d_model, hash, options), asked of the runtime without loading

  /** The model's facts under the form's options; undefined (logged) when the runtime cannot say. */
  modelFacts(ref: ModelRef): Promise<ModelFacts | undefined> {
    const key = JSON.stringify(ref);
    let f = this.facts.get(key);
    if (!f) {
      f = this.d.describeModel(ref).catch((e: Error) => {
        this.d.log.warn(`could not describe ${ref.model}: ${e.message}`);
        this.facts.delete(key);
        return undefined;
      });
      this.facts.set(key, f);
    }
    return f;
  }

  // -------------------------------------------------------------------------------------------
  // The form

  /**
   * Shows the job's form pre-filled from `offered` (a context-menu node, another command's
   * result), the tree selection, the Select Model choice, the last run of this job in the
   * workspace and the settings, and returns the params once Run is picked (Dismissed on Escape).
   */
  async fill<N extends FormJob>(job: N, title: string, offered: Record<string, Offered> = {}): Promise<ReturnType<typeof paramsOf<N>>> {
    const s = this.d.settings();
    let form = openForm(job, {
      settings: settingsValues(job, s, outputFolders(s)),
      remembered: this.remembered(job),
      offered: { ...this.defaultInputs(job), ...this.fromSelection(job), ...offered },
    });
    form = await this.suggest(form);
    for (;;) {
      const facts = await this.factsOf(form);
      const views = await this.inputViews(form, facts);
      const problem = problemOf(form, facts?.nBlocks);
      const lines = reviewLines(form, title, { inputs: views, problem });
      const picked = await this.choose(
        lines.map((l) => ({ ...l, line: l })),
        { title: `LayerLab: ${title}`, placeHolder: 'Enter runs with these settings; pick a line to change it, or type to search the parameters' },
      );
      if (picked.line.id === 'run') {
        if (problem) {
          const missing = FORM_LAYOUTS[job].inputs.find((i) => i.required && form.values[i.key] === undefined);
          if (missing) form = await this.editInput(form, missing.key, facts);
          else void vscode.window.showErrorMessage(`LayerLab: ${title} cannot run yet: ${problem}`);
          continue;
        }
        if (!(await this.compatible(form, facts))) continue;
        await this.d.workspaceState.update(REMEMBERED_KEY(job), rememberedOf(form));
        return paramsOf(form as FormState & { job: N });
      }
      form = await this.act(form, picked.line, facts);
    }
  }

  private async act(form: FormState, line: ReviewLine, facts: ModelFacts | undefined): Promise<FormState> {
    if (line.id === 'more') {
      const more = moreLines(form);
      const picked = await this.pick(more.map((l) => ({ ...l, line: l })), { title: 'LayerLab: more options', placeHolder: 'Pick a parameter to change it (Escape: back)' });
      return picked ? this.act(form, picked.line, facts) : form;
    }
    if (line.id === 'reset') return this.suggest(resetOptions(form));
    const [what, key] = line.id.split(':') as [string, string];
    if (what === 'input') return this.editInput(form, key, facts);
    if (what === 'field') return this.editField(form, key, facts);
    return form;
  }

  /** The last values of this job in this workspace, without files that have gone since. */
  private remembered(job: FormJob): Record<string, unknown> {
    const r = this.d.workspaceState.get<Record<string, unknown>>(REMEMBERED_KEY(job)) ?? {};
    const inputs = new Set(FORM_LAYOUTS[job].inputs.map((i) => i.key));
    return Object.fromEntries(Object.entries(r).filter(([k, v]) => !inputs.has(k) || exists(v)));
  }

  private defaultInputs(job: FormJob): Record<string, Offered> {
    const model = FORM_LAYOUTS[job].inputs.find((i) => i.kind === 'model');
    const selected = this.d.workspaceState.get<string>(SELECTED_MODEL_KEY);
    return model && selected && exists(selected) ? { [model.key]: { value: selected, origin: 'remembered' } } : {};
  }

  /** What the tree views' highlighted nodes offer the form's inputs. */
  private fromSelection(job: FormJob): Record<string, Offered> {
    const out: Record<string, Offered> = {};
    for (const slot of FORM_LAYOUTS[job].inputs) {
      const src = INPUT_SOURCES[slot.kind];
      const node = this.d.selection(src.view);
      if (node?.resourcePath && src.kinds.includes(node.kind)) out[slot.key] = { value: node.resourcePath, origin: 'selection' };
    }
    return out;
  }

  /** Fills what is still empty when the workspace leaves one sensible choice: the only model or dataset, the middle layer, the matching cache. */
  private async suggest(form: FormState): Promise<FormState> {
    const s = this.d.settings();
    let f = form;
    for (const slot of FORM_LAYOUTS[f.job].inputs) {
      if (f.values[slot.key] !== undefined || !slot.required) continue;
      const candidates =
        slot.kind === 'model'
          ? (await scanModels(s.modelsPath)).map((m) => m.path)
          : slot.kind === 'dataset'
            ? (await scanDatasets(s.datasetsPath)).map((d) => d.path)
            : (await scanHiddenStateFiles(outputFolders(s).cache)).filter((c) => c.kind === 'cache').map((c) => c.path);
      if (candidates.length === 1) f = setValue(f, slot.key, candidates[0], 'only');
    }
    const facts = await this.factsOf(f);
    if (facts && f.values.layerIndices === undefined && f.job === 'evaluate') f = setValue(f, 'layerIndices', [middleLayer(facts.nBlocks)], 'suggested');
    const cacheSlot = FORM_LAYOUTS[f.job].inputs.find((i) => i.kind === 'cache' && !i.required);
    if (facts && cacheSlot && f.values[cacheSlot.key] === undefined && f.values.directionFile === undefined) {
      const matching = (await this.hiddenStateFiles('cache')).filter((c) => this.verdictOf(c, facts, f).level === 'match');
      const data = typeof f.values.dataFile === 'string' ? path.basename(f.values.dataFile).replace(/\.(jsonl?|parquet)$/i, '') : undefined;
      const best = matching.filter((c) => c.description.dataName === data);
      const one = best.length === 1 ? best[0] : matching.length === 1 ? matching[0] : undefined;
      if (one) f = setValue(f, cacheSlot.key, one.path, 'suggested');
    }
    return f;
  }

  private async factsOf(form: FormState): Promise<ModelFacts | undefined> {
    if (typeof form.values.model !== 'string') return undefined;
    return this.modelFacts(modelRefOf(form.values, this.d.settings()));
  }

  private verdictOf(file: HiddenStateFile, facts: ModelFacts, form: FormState): Verdict {
    return compatibility({ path: String(form.values.model), contentHash: facts.contentHash, options: facts.options, dModel: facts.dModel }, file.source);
  }

  private async hiddenStateFiles(kind: 'cache' | 'directions'): Promise<HiddenStateFile[]> {
    return (await scanHiddenStateFiles(outputFolders(this.d.settings()).cache)).filter((f) => f.kind === kind);
  }

  private async inputViews(form: FormState, facts: ModelFacts | undefined): Promise<Record<string, InputView>> {
    const views: Record<string, InputView> = {};
    for (const slot of FORM_LAYOUTS[form.job].inputs) {
      const v = form.values[slot.key];
      if (typeof v !== 'string') continue;
      if (slot.kind === 'model') {
        views[slot.key] = { text: facts ? `${modelNameOf(v)} · ${facts.modelType} · ${facts.nBlocks} blocks · d_model ${facts.dModel}${formatModelOptions(facts.options) ? ` · ${formatModelOptions(facts.options)}` : ''}` : modelNameOf(v) };
      } else if (slot.kind === 'dataset') {
        views[slot.key] = { text: path.basename(v) };
      } else {
        const file = await describeHiddenStateFile(v).catch(() => undefined);
        if (!file) {
          views[slot.key] = { text: path.basename(v), warning: fs.existsSync(v) ? 'not a complete LayerLab file' : 'missing' };
          continue;
        }
        const verdict = facts ? this.verdictOf(file, facts, form) : undefined;
        views[slot.key] = {
          text: `${cacheLabels([{ key: 0, cache: file.description }]).get(0)} · ${describeHooks(file.hooks)}`,
          ...(verdict && verdict.level !== 'match' ? { warning: verdict.short } : {}),
        };
      }
    }
    return views;
  }

  /**
   * The check at Run: a cache or directions file from another model is refused when the runtime
   * could not apply it, and needs an explicit "Use Anyway" otherwise.
   */
  private async compatible(form: FormState, facts: ModelFacts | undefined): Promise<boolean> {
    if (!facts) return true;
    for (const slot of FORM_LAYOUTS[form.job].inputs) {
      const v = form.values[slot.key];
      if ((slot.kind !== 'cache' && slot.kind !== 'directions') || typeof v !== 'string') continue;
      const file = await describeHiddenStateFile(v).catch(() => undefined);
      if (!file) continue;
      const verdict = this.verdictOf(file, facts, form);
      if (verdict.level === 'refuse') {
        await vscode.window.showErrorMessage(`LayerLab: ${verdict.message}`, { modal: true });
        return false;
      }
      if (verdict.level === 'confirm') {
        const ok = await vscode.window.showWarningMessage(`LayerLab: ${verdict.message}`, { modal: true }, 'Use Anyway');
        if (ok !== 'Use Anyway') return false;
      }
    }
    // The blocks and hook chosen must have directions, or the job fails after reading every prompt.
    const edits = plannedEdits(form, facts.nBlocks);
    const source = edits ? await this.directionSource(form) : undefined;
    if (edits && source) {
      const missing = uncoveredEdits(edits, new Set(source.hooks), facts.blocks.map((b) => b.part));
      if (missing.length) {
        await vscode.window.showErrorMessage(`LayerLab: ${uncoveredMessage(source, missing)}`, { modal: true });
        return false;
      }
    }
    return true;
  }

  /**
   * Where a run's directions come from, as evaluate reads them: --direction_file, else the
   * directions beside the cache, else the cache (they are computed from it, every hook point).
   */
  private async directionSource(form: FormState): Promise<{ file: string; what: 'cache' | 'directions'; hooks: string[] } | undefined> {
    const given = form.values.directionFile;
    const cache = form.values.hiddenStatesCachePath;
    const file = typeof given === 'string' ? given : typeof cache === 'string' ? (fs.existsSync(directionsPathOf(cache)) ? directionsPathOf(cache) : cache) : undefined;
    const d = file ? await describeHiddenStateFile(file).catch(() => undefined) : undefined;
    return d ? { file: d.path, what: d.kind, hooks: d.hooks } : undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Editing a line

  private async editInput(form: FormState, key: string, facts: ModelFacts | undefined): Promise<FormState> {
    const slot = FORM_LAYOUTS[form.job].inputs.find((i) => i.key === key)!;
    const current = form.values[key] as string | undefined;
    let chosen: string | null | undefined;
    if (slot.kind === 'model') chosen = await this.pickModel(current);
    else if (slot.kind === 'dataset') chosen = await this.pickDataset(current);
    else chosen = await this.pickHiddenStateFile(slot.kind, { current, facts, form, optional: !slot.required });
    if (chosen === undefined) return form;
    let f = setValue(form, key, chosen ?? undefined, 'edited');
    if (slot.kind === 'model' && chosen !== current) {
      // Layers proposed for another model's depth are proposed afresh.
      if (f.origins.layerIndices === 'suggested') f = setValue(f, 'layerIndices', undefined);
      f = await this.suggest(f);
    }
    return f;
  }

  private async editField(form: FormState, key: string, facts: ModelFacts | undefined): Promise<FormState> {
    const all = [...formFields(form.job).common, ...formFields(form.job).more];
    const f = all.find((x) => x.key === key)!;
    const v = form.values[key];
    if (f.kind === 'boolean') return setValue(form, key, !(v ?? f.defaultValue ?? false));
    if (f.kind === 'enum') {
      const value = v ?? f.defaultValue;
      const items: PickItem<string | undefined>[] = f.values!.map((x) => ({ label: x, description: x === f.defaultValue ? 'default' : '', value: x }));
      if (f.defaultValue === undefined) items.unshift({ label: 'not set', description: 'the job decides', value: undefined });
      const picked = await this.pick(items, { title: `--${f.flag}`, placeHolder: f.help, active: Math.max(0, items.findIndex((i) => i.value === value)) });
      return picked ? setValue(form, key, picked.value === f.defaultValue ? undefined : picked.value) : form;
    }
    if (key === 'hooks') return this.editHooks(form, f, facts);
    const text = await vscode.window.showInputBox({
      title: `--${f.flag}`,
      prompt: `${f.help}${f.defaultValue !== undefined ? ` (default ${JSON.stringify(f.defaultValue)})` : ''}. Empty: the default.`,
      value: v === undefined ? '' : formatValue(f, v),
      ignoreFocusOut: true,
      validateInput: (t) => {
        const r = parseValue(form.job, f, t, { nBlocks: facts?.nBlocks });
        return r.ok ? undefined : r.error;
      },
    });
    if (text === undefined) return form;
    const r = parseValue(form.job, f, text, { nBlocks: facts?.nBlocks });
    return r.ok ? setValue(form, key, r.value) : form;
  }

  /**
   * Hook points: for caching, the schema's shorthands (post, pre, all) or chosen hook points of
   * the model; for directions, hook points of the cache.
   */
  private async editHooks(form: FormState, f: FieldInfo, facts: ModelFacts | undefined): Promise<FormState> {
    const current = form.values.hooks as string[] | undefined;
    let names: string[] = [];
    if (form.job === 'compute-directions' && typeof form.values.cache === 'string') {
      names = (await describeHiddenStateFile(form.values.cache).catch(() => undefined))?.hooks ?? [];
    } else if (facts) {
      names = facts.blocks.flatMap((b) => [`blocks.${b.index}.hook_resid_pre`, `blocks.${b.index}.hook_resid_post`]);
    }
    type HookItem = PickItem<string[] | undefined | 'choose'>;
    const shorthand: HookItem[] =
      form.job === 'save-hidden-states'
        ? [
            { label: 'post', description: 'every block’s output (hook_resid_post): the default', value: undefined },
            { label: 'pre', description: 'every block’s input (hook_resid_pre)', value: ['pre'] },
            { label: 'all', description: 'inputs and outputs of every block (twice the size)', value: ['all'] },
          ]
        : [{ label: 'every hook point in the cache', description: 'the default', value: undefined }];
    const items: HookItem[] = [...shorthand, ...(names.length ? [{ label: 'Choose hook points…', description: `${names.length} available`, value: 'choose' as const }] : [])];
    const active = Math.max(0, items.findIndex((i) => JSON.stringify(i.value) === JSON.stringify(current)));
    const picked = await this.pick(items, { title: `--${f.flag}`, placeHolder: f.help, active });
    if (!picked) return form;
    if (picked.value !== 'choose') return setValue(form, 'hooks', picked.value);
    const chosen = (await vscode.window.showQuickPick(
      names.map((n) => ({ label: n, picked: current?.includes(n) ?? false })),
      { canPickMany: true, title: `--${f.flag}`, placeHolder: 'Hook points to use', ignoreFocusOut: true, matchOnDescription: true },
    )) as vscode.QuickPickItem[] | undefined;
    return chosen?.length ? setValue(form, 'hooks', chosen.map((c) => c.label)) : form;
  }

  // -------------------------------------------------------------------------------------------
  // Pickers

  /** A model from the models folder (or anywhere, through Browse…); undefined on Escape. */
  async pickModel(current?: string): Promise<string | undefined> {
    const s = this.d.settings();
    const models = await scanModels(s.modelsPath);
    // Blocks and width where the runtime can say at once: a first look at a large checkpoint
    // hashes its weights, and the picker must not wait for that.
    const soon = <T>(p: Promise<T>) => Promise.race([p, new Promise<undefined>((r) => setTimeout(r, DESCRIBE_WAIT_MS, undefined))]);
    const facts = await Promise.all(models.map((m) => soon(this.modelFacts({ model: m.path, provider: s.provider }))));
    const browse: PickItem<string> = { label: '$(folder-opened) Browse…', description: 'a Hugging Face folder or a llama2.c .bin anywhere', value: '' };
    const items: PickItem<string>[] = [
      ...models.map((m, i) => {
        const f = facts[i];
        return {
          label: m.name,
          description: f ? `${f.modelType} · ${f.nBlocks} blocks · d_model ${f.dModel}` : m.format === 'llama2c' ? 'llama2.c checkpoint' : 'Hugging Face folder',
          detail: m.path,
          value: m.path,
        };
      }),
      browse,
    ];
    if (models.length === 0) {
      throw new CommandError(`no models in ${s.modelsPath}. Run the demo to create one, or select a model folder.`, [
        { title: 'Run Demo', command: 'layerlab.runDemo' },
        { title: 'Select Model', command: 'layerlab.selectModel' },
      ]);
    }
    const active = current ? items.findIndex((i) => i.value && path.resolve(i.value) === path.resolve(current)) : -1;
    const picked = await this.pick(items, { title: 'LayerLab: model', placeHolder: `Model (from ${s.modelsPath})`, active: Math.max(0, active) });
    if (!picked) return undefined;
    if (picked !== browse) return picked.value;
    const uris = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: true, canSelectMany: false, openLabel: 'Use Model' });
    return uris?.[0]?.fsPath;
  }

  async pickDataset(current?: string): Promise<string | undefined> {
    const s = this.d.settings();
    const sets = await scanDatasets(s.datasetsPath);
    if (sets.length === 0) {
      throw new CommandError(`no datasets in ${s.datasetsPath}. Add one (JSON, JSONL or Parquet) first.`, [{ title: 'Add Dataset', command: 'layerlab.addDataset' }]);
    }
    const browse: PickItem<string> = { label: '$(folder-opened) Browse…', description: 'a dataset file anywhere', value: '' };
    const items: PickItem<string>[] = [
      ...sets.map((d) => ({
        label: d.name,
        description: d.error ? `$(warning) ${d.error}` : d.records !== undefined ? `${d.records} records` : d.format,
        detail: d.path,
        value: d.path,
      })),
      browse,
    ];
    const active = current ? items.findIndex((i) => i.value && path.resolve(i.value) === path.resolve(current)) : -1;
    const picked = await this.pick(items, { title: 'LayerLab: dataset', placeHolder: `Dataset (from ${s.datasetsPath})`, active: Math.max(0, active) });
    if (!picked) return undefined;
    if (picked !== browse) return picked.value;
    const uris = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Use Dataset', filters: { Datasets: ['json', 'jsonl', 'parquet'] } });
    return uris?.[0]?.fsPath;
  }

  /**
   * A cache or directions file, labelled by model, dataset and settings; with a model chosen,
   * those of that model come first and the others say whose they are. Returns the path, null
   * for "none" (an optional input), undefined on Escape.
   */
  async pickHiddenStateFile(
    kind: 'cache' | 'directions',
    opts: { current?: string; facts?: ModelFacts; form?: FormState; optional?: boolean } = {},
  ): Promise<string | null | undefined> {
    const all = await this.hiddenStateFiles(kind);
    const verdict = (c: HiddenStateFile) => (opts.facts && opts.form ? this.verdictOf(c, opts.facts, opts.form) : undefined);
    const ordered = byCompatibility(all, verdict);
    const labels = cacheLabels(ordered.map((c) => ({ key: c.path, cache: c.description, mtimeMs: c.mtimeMs })));
    const model = opts.form && typeof opts.form.values.model === 'string' ? modelNameOf(opts.form.values.model) : undefined;
    const items: PickItem<string | null>[] = ordered.map((c) => {
      const v = verdict(c);
      const mark = !v ? '' : v.level === 'match' ? `$(check) ${model}` : `$(warning) ${v.short}`;
      return {
        label: labels.get(c.path)!,
        description: [mark, kind === 'cache' ? `${c.description.rows} rows` : undefined, describeHooks(c.hooks)].filter(Boolean).join(' · '),
        detail: c.path,
        value: c.path,
      };
    });
    if (opts.optional) {
      items.unshift(
        kind === 'cache'
          ? { label: 'No cache', description: 'the directions come from the directions file', value: null }
          : { label: 'From the cache', description: 'its directions, computed beside it if missing (the default)', value: null },
      );
    }
    if (!opts.optional && all.length === 0) {
      const dir = outputFolders(this.d.settings()).cache;
      throw new CommandError(`no hidden-state caches in ${dir}. Save hidden states first.`, [{ title: 'Save Hidden States', command: 'layerlab.saveHiddenStates' }]);
    }
    const browse: PickItem<string | null> = { label: '$(folder-opened) Browse…', description: `a ${INPUT_NOUN[kind]} anywhere`, value: '' };
    items.push(browse);
    const active = opts.current ? items.findIndex((i) => i.value && path.resolve(i.value) === path.resolve(opts.current!)) : -1;
    const picked = await this.pick(items, {
      title: `LayerLab: ${INPUT_NOUN[kind]}`,
      placeHolder: model ? `${INPUT_NOUN[kind]} (those of ${model} first; search by model, dataset or setting)` : `${INPUT_NOUN[kind]} (search by model, dataset or setting)`,
      active: Math.max(0, active),
    });
    if (!picked) return undefined;
    if (picked !== browse) return picked.value;
    const uris = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Use', filters: { safetensors: ['safetensors'] } });
    return uris?.[0]?.fsPath;
  }
}
