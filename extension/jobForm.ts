/**
 * The palette's form for a job: every parameter of the job's schema, shown before it runs.
 * What a parameter is — its flag, kind, allowed values, help text and default — comes from the
 * job's schema through fieldsOf (runtime/protocol/argv.ts), so the palette offers exactly the
 * CLI's parameters with the CLI's defaults, and what it runs is logged as the CLI twin. This
 * module adds only how the palette arranges them:
 *
 *   - inputs: the model, dataset, cache and directions, chosen from the workspace with pickers
 *     and always stated first, each with where its value came from (the tree selection, the
 *     last run, the only one there is);
 *   - common parameters, listed next;
 *   - the rest, behind "More options…";
 *   - parameters the palette chooses through another one (the seed's `--models_path` +
 *     `--model_name` spelling of `--model`), not offered twice.
 *
 * Plain data and functions (no vscode): the VS Code side (jobPalette.ts) shows what these
 * decide, and unit tests check it.
 */
import { z } from 'zod';
import { cliLine, describeIssues, fieldsOf, type FieldInfo } from '../runtime/protocol/argv';
import type { HookKind } from '../runtime/protocol/directionHooks';
import { JOBS, type JobParamsIn } from '../runtime/protocol/jobs';
import { parseLayerList } from './jobParams';

/** The jobs the palette runs through a form. */
export const FORM_JOBS = ['save-hidden-states', 'compute-directions', 'evaluate', 'sweep'] as const;
export type FormJob = (typeof FORM_JOBS)[number];

/** Workspace files a job reads, each with its own picker. */
export type InputKind = 'model' | 'dataset' | 'cache' | 'directions';

export interface InputSlot {
  kind: InputKind;
  /** The job parameter the choice fills. */
  key: string;
  /** The job cannot run without it (otherwise leaving it empty means the job's own default). */
  required: boolean;
  /** What the job does when an optional input is left empty. */
  unset?: string;
}

export interface FormLayout {
  inputs: InputSlot[];
  /** Parameters listed right after the inputs, in this order; the rest go under "More options…". */
  common: string[];
  /** Parameters the palette sets through another one: key → the key that chooses it. */
  chosenThrough: Record<string, string>;
  /** Values the form opens with before remembered ones: what the command's title promises. */
  presets: Record<string, unknown>;
  /** Parameters that take effect only while a switch is on (hidden and not sent while it is off). */
  onlyWith: Record<string, string[]>;
  /**
   * Parameters not carried over to the next form: they name one run's output or describe one
   * dataset, so remembering them would overwrite a result or misread the next dataset.
   */
  perRun: string[];
}

const MODEL_SPELLINGS = { modelsPath: 'model', modelName: 'model' };
const TEST_DATA_SPELLINGS = { testDataPath: 'dataFile', testDataName: 'dataFile', mmluPro3000samplesDataFilePath: 'dataFile' };

export const FORM_LAYOUTS: Record<FormJob, FormLayout> = {
  'save-hidden-states': {
    inputs: [
      { kind: 'model', key: 'model', required: true },
      { kind: 'dataset', key: 'dataFilePath', required: true },
    ],
    common: ['hooks', 'positions', 'dataSampleSize', 'onLongPrompt', 'template'],
    chosenThrough: MODEL_SPELLINGS,
    presets: {},
    onlyWith: {},
    perRun: ['dataName', 'kind', 'split', 'labelRule'],
  },
  'compute-directions': {
    inputs: [{ kind: 'cache', key: 'cache', required: true }],
    common: ['holdout', 'seed', 'hooks', 'minPerLabel'],
    chosenThrough: {},
    presets: {},
    onlyWith: {},
    perRun: ['hooks'],
  },
  evaluate: {
    inputs: [
      { kind: 'model', key: 'model', required: true },
      { kind: 'dataset', key: 'dataFile', required: true },
      { kind: 'cache', key: 'hiddenStatesCachePath', required: false, unset: 'none: the directions come from the directions file' },
      { kind: 'directions', key: 'directionFile', required: false, unset: "the cache's (computed beside it if missing)" },
    ],
    common: ['withIntervention', 'layerIndices', 'withPostHook', 'withPreHook', 'scale', 'alpha', 'withBaseline', 'scoring', 'maxNewTokens', 'sampleSize', 'split', 'withFewshotPrompts'],
    chosenThrough: { ...MODEL_SPELLINGS, ...TEST_DATA_SPELLINGS },
    // "Evaluate Accuracy with Intervention": the title promises an intervention (the CLI's
    // default is the baseline alone); the form shows it switched on, and it can be switched off.
    presets: { withIntervention: true },
    onlyWith: { withIntervention: ['layerIndices', 'withPostHook', 'withPreHook', 'scale', 'alpha', 'directionLayer', 'withBaseline', 'directionFile'] },
    perRun: ['out', 'kind', 'dataSplit', 'labelRule'],
  },
  sweep: {
    inputs: [
      { kind: 'model', key: 'model', required: true },
      { kind: 'dataset', key: 'dataFile', required: true },
      { kind: 'cache', key: 'hiddenStatesCachePath', required: false, unset: 'none: the directions come from the directions file' },
      { kind: 'directions', key: 'directionFile', required: false, unset: "the cache's (computed beside it if missing)" },
    ],
    common: ['layerIndices', 'withPostHook', 'withPreHook', 'scales', 'alphas', 'scoring', 'maxNewTokens', 'sampleSize', 'split', 'randomControls', 'withFewshotPrompts'],
    chosenThrough: { ...MODEL_SPELLINGS, ...TEST_DATA_SPELLINGS },
    presets: {},
    onlyWith: {},
    perRun: ['out', 'kind', 'dataSplit', 'labelRule'],
  },
};

export function isFormJob(name: string): name is FormJob {
  return (FORM_JOBS as readonly string[]).includes(name);
}

/** A job's parameters as the form arranges them. */
export function formFields(job: FormJob): { inputs: (InputSlot & { field: FieldInfo })[]; common: FieldInfo[]; more: FieldInfo[] } {
  const layout = FORM_LAYOUTS[job];
  const fields = fieldsOf(JOBS[job]);
  const byKey = new Map(fields.map((f) => [f.key, f]));
  const inputKeys = new Set(layout.inputs.map((i) => i.key));
  const commonKeys = new Set(layout.common);
  return {
    inputs: layout.inputs.map((i) => ({ ...i, field: byKey.get(i.key)! })),
    common: layout.common.map((k) => byKey.get(k)!),
    more: fields.filter((f) => !inputKeys.has(f.key) && !commonKeys.has(f.key) && !(f.key in layout.chosenThrough)),
  };
}

// ---------------------------------------------------------------------------------------------
// Values

/**
 * What the settings put in a job's form: the provider, weight precision and threads of every model-using job,
 * `layerlab.batchSize` when set (otherwise the job's own default, the CLI's: 4 prompts per pass
 * when caching, 1 when evaluating), and the output folders the views show.
 */
export function settingsValues(
  job: FormJob,
  s: { provider: string; weights: string; threads: number; batchSize?: number },
  folders: { cache: string; runs: string },
): Record<string, unknown> {
  const keys = new Set(fieldsOf(JOBS[job]).map((f) => f.key));
  const out: Record<string, unknown> = {};
  if (keys.has('provider')) out.provider = s.provider;
  if (keys.has('weights')) out.weights = s.weights;
  if (keys.has('threads') && s.threads > 0) out.threads = s.threads;
  if (s.batchSize !== undefined) for (const k of ['dataBatchSize', 'batchSize']) if (keys.has(k)) out[k] = s.batchSize;
  if (keys.has('outputPath')) out.outputPath = job === 'save-hidden-states' ? folders.cache : folders.runs;
  return out;
}

/** Where a value in the form came from, as the form says it. */
export type Origin = 'given' | 'selection' | 'remembered' | 'settings' | 'preset' | 'only' | 'edited' | 'suggested';

export const ORIGIN_TEXT: Record<Origin, string> = {
  given: 'chosen for this run',
  selection: 'highlighted in the view',
  remembered: 'last used',
  settings: 'from settings',
  preset: "this command's choice",
  only: 'the only one',
  edited: 'changed',
  suggested: 'suggested',
};

export interface FormState {
  job: FormJob;
  /** Parameters set in the form; unset ones take the job's default. */
  values: Record<string, unknown>;
  origins: Record<string, Origin>;
}

/** A value offered to the form, and why. */
export interface Offered {
  value: unknown;
  origin: Origin;
}

/**
 * The form as it opens: the schema's defaults (left unset), then the command's presets, the
 * settings, the values remembered from the last run in this workspace, then the tree selection,
 * then what the command was given (a context-menu node, another command's result): later
 * sources win. Parameters the job does not have are ignored, so a remembered value of a removed
 * parameter does no harm.
 */
export function openForm(job: FormJob, sources: { settings?: Record<string, unknown>; remembered?: Record<string, unknown>; offered?: Record<string, Offered> } = {}): FormState {
  const known = new Set(fieldsOf(JOBS[job]).map((f) => f.key));
  const state: FormState = { job, values: {}, origins: {} };
  const set = (k: string, v: unknown, o: Origin) => {
    if (!known.has(k) || v === undefined) return;
    state.values[k] = v;
    state.origins[k] = o;
  };
  for (const [k, v] of Object.entries(FORM_LAYOUTS[job].presets)) set(k, v, 'preset');
  for (const [k, v] of Object.entries(sources.settings ?? {})) set(k, v, 'settings');
  for (const [k, v] of Object.entries(sources.remembered ?? {})) set(k, v, 'remembered');
  for (const [k, o] of Object.entries(sources.offered ?? {})) set(k, o.value, o.origin);
  return state;
}

export function setValue(form: FormState, key: string, value: unknown, origin: Origin = 'edited'): FormState {
  const values = { ...form.values };
  const origins = { ...form.origins };
  if (value === undefined) {
    delete values[key];
    delete origins[key];
  } else {
    values[key] = value;
    origins[key] = origin;
  }
  return { ...form, values, origins };
}

/** Back to the schema's defaults and the command's presets; the inputs stay. */
export function resetOptions(form: FormState): FormState {
  const inputs = new Set(FORM_LAYOUTS[form.job].inputs.map((i) => i.key));
  const kept = Object.fromEntries(Object.entries(form.values).filter(([k]) => inputs.has(k)).map(([k, v]) => [k, { value: v, origin: form.origins[k]! }]));
  return openForm(form.job, { offered: kept });
}

/** Whether a parameter takes effect under the form's current switches. */
export function isActive(form: FormState, key: string): boolean {
  for (const [sw, keys] of Object.entries(FORM_LAYOUTS[form.job].onlyWith)) {
    if (keys.includes(key) && !(form.values[sw] ?? defaultOf(form.job, sw))) return false;
  }
  return true;
}

function defaultOf(job: FormJob, key: string): unknown {
  return fieldsOf(JOBS[job]).find((f) => f.key === key)?.defaultValue;
}

/** The job's params: the form's values that take effect (defaults left to the job). */
export function paramsOf<N extends FormJob>(form: FormState & { job: N }): JobParamsIn<N> {
  return Object.fromEntries(Object.entries(form.values).filter(([k, v]) => v !== undefined && isActive(form, k))) as JobParamsIn<N>;
}

/** What a run of the form would be, as the CLI line the palette logs. */
export function cliOf(form: FormState): string {
  return cliLine(JOBS[form.job], paramsOf(form) as Record<string, unknown>);
}

/**
 * The values to remember for the next form of this job: everything chosen, except copies of
 * the settings and presets, and what belongs to this run only (an output file, a data name).
 */
export function rememberedOf(form: FormState): Record<string, unknown> {
  const perRun = new Set(FORM_LAYOUTS[form.job].perRun);
  return Object.fromEntries(Object.entries(form.values).filter(([k]) => form.origins[k] !== 'settings' && form.origins[k] !== 'preset' && !perRun.has(k)));
}

/**
 * Why the form cannot run yet, in the CLI's words (the job schema's own checks, flags named as
 * the CLI twin spells them), or undefined. `nBlocks` adds the model's block range to layer checks.
 */
export function problemOf(form: FormState, nBlocks?: number): string | undefined {
  const job = JOBS[form.job];
  for (const slot of FORM_LAYOUTS[form.job].inputs) {
    if (slot.required && form.values[slot.key] === undefined) return `choose the ${INPUT_NOUN[slot.kind]}`;
  }
  const params = paramsOf(form) as Record<string, unknown>;
  const r = (job.params as z.ZodTypeAny).safeParse(params);
  if (!r.success) return describeIssues(job, r.error).message;
  if (nBlocks !== undefined) {
    for (const key of ['layerIndices', 'directionLayer']) {
      const v = params[key];
      const layers = Array.isArray(v) ? (v as number[]) : typeof v === 'number' ? [v] : [];
      const bad = layers.find((l) => l >= nBlocks);
      if (bad !== undefined) return `--${fieldsOf(job).find((f) => f.key === key)!.flag}: layer ${bad} does not exist: the model has blocks 0..${nBlocks - 1}`;
    }
  }
  if (form.job === 'evaluate' && params.withIntervention && params.layerIndices === undefined) return '--layer_indices: choose the blocks to edit';
  const edits = form.job === 'sweep' || (form.job === 'evaluate' && params.withIntervention);
  if (edits && params.hiddenStatesCachePath === undefined && params.directionFile === undefined && params.directionFiles === undefined) {
    return 'choose a hidden-state cache or a directions file: the intervention needs directions';
  }
  return undefined;
}

/** The edits a run of the form makes: which blocks at which hook, and whose direction. */
export interface PlannedEdits {
  blocks: number[];
  kinds: HookKind[];
  directionLayer?: number;
}

/**
 * What a run of the form edits, as evaluate and sweep read their flags (an evaluation edits the
 * output unless --with_pre_hook; a sweep edits outputs, inputs, or both, at every block unless
 * --layer_indices): undefined when it edits nothing (a baseline evaluation, other jobs).
 */
export function plannedEdits(form: FormState, nBlocks: number): PlannedEdits | undefined {
  const v = paramsOf(form) as Record<string, unknown>;
  const directionLayer = typeof v.directionLayer === 'number' ? { directionLayer: v.directionLayer } : {};
  if (form.job === 'evaluate') {
    if (!(v.withIntervention ?? false)) return undefined;
    return { blocks: (v.layerIndices as number[] | undefined) ?? [], kinds: [v.withPreHook ? 'hook_resid_pre' : 'hook_resid_post'], ...directionLayer };
  }
  if (form.job === 'sweep') {
    const kinds: HookKind[] = [...(v.withPreHook ? ['hook_resid_pre' as const] : []), ...(v.withPostHook || !v.withPreHook ? ['hook_resid_post' as const] : [])];
    return { blocks: (v.layerIndices as number[] | undefined) ?? Array.from({ length: nBlocks }, (_, b) => b), kinds, ...directionLayer };
  }
  return undefined;
}

export const INPUT_NOUN: Record<InputKind, string> = {
  model: 'model',
  dataset: 'dataset',
  cache: 'hidden-state cache',
  directions: 'directions file',
};

// ---------------------------------------------------------------------------------------------
// Showing and typing values

/** A value as the form lists it (lists space-separated, switches on/off). */
export function formatValue(f: FieldInfo, v: unknown): string {
  if (v === undefined) return '';
  if (f.kind === 'boolean') return v ? 'on' : 'off';
  if (Array.isArray(v)) return f.kind === 'string[]' ? v.map((x) => (/[\s,]/.test(String(x)) || String(x) === '' ? JSON.stringify(x) : String(x))).join(', ') : v.join(' ');
  return String(v);
}

/** `post (default)`, `0.5`, `not set (default: all)`: what the form shows beside a parameter. */
export function describeValue(f: FieldInfo, v: unknown): string {
  if (v !== undefined) return formatValue(f, v) + (f.defaultValue !== undefined && JSON.stringify(v) === JSON.stringify(f.defaultValue) ? ' (default)' : '');
  if (f.defaultValue !== undefined) return `${formatValue(f, f.defaultValue)} (default)`;
  const d = /\(default:? ([^)]*)\)/.exec(f.help)?.[1];
  return d ? `default: ${d}` : 'not set';
}

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * Parses what was typed for a parameter, then checks it with the parameter's own schema, so an
 * input box refuses exactly what the CLI refuses. Empty text unsets an optional parameter (its
 * default applies). Number lists take spaces or commas, and layer lists ranges (`10-14`); string
 * lists are comma-separated, or a JSON array when an item holds a comma.
 */
export function parseValue(job: FormJob, f: FieldInfo, text: string, opts: { nBlocks?: number } = {}): Parsed {
  const t = text.trim();
  if (t === '') return f.required ? { ok: false, error: `--${f.flag} needs a value` } : { ok: true, value: undefined };
  let value: unknown;
  switch (f.kind) {
    case 'integer':
    case 'number': {
      const n = Number(t);
      // Worded as the CLI words it (argv.ts convert): what the flag takes, and what was given.
      if (!Number.isFinite(n) || (f.kind === 'integer' && !Number.isInteger(n))) return { ok: false, error: `--${f.flag} takes ${f.kind === 'integer' ? 'an integer' : 'a number'}, got '${t}'` };
      value = n;
      break;
    }
    case 'integer[]':
    case 'number[]': {
      if (f.key === 'layerIndices') {
        // Layer lists take ranges (10-14) and stay within the model's blocks.
        const layers = parseLayerList(t, opts.nBlocks);
        if (typeof layers === 'string') return { ok: false, error: layers };
        value = layers;
        break;
      }
      const parts = t.split(/[\s,]+/).filter(Boolean);
      const xs = parts.map(Number);
      const bad = parts.find((_, i) => !Number.isFinite(xs[i]!) || (f.kind === 'integer[]' && !Number.isInteger(xs[i]!)));
      if (bad !== undefined) return { ok: false, error: `--${f.flag} takes ${f.kind === 'integer[]' ? 'integers' : 'numbers'}, got '${bad}'` };
      value = xs;
      break;
    }
    case 'string[]':
      if (t.startsWith('[')) {
        try {
          value = JSON.parse(t);
        } catch (e) {
          return { ok: false, error: `not a JSON list: ${(e as Error).message}` };
        }
      } else value = t.split(',').map((x) => x.trim()).filter(Boolean);
      break;
    case 'boolean':
      value = /^(on|true|yes|1)$/i.test(t) ? true : /^(off|false|no|0)$/i.test(t) ? false : t;
      break;
    default:
      value = text;
  }
  const job_ = JOBS[job];
  const one = (job_.fields as z.AnyZodObject).pick({ [f.key]: true } as Record<string, true>);
  const r = one.safeParse({ [f.key]: value });
  if (!r.success) return { ok: false, error: describeIssues(job_, r.error).message };
  return { ok: true, value: (r.data as Record<string, unknown>)[f.key] };
}

// ---------------------------------------------------------------------------------------------
// The review list

export interface ReviewLine {
  /** What picking it does: `run`, `input:<key>`, `field:<key>`, `more`, `reset`. */
  id: string;
  label: string;
  description?: string;
  detail?: string;
}

/** A described input: what the picker knows about the chosen file (labels, compatibility). */
export interface InputView {
  /** e.g. `demo · llama · 2 blocks`, or a cache label. */
  text?: string;
  /** A warning the review shows beside it (e.g. "from stories260K: another model"). */
  warning?: string;
}

const INPUT_ICON: Record<InputKind, string> = { model: 'circuit-board', dataset: 'database', cache: 'layers', directions: 'compass' };

/** Title case of an input noun: `Hidden-state cache`. */
function inputTitle(kind: InputKind): string {
  const n = INPUT_NOUN[kind];
  return n[0]!.toUpperCase() + n.slice(1);
}

function fieldLine(form: FormState, f: FieldInfo): ReviewLine {
  const v = form.values[f.key];
  const origin = form.origins[f.key];
  const note = v !== undefined && origin && origin !== 'edited' ? ` · ${ORIGIN_TEXT[origin]}` : '';
  return { id: `field:${f.key}`, label: `--${f.flag}`, description: describeValue(f, v) + note, detail: f.help };
}

/**
 * The lines of the review: Run first (Enter runs what the lines below state), the inputs with
 * where each came from, the common parameters, then "More options…" (saying how many of them
 * differ from the defaults).
 */
export function reviewLines(form: FormState, title: string, opts: { inputs?: Partial<Record<string, InputView>>; problem?: string } = {}): ReviewLine[] {
  const { inputs, common, more } = formFields(form.job);
  const lines: ReviewLine[] = [];
  lines.push(
    opts.problem
      ? { id: 'run', label: `$(error) Cannot run yet: ${opts.problem}`, description: '', detail: 'Pick a line below to change it.' }
      : { id: 'run', label: `$(play) Run ${title}`, description: 'with the settings below', detail: cliOf(form) },
  );
  for (const i of inputs) {
    if (!isActive(form, i.key)) continue;
    const v = form.values[i.key];
    const view = opts.inputs?.[i.key];
    const origin = form.origins[i.key];
    const what = v === undefined ? (i.required ? 'not chosen' : (i.unset ?? describeValue(i.field, undefined))) : (view?.text ?? String(v));
    lines.push({
      id: `input:${i.key}`,
      label: `$(${view?.warning ? 'warning' : INPUT_ICON[i.kind]}) ${inputTitle(i.kind)}`,
      description: [what, view?.warning, v !== undefined && origin ? ORIGIN_TEXT[origin] : undefined].filter(Boolean).join(' · '),
      detail: v === undefined ? i.field.help : String(v),
    });
  }
  for (const f of common) if (isActive(form, f.key)) lines.push(fieldLine(form, f));
  const changed = more.filter((f) => form.values[f.key] !== undefined && isActive(form, f.key)).length;
  lines.push({
    id: 'more',
    label: '$(settings-gear) More options…',
    description: `${more.length} more parameters${changed ? `, ${changed} set` : ', all at their defaults'}`,
    detail: more.map((f) => `--${f.flag}`).join(' '),
  });
  return lines;
}

/** The "More options…" list: every other parameter with its value, plus a reset. */
export function moreLines(form: FormState): ReviewLine[] {
  const { more } = formFields(form.job);
  return [
    ...more.filter((f) => isActive(form, f.key)).map((f) => fieldLine(form, f)),
    { id: 'reset', label: '$(discard) Reset options to the defaults', description: 'the inputs stay', detail: 'Every parameter back to the CLI default (and this command\u2019s presets).' },
  ];
}
