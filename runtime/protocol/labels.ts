/**
 * How runs and hidden-state caches are told apart by people: the settings that distinguish one
 * from another, read from the files themselves (a run file's spec, a cache's provenance), and the
 * labels built from them. The extension's views and pickers and the chart page's compare header
 * use these, so a run is named the same way everywhere.
 *
 * A label always carries the model, the dataset and (for runs) the command; among several with
 * the same three it adds only the settings that differ between them, so "sweep · mmlu-short ·
 * stories260K" stays short until a second such sweep exists, and then both say what sets them
 * apart ("scoring loglik" / "scoring generate").
 *
 * No imports from vscode, the DOM or Node here: the extension and the webviews bundle this module.
 */
import type { CacheEntryInfo, InterventionSpec, RunFile } from './results';

/** One thing that distinguishes a run or a cache: what it is about, and how it reads. */
export interface Aspect {
  /** Stable name, e.g. `scoring`; also the heading of a compare difference. */
  name: string;
  text: string;
}

/** `demo` for a Hugging Face folder, `stories260K` for `…/stories260K.bin`, as output folders name models. */
export function modelNameOf(modelPath: string): string {
  const base = modelPath.split(/[\\/]/).filter(Boolean).pop() ?? modelPath;
  return base.replace(/\.bin$/i, '');
}

/** `{"num_steps":4}` → `num_steps=4`; empty for a model without architecture options. */
export function formatModelOptions(options: Record<string, unknown> | string | undefined): string {
  let o: unknown = options;
  if (typeof options === 'string') {
    try {
      o = JSON.parse(options);
    } catch {
      return options;
    }
  }
  if (!o || typeof o !== 'object') return '';
  return Object.entries(o as Record<string, unknown>)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()}=${String(v)}`)
    .join(' ');
}

// ---------------------------------------------------------------------------------------------
// Runs

function numbers(xs: readonly number[]): string {
  const sorted = [...new Set(xs)].sort((a, b) => a - b);
  // Consecutive blocks read as a range: 0–31, not 32 numbers.
  if (sorted.length > 2 && sorted.every((x, i) => i === 0 || x === sorted[i - 1]! + 1)) return `${sorted[0]}–${sorted.at(-1)}`;
  return sorted.join(',');
}

/** What a run's interventions edit, e.g. `post@1 scale=2`, `post@0–3 × scale −4,4 × α 0,2`. */
export function describeInterventions(specs: readonly InterventionSpec[]): string {
  const measured = specs.filter((s) => s.kind === 'direction');
  if (measured.length === 0) return 'no intervention';
  const hooks = [...new Set(measured.map((s) => (s.hook === 'hook_resid_pre' ? 'pre' : 'post')))].sort().join('+');
  const sets = [...new Set(measured.map((s) => s.layers.join(',')))];
  const where = sets.every((s) => !s.includes(',')) ? numbers(sets.map(Number)) : sets.length === 1 ? sets[0]! : `${sets.length} block sets`;
  const scales = [...new Set(measured.map((s) => s.scale))];
  const alphas = [...new Set(measured.map((s) => s.alpha))];
  const dirLayers = [...new Set(measured.map((s) => s.directionLayer).filter((d): d is number => d !== undefined))];
  const parts = [`${hooks}@${where}`, scales.length === 1 ? `scale=${scales[0]}` : `scale ${scales.join(',')}`];
  if (alphas.length > 1 || alphas[0] !== 0) parts.push(alphas.length === 1 ? `α=${alphas[0]}` : `α ${alphas.join(',')}`);
  if (dirLayers.length) parts.push(`dir@${dirLayers.join(',')}`);
  return parts.join(' ');
}

function interventionsOf(run: RunFile): InterventionSpec[] {
  return run.spec.interventions ?? run.results.map((r) => r.intervention);
}

function baseName(p: string): string {
  return p.split(/[\\/]/).filter(Boolean).pop() ?? p;
}

/**
 * Everything about a run's setup that can tell it from another run of the same command on the
 * same model and data, in reading order. Model and data identity are not here: labels always
 * carry them, and runDifferences compares them first.
 */
export function runAspects(run: RunFile): Aspect[] {
  const s = run.spec;
  const specs = interventionsOf(run);
  const out: Aspect[] = [];
  const options = formatModelOptions(s.model.options);
  if (options) out.push({ name: 'model options', text: options });
  out.push({ name: 'interventions', text: describeInterventions(specs) });
  out.push({ name: 'baseline', text: specs.some((x) => x.kind === 'none') ? 'with baseline' : 'no baseline' });
  const controls = specs.filter((x) => x.kind === 'random-direction').length;
  if (controls) out.push({ name: 'random controls', text: `${controls} random control${controls === 1 ? '' : 's'}` });
  out.push({ name: 'scoring', text: s.scoring === 'loglik' ? 'loglik' : `generate ≤${s.maxNewTokens} tokens` });
  const shots = s.prompt.fewshot ? `${s.prompt.shots ?? ''}${s.prompt.shots ? '-shot' : 'few-shot'}${s.prompt.cot ? ' CoT' : ''}` : 'zero-shot';
  out.push({ name: 'prompt', text: `${shots} · ${s.prompt.template}` });
  out.push({ name: 'sample', text: `${s.sampleSize} records, seed ${s.seed}` });
  out.push({ name: 'split', text: s.split });
  if (s.directions) out.push({ name: 'directions', text: baseName(s.directions.path) });
  if (s.extraction === 'lenient') out.push({ name: 'answer pattern', text: 'lenient' });
  if (s.data.kind) out.push({ name: 'data kind', text: s.data.kind });
  return out;
}

/** `evaluate · mmlu-short · stories260K`: what every run label starts with. */
export function runIdentity(run: RunFile): string {
  return `${run.spec.command} · ${run.spec.data.name} · ${modelNameOf(run.spec.model.path)}`;
}

/** `2025-01-31 14:05` in the local time zone. */
export function localTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

/**
 * Labels for runs shown together (a view, a picker), by key: the identity, plus the settings
 * that differ among runs sharing it, plus the creation time when two are otherwise alike.
 */
export function runLabels<K>(runs: readonly { key: K; run: RunFile }[]): Map<K, string> {
  return distinguish(runs.map(({ key, run }) => ({ key, identity: runIdentity(run), aspects: runAspects(run), when: Date.parse(run.createdAt) })));
}

/** One difference between two runs: what, and how each run has it. */
export interface RunDifference {
  name: string;
  a: string;
  b: string;
  /** The runs measure different things (model or data): their numbers do not compare directly. */
  fundamental: boolean;
}

/** What differs between two runs a chart overlays, model and data first. */
export function runDifferences(a: RunFile, b: RunFile): RunDifference[] {
  const out: RunDifference[] = [];
  const model = (r: RunFile) => `${modelNameOf(r.spec.model.path)} (${r.spec.model.modelType}, ${r.spec.model.contentHash.slice(0, 8)})`;
  const data = (r: RunFile) => `${r.spec.data.name} (${r.spec.data.contentHash.slice(0, 8)})`;
  if (a.spec.model.contentHash !== b.spec.model.contentHash || a.spec.model.path !== b.spec.model.path) out.push({ name: 'model', a: model(a), b: model(b), fundamental: a.spec.model.contentHash !== b.spec.model.contentHash });
  if (a.spec.data.contentHash !== b.spec.data.contentHash || a.spec.data.name !== b.spec.data.name) out.push({ name: 'data', a: data(a), b: data(b), fundamental: a.spec.data.contentHash !== b.spec.data.contentHash });
  if (a.spec.command !== b.spec.command) out.push({ name: 'command', a: a.spec.command, b: b.spec.command, fundamental: false });
  const as = new Map(runAspects(a).map((x) => [x.name, x.text]));
  const bs = new Map(runAspects(b).map((x) => [x.name, x.text]));
  for (const name of new Set([...as.keys(), ...bs.keys()])) {
    const x = as.get(name) ?? '—';
    const y = bs.get(name) ?? '—';
    if (x !== y) out.push({ name, a: x, b: y, fundamental: name === 'model options' });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Caches

/** What a cache describes: the runtime's CacheEntryInfo, or the same read from a file's header. */
export type CacheDescription = Pick<CacheEntryInfo, 'dataName' | 'positions' | 'dtype' | 'rows' | 'provenance'> & { hooks: readonly { name: string }[] };

/** `post ×2`, `pre+post ×4`, or the names of a few chosen hook points. */
export function describeHooks(names: readonly string[]): string {
  const kinds = new Set<string>();
  const blocks = new Set<number>();
  for (const n of names) {
    const m = /^blocks\.(\d+)\.hook_resid_(pre|post)$/.exec(n);
    if (!m) return names.length <= 3 ? names.join(', ') : `${names.length} hook points`;
    kinds.add(m[2]!);
    blocks.add(Number(m[1]));
  }
  if (names.length <= 2) return names.join(', ');
  return `${[...kinds].sort().join('+')} of blocks ${numbers([...blocks])}`;
}

function templateName(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  try {
    const t = JSON.parse(raw) as { name?: unknown };
    return typeof t.name === 'string' ? t.name : undefined;
  } catch {
    return raw;
  }
}

export function cacheAspects(c: CacheDescription): Aspect[] {
  const p = c.provenance;
  const out: Aspect[] = [];
  const options = formatModelOptions(p.model_options);
  if (options) out.push({ name: 'model options', text: options });
  out.push({ name: 'hooks', text: describeHooks(c.hooks.map((h) => h.name)) });
  out.push({ name: 'positions', text: `${c.positions} position${c.positions === 'all' ? 's' : ''}` });
  out.push({ name: 'dtype', text: c.dtype });
  let sample = 'all records';
  try {
    const s = p.sample && p.sample !== 'all' ? (JSON.parse(p.sample) as { size?: number; seed?: number }) : undefined;
    if (s?.size !== undefined) sample = `sample ${s.size}, seed ${s.seed ?? 0}`;
  } catch {
    // an unreadable sample note: say nothing rather than something wrong
  }
  out.push({ name: 'sample', text: sample });
  const template = templateName(p.prompt_template);
  if (template) out.push({ name: 'prompt', text: template });
  if (p.data_split) out.push({ name: 'split', text: p.data_split });
  if (p.label_rule) out.push({ name: 'label rule', text: p.label_rule });
  return out;
}

/** `mmlu-short · stories260K`: the dataset and the model the hidden states are of. */
export function cacheIdentity(c: CacheDescription): string {
  const model = c.provenance.model_path ? modelNameOf(c.provenance.model_path) : 'unknown model';
  return `${c.dataName} · ${model}`;
}

export function cacheLabels<K>(caches: readonly { key: K; cache: CacheDescription; mtimeMs?: number }[]): Map<K, string> {
  return distinguish(caches.map(({ key, cache, mtimeMs }) => ({ key, identity: cacheIdentity(cache), aspects: cacheAspects(cache), when: mtimeMs ?? NaN })));
}

// ---------------------------------------------------------------------------------------------

function distinguish<K>(entries: readonly { key: K; identity: string; aspects: Aspect[]; when: number }[]): Map<K, string> {
  const groups = new Map<string, typeof entries[number][]>();
  for (const e of entries) groups.set(e.identity, [...(groups.get(e.identity) ?? []), e]);
  const out = new Map<K, string>();
  for (const [identity, group] of groups) {
    const names = new Set(group.flatMap((e) => e.aspects.map((a) => a.name)));
    const varying = [...names].filter((n) => new Set(group.map((e) => e.aspects.find((a) => a.name === n)?.text ?? '')).size > 1);
    const labelOf = (e: typeof group[number]) =>
      [identity, ...varying.map((n) => e.aspects.find((a) => a.name === n)?.text).filter((t): t is string => !!t)].join(' · ');
    const labels = group.map(labelOf);
    for (const [i, e] of group.entries()) {
      // Alike in every setting (the same experiment run twice): the time tells them apart.
      const twins = labels.filter((l) => l === labels[i]).length > 1;
      out.set(e.key, twins && Number.isFinite(e.when) ? `${labels[i]} · ${localTime(e.when)}` : labels[i]!);
    }
  }
  return out;
}
