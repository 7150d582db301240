/**
 * What the run page draws, derived from run files only (no DOM here, so node unit tests cover
 * it): accuracy series per intervention setting against layer, the baseline reference per
 * subset, the sweep matrix of accuracy changes, and the items behind any point.
 *
 * Every number comes straight from the run file's summaries (`Accuracy`: counts, accuracy and
 * the Wilson interval the runtime computed), never recomputed here, so a chart can only show
 * what the file says.
 */
import type { Accuracy, InterventionResult, InterventionSpec, RunFile, RunItem, Subset } from '../../runtime/protocol/results';
import type { CorrectnessFilter, DrillSelection, RunRole } from '../../runtime/protocol/webview';

export const ROLE_TAG: Record<RunRole, string> = { primary: 'A', compare: 'B' };

// ---------------------------------------------------------------------------------------------
// Settings: everything about an intervention except where (which layers) it edits

export interface Setting {
  key: string;
  kind: 'direction' | 'random-direction';
  hook: 'pre' | 'post';
  scale: number;
  alpha: number;
  directionLayer?: number;
  /**
   * Which directions file, when the run swept several: the sweep's own tag (`[tag]` ending the
   * intervention id). Not the file path: two runs of two models use two files for "the same"
   * setting, and a compare overlay must line them up.
   */
  fileTag?: string;
  randomIndex?: number;
  /** Steering (--steer_*): the method and strength in a few words, e.g. `add s=4`. */
  steer?: string;
}

/** `add s=4`, `affine s=1 t=2 rel`: a steering setting as the runtime names it in ids. */
function steerLabel(st: NonNullable<InterventionSpec['steering']>): string {
  return `${st.method} s=${st.strength}${st.method === 'affine' ? ` t=${st.target}` : ''}${st.norm === 'relative' ? ' rel' : ''}`;
}

export function settingOf(s: InterventionSpec): Setting | null {
  if (s.kind === 'none') return null;
  const base: Setting = {
    key: '',
    kind: s.kind,
    hook: s.hook === 'hook_resid_pre' ? 'pre' : 'post',
    scale: s.scale,
    alpha: s.alpha,
    ...(s.directionLayer !== undefined ? { directionLayer: s.directionLayer } : {}),
    ...(s.kind === 'direction' && /\[([^\]]+)\]$/.test(s.id) ? { fileTag: /\[([^\]]+)\]$/.exec(s.id)![1]! } : {}),
    ...(s.kind === 'random-direction' ? { randomIndex: s.randomIndex ?? 0 } : {}),
    ...(s.steering ? { steer: steerLabel(s.steering) } : {}),
  };
  base.key = JSON.stringify([base.kind, base.hook, base.scale, base.alpha, base.directionLayer ?? null, base.fileTag ?? null, base.randomIndex ?? null, base.steer ?? null]);
  return base;
}

/**
 * Short labels naming only what differs between the settings shown together: a sweep over
 * scales reads "scale=-4", "scale=4"; the hook and α appear only when they vary (or are not the
 * default), the directions file only when the run swept several, so legends stay readable.
 */
export function settingLabels(settings: readonly Setting[]): Map<string, string> {
  const hooks = new Set(settings.map((s) => s.hook));
  const anyAlpha = settings.some((s) => s.alpha !== 0);
  const out = new Map<string, string>();
  for (const s of settings) {
    const parts: string[] = [];
    if (s.kind === 'random-direction') parts.push(`random #${s.randomIndex ?? 0}`);
    if (hooks.size > 1 || s.hook === 'pre') parts.push(s.hook);
    if (s.steer) parts.push(s.steer);
    else parts.push(`scale=${s.scale}`);
    if (anyAlpha) parts.push(`α=${s.alpha}`);
    if (s.directionLayer !== undefined) parts.push(`dir@${s.directionLayer}`);
    if (s.fileTag) parts.push(s.fileTag);
    out.set(s.key, parts.join(' · '));
  }
  return out;
}

/** The measured-direction setting a random control belongs to (same hook, scale, α, dir layer). */
export function controlledKey(s: Setting): string {
  return JSON.stringify([s.hook, s.scale, s.alpha, s.directionLayer ?? null, s.steer ?? null]);
}

// ---------------------------------------------------------------------------------------------
// Layer slots: the x positions (a block, or a set of blocks edited together)

export interface LayerSlot {
  label: string;
  layers: number[];
}

export function slotLabel(layers: readonly number[]): string {
  return layers.join(',');
}

export function layerSlots(results: readonly InterventionResult[]): LayerSlot[] {
  const seen = new Map<string, LayerSlot>();
  for (const r of results) {
    if (r.intervention.kind === 'none') continue;
    const label = slotLabel(r.intervention.layers);
    if (!seen.has(label)) seen.set(label, { label, layers: [...r.intervention.layers] });
  }
  return [...seen.values()].sort((a, b) => (a.layers[0] ?? 0) - (b.layers[0] ?? 0) || a.layers.length - b.layers.length || a.label.localeCompare(b.label));
}

// ---------------------------------------------------------------------------------------------
// Accuracy per layer

export interface AccuracyPoint {
  /** Slot index (the chart adds a small dodge so error bars of one layer do not overlap). */
  slot: number;
  layerLabel: string;
  layers: number[];
  accuracy: number;
  lo: number;
  hi: number;
  correct: number;
  total: number;
  unparsed: number;
  interventionId: string;
  role: RunRole;
  subset: Subset;
  /** False while the intervention's items are still being evaluated. */
  complete: boolean;
}

export interface AccuracySeries {
  id: string;
  role: RunRole;
  subset: Subset;
  setting: Setting;
  label: string;
  /** Index into the colour palette, shared across subsets and runs for the same setting. */
  colorIndex: number;
  points: AccuracyPoint[];
}

export interface BaselineBand {
  role: RunRole;
  subset: Subset;
  interventionId: string;
  accuracy: number;
  lo: number;
  hi: number;
  correct: number;
  total: number;
  unparsed: number;
}

export interface RunView {
  slots: LayerSlot[];
  /** Settings in display order (measured directions first, then controls), with labels. */
  settings: { setting: Setting; label: string; colorIndex: number }[];
  series: AccuracySeries[];
  bands: BaselineBand[];
}

function pointOf(r: InterventionResult, subset: Subset, slot: number, role: RunRole): AccuracyPoint {
  const a: Accuracy = r.summary[subset];
  return {
    slot,
    layerLabel: slotLabel(r.intervention.layers),
    layers: [...r.intervention.layers],
    accuracy: a.accuracy,
    lo: a.ci95[0],
    hi: a.ci95[1],
    correct: a.correct,
    total: a.total,
    unparsed: a.unparsed,
    interventionId: r.intervention.id,
    role,
    subset,
    complete: r.complete !== false,
  };
}

function compareSettings(a: Setting, b: Setting): number {
  const kind = (s: Setting) => (s.kind === 'direction' ? 0 : 1);
  return (
    kind(a) - kind(b) ||
    a.hook.localeCompare(b.hook) ||
    (a.fileTag ?? '').localeCompare(b.fileTag ?? '') ||
    (a.directionLayer ?? -1) - (b.directionLayer ?? -1) ||
    a.alpha - b.alpha ||
    a.scale - b.scale ||
    (a.randomIndex ?? 0) - (b.randomIndex ?? 0)
  );
}

/**
 * Series per (run, subset, setting) over the layer slots of both runs, and a baseline band per
 * (run, subset). A random control takes the colour of the measured setting it controls, so the
 * dashed line sits beside the solid one it is the control of. Colours go to the first run's
 * settings first: overlaying a second run never recolours the first one's lines.
 */
export function buildRunView(runs: { role: RunRole; run: RunFile }[]): RunView {
  const all = runs.flatMap((r) => r.run.results);
  const slots = layerSlots(all);
  const slotIndex = new Map(slots.map((s, i) => [s.label, i]));
  const byKey = new Map<string, Setting>();
  for (const r of all) {
    const s = settingOf(r.intervention);
    if (s && !byKey.has(s.key)) byKey.set(s.key, s);
  }
  const ordered = [...byKey.values()].sort(compareSettings);
  const labels = settingLabels(ordered);
  const colorOfControlled = new Map<string, number>();
  let nextColor = 0;
  for (const { run } of runs) {
    const own = [...new Map(run.results.map((r) => settingOf(r.intervention)).filter((s): s is Setting => !!s).map((s) => [s.key, s])).values()].sort(compareSettings);
    for (const setting of own) {
      const ck = controlledKey(setting);
      if (!colorOfControlled.has(ck)) colorOfControlled.set(ck, nextColor++);
    }
  }
  const settings = ordered.map((setting) => ({ setting, label: labels.get(setting.key)!, colorIndex: colorOfControlled.get(controlledKey(setting))! }));
  const info = new Map(settings.map((s) => [s.setting.key, s]));

  const series: AccuracySeries[] = [];
  const bands: BaselineBand[] = [];
  const tagged = runs.length > 1;
  for (const { role, run } of runs) {
    for (const subset of ['reasoning', 'memorization'] as const) {
      for (const r of run.results) {
        if (r.intervention.kind !== 'none' || r.summary[subset].total === 0) continue;
        const a = r.summary[subset];
        bands.push({ role, subset, interventionId: r.intervention.id, accuracy: a.accuracy, lo: a.ci95[0], hi: a.ci95[1], correct: a.correct, total: a.total, unparsed: a.unparsed });
      }
      for (const s of settings) {
        const points = run.results
          .filter((r) => r.intervention.kind !== 'none' && r.summary[subset].total > 0 && settingOf(r.intervention)!.key === s.setting.key)
          .map((r) => pointOf(r, subset, slotIndex.get(slotLabel(r.intervention.layers))!, role))
          .sort((a, b) => a.slot - b.slot);
        if (points.length === 0) continue;
        series.push({
          id: `${role}:${subset}:${s.setting.key}`,
          role,
          subset,
          setting: s.setting,
          label: `${tagged ? `${ROLE_TAG[role]}: ` : ''}${info.get(s.setting.key)!.label}`,
          colorIndex: s.colorIndex,
          points,
        });
      }
    }
  }
  return { slots, settings, series, bands };
}

// ---------------------------------------------------------------------------------------------
// Unparsed answers

/**
 * Share of unparsed answers from which a result is flagged: its accuracy then says more about
 * the answer format (too few tokens, another phrasing) than about the model or the intervention.
 */
export const UNPARSED_FLAG_SHARE = 0.5;

/** Whether an accuracy is mostly unparsed answers (counted as wrong). */
export function mostlyUnparsed(a: Pick<Accuracy, 'unparsed' | 'total'>): boolean {
  return a.total > 0 && a.unparsed / a.total >= UNPARSED_FLAG_SHARE;
}

export interface UnparsedFlag {
  interventionId: string;
  unparsed: number;
  total: number;
}

/** The results of a run whose answers are mostly unparsed, over both subsets. */
export function unparsedHeavy(run: RunFile): UnparsedFlag[] {
  return run.results
    .map((r) => ({ interventionId: r.intervention.id, unparsed: r.summary.reasoning.unparsed + r.summary.memorization.unparsed, total: r.summary.reasoning.total + r.summary.memorization.total }))
    .filter(mostlyUnparsed);
}

/** What the run page says about a run's unparsed answers, or null when they are few. */
export function unparsedWarning(run: RunFile): string | null {
  const flags = unparsedHeavy(run);
  if (flags.length === 0) return null;
  const unparsed = flags.reduce((a, f) => a + f.unparsed, 0);
  const total = flags.reduce((a, f) => a + f.total, 0);
  const which = flags.length === run.results.length ? 'every result' : `${flags.length} of ${run.results.length} results (${flags.slice(0, 3).map((f) => f.interventionId).join(', ')}${flags.length > 3 ? ', …' : ''})`;
  const cure =
    run.spec.scoring === 'generate'
      ? ` raise --max_new_tokens (now ${run.spec.maxNewTokens}), try --lenient, or score by option log-probability (--scoring loglik).`
      : '';
  return `Mostly unparsed answers in ${which}: ${unparsed} of ${total} answers had no readable answer and count as wrong, so these accuracies reflect the answer format, not the model.${cure ? ` To read them,${cure}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Sweep matrix: layer × setting → accuracy change versus the baseline

export interface HeatCell {
  col: number;
  row: number;
  layerLabel: string;
  settingLabel: string;
  interventionId: string;
  /** accuracy − baseline accuracy (same items, same subset). */
  delta: number;
  accuracy: number;
  correct: number;
  total: number;
  unparsed: number;
  baseline: number;
  baselineCorrect: number;
  baselineTotal: number;
}

export interface Heatmap {
  subset: Subset;
  cols: LayerSlot[];
  rows: { key: string; label: string }[];
  cells: HeatCell[];
  /** The baseline the changes are measured from; null when the run has none (no matrix then). */
  baseline: Accuracy | null;
}

/**
 * One matrix per subset over the measured-direction settings (random controls have their own
 * dashed lines on the accuracy chart; mixing them into the matrix would hide the sweep).
 */
export function buildHeatmap(run: RunFile, subset: Subset): Heatmap {
  const base = run.results.find((r) => r.intervention.kind === 'none' && r.summary[subset].total > 0);
  const measured = run.results.filter((r) => r.intervention.kind === 'direction');
  const cols = layerSlots(measured);
  const colIndex = new Map(cols.map((c, i) => [c.label, i]));
  const byKey = new Map<string, Setting>();
  for (const r of measured) {
    const s = settingOf(r.intervention)!;
    if (!byKey.has(s.key)) byKey.set(s.key, s);
  }
  const ordered = [...byKey.values()].sort(compareSettings);
  const labels = settingLabels(ordered);
  const rows = ordered.map((s) => ({ key: s.key, label: labels.get(s.key)! }));
  const rowIndex = new Map(rows.map((r, i) => [r.key, i]));
  if (!base) return { subset, cols, rows, cells: [], baseline: null };
  const b = base.summary[subset];
  const cells: HeatCell[] = [];
  for (const r of measured) {
    const a = r.summary[subset];
    if (a.total === 0) continue;
    const key = settingOf(r.intervention)!.key;
    cells.push({
      col: colIndex.get(slotLabel(r.intervention.layers))!,
      row: rowIndex.get(key)!,
      layerLabel: slotLabel(r.intervention.layers),
      settingLabel: labels.get(key)!,
      interventionId: r.intervention.id,
      delta: a.accuracy - b.accuracy,
      accuracy: a.accuracy,
      correct: a.correct,
      total: a.total,
      unparsed: a.unparsed,
      baseline: b.accuracy,
      baselineCorrect: b.correct,
      baselineTotal: b.total,
    });
  }
  return { subset, cols, rows, cells, baseline: b };
}

/** The symmetric colour domain [−m, m] shared by the subsets' matrices, so colours compare. */
export function heatDomain(maps: readonly Heatmap[]): number {
  let m = 0;
  for (const h of maps) for (const c of h.cells) m = Math.max(m, Math.abs(c.delta));
  // A sweep where nothing changed still needs a non-empty domain; 1 point of accuracy is the
  // smallest change worth a full colour.
  return Math.max(m, 0.01);
}

// ---------------------------------------------------------------------------------------------
// Drill-down

export function resultById(run: RunFile, interventionId: string): InterventionResult | undefined {
  return run.results.find((r) => r.intervention.id === interventionId);
}

export function baselineResult(run: RunFile): InterventionResult | undefined {
  return run.results.find((r) => r.intervention.kind === 'none');
}

export function matchesCorrectness(item: RunItem, f: CorrectnessFilter): boolean {
  switch (f) {
    case 'all':
      return true;
    case 'correct':
      return item.correct;
    case 'wrong':
      return !item.correct;
    case 'unparsed':
      return item.unparsed === true || item.parsed === null;
  }
}

export function drillItems(run: RunFile, sel: Pick<DrillSelection, 'interventionId' | 'subset' | 'correctness'>): RunItem[] {
  const r = resultById(run, sel.interventionId);
  if (!r) return [];
  return r.items.filter((i) => (sel.subset === 'all' || i.subset === sel.subset) && matchesCorrectness(i, sel.correctness));
}

/** The same record under the run's baseline (null: the run has no baseline or not this item). */
export function baselineItemFor(run: RunFile, itemId: string): RunItem | null {
  return baselineResult(run)?.items.find((i) => i.id === itemId) ?? null;
}

/** Layer choices of the drill-down: each slot with results, plus the baseline when present. */
export function drillLayerChoices(run: RunFile): { value: string; label: string }[] {
  const out = layerSlots(run.results).map((s) => ({ value: s.label, label: s.layers.length > 1 ? `blocks ${s.label}` : `layer ${s.label}` }));
  if (baselineResult(run)) out.unshift({ value: '', label: 'no intervention (baseline)' });
  return out;
}

/** The interventions at one slot ('' = the baseline), with setting labels. */
export function interventionsAtSlot(run: RunFile, slot: string): { id: string; label: string }[] {
  if (slot === '') return (baselineResult(run) ? [baselineResult(run)!] : []).map((r) => ({ id: r.intervention.id, label: 'baseline' }));
  const here = run.results.filter((r) => r.intervention.kind !== 'none' && slotLabel(r.intervention.layers) === slot);
  const settings = here.map((r) => settingOf(r.intervention)!);
  const labels = settingLabels([...new Map(run.results.map((r) => settingOf(r.intervention)).filter((s): s is Setting => !!s).map((s) => [s.key, s])).values()]);
  return here
    .map((r, i) => ({ r, s: settings[i]! }))
    .sort((a, b) => compareSettings(a.s, b.s))
    .map(({ r, s }) => ({ id: r.intervention.id, label: labels.get(s.key)! }));
}

export function slotOfIntervention(run: RunFile, interventionId: string): string | null {
  const r = resultById(run, interventionId);
  if (!r) return null;
  return r.intervention.kind === 'none' ? '' : slotLabel(r.intervention.layers);
}

// ---------------------------------------------------------------------------------------------
// Tables (the accessible data view and the CSV export share them)

export type Cell = string | number | boolean | null;

export interface TableData {
  columns: string[];
  rows: Cell[][];
}

export function accuracyTable(view: RunView, subset: Subset, names: Record<RunRole, string>): TableData {
  const columns = ['run', 'subset', 'series', 'kind', 'layers', 'intervention', 'accuracy', 'ci95_low', 'ci95_high', 'correct', 'total', 'unparsed'];
  const rows: Cell[][] = [];
  for (const b of view.bands.filter((x) => x.subset === subset)) {
    rows.push([names[b.role], subset, 'baseline', 'none', '', b.interventionId, b.accuracy, b.lo, b.hi, b.correct, b.total, b.unparsed]);
  }
  for (const s of view.series.filter((x) => x.subset === subset)) {
    for (const p of s.points) {
      rows.push([names[s.role], subset, s.label, s.setting.kind, p.layerLabel, p.interventionId, p.accuracy, p.lo, p.hi, p.correct, p.total, p.unparsed]);
    }
  }
  return { columns, rows };
}

export function heatmapTable(h: Heatmap): TableData {
  const columns = ['subset', 'setting', 'layers', 'intervention', 'delta_accuracy', 'accuracy', 'correct', 'total', 'unparsed', 'baseline_accuracy', 'baseline_correct', 'baseline_total'];
  const rows: Cell[][] = [...h.cells]
    .sort((a, b) => a.row - b.row || a.col - b.col)
    .map((c) => [h.subset, c.settingLabel, c.layerLabel, c.interventionId, c.delta, c.accuracy, c.correct, c.total, c.unparsed, c.baseline, c.baselineCorrect, c.baselineTotal]);
  return { columns, rows };
}

/** `memorization` → `Memorization`. */
export function subsetTitle(s: Subset): string {
  return s[0]!.toUpperCase() + s.slice(1);
}

export function pct(x: number, digits = 1): string {
  return `${(x * 100).toFixed(digits)}%`;
}

/** Signed change in percentage points: "+6.7 pts", "−3.3 pts", "±0.0 pts". */
export function pts(delta: number, digits = 1): string {
  const v = (delta * 100).toFixed(digits);
  if (Number(v) === 0) return `±${(0).toFixed(digits)} pts`;
  return delta > 0 ? `+${v} pts` : `−${v.slice(1)} pts`;
}

/** `<model folder>/<file>` from a path, for legends. */
export function shortName(p: string): string {
  const parts = p.split(/[\\/]/).filter(Boolean);
  return parts.slice(-2).join('/');
}
