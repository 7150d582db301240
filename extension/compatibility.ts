/**
 * Whether a hidden-state cache or a directions file belongs to the model a job will run, decided
 * before any work starts: hidden states (and the directions computed from them) describe one
 * model's residual stream, at block indices that mean something only under that model's
 * architecture options (huginn's num_steps). Plain functions (no vscode), unit-tested.
 *
 *   - same content hash and options             → match
 *   - another model, same width and options     → confirm: it runs (the runtime warns in the
 *                                                 run file), but only if the user says so
 *   - other options, or another width           → refuse: the runtime would refuse too (block
 *                                                 indices or vector sizes differ); the message
 *                                                 names the model first when that is the cause
 *   - no provenance recorded                    → unknown: allowed, and said
 */
import { directionCandidates, type HookKind } from '../runtime/protocol/directionHooks';
import { describeHooks, formatModelOptions, modelNameOf } from '../runtime/protocol/labels';

/** The model a job names, as the runtime describes it (describeModel) with the job's options. */
export interface ModelIdentity {
  path: string;
  contentHash: string;
  options: Record<string, unknown>;
  dModel: number;
}

/** Where a cache or directions file says its hidden states came from (its header metadata). */
export interface SourceIdentity {
  file: string;
  what: 'cache' | 'directions';
  modelPath?: string;
  modelHash?: string;
  /** As recorded: the JSON of the options object. */
  modelOptions?: string;
  dModel?: number;
}

export type Verdict =
  | { level: 'match' }
  | { level: 'unknown'; short: string; message: string }
  | { level: 'confirm'; short: string; message: string }
  | { level: 'refuse'; short: string; message: string };

/** Options compared as objects: key order and JSON spacing must not make two settings differ. */
function canonicalOptions(o: Record<string, unknown> | string | undefined): string {
  let v: unknown = o ?? {};
  if (typeof o === 'string') {
    try {
      v = JSON.parse(o);
    } catch {
      return o;
    }
  }
  const entries = Object.entries((v ?? {}) as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify(entries);
}

function fileName(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}

export function compatibility(model: ModelIdentity, source: SourceIdentity): Verdict {
  const noun = source.what === 'cache' ? 'hidden-state cache' : 'directions file';
  const file = fileName(source.file);
  const chosen = modelNameOf(model.path);
  if (!source.modelHash) {
    return {
      level: 'unknown',
      short: 'model not recorded',
      message: `${file} does not record which model it came from, so LayerLab cannot check that it belongs to ${chosen}.`,
    };
  }
  const sameModel = source.modelHash === model.contentHash;
  const from = source.modelPath ? modelNameOf(source.modelPath) : `a model with hash ${source.modelHash.slice(0, 12)}…`;
  const recordedOptions = source.modelOptions ?? '{}';
  const sameOptions = canonicalOptions(recordedOptions) === canonicalOptions(model.options);
  const optionsText = (o: Record<string, unknown> | string) => formatModelOptions(o) || 'no architecture options';
  const widthDiffers = source.dModel !== undefined && source.dModel !== model.dModel;

  if (!sameModel && (widthDiffers || !sameOptions)) {
    const why = widthDiffers
      ? `its vectors have ${source.dModel} values, ${chosen}'s hidden states ${model.dModel}`
      : `its block indices were counted under ${optionsText(recordedOptions)}, ${chosen}'s under ${optionsText(model.options)}`;
    return {
      level: 'refuse',
      short: `from ${from}: another model`,
      message: `The ${noun} ${file} was saved from ${from}, not from ${chosen}, and cannot be applied to it: ${why}. Choose a ${noun} saved from ${chosen}, or save hidden states of ${chosen} first.`,
    };
  }
  if (!sameOptions) {
    return {
      level: 'refuse',
      short: `saved with ${optionsText(recordedOptions)}`,
      message:
        `The ${noun} ${file} was saved from ${chosen} with ${optionsText(recordedOptions)}, but the job opens it with ${optionsText(model.options)}: ` +
        `block indices mean different blocks under the two. Set the same options (More options…), or save hidden states with these.`,
    };
  }
  if (!sameModel) {
    return {
      level: 'confirm',
      short: `from ${from}: another model`,
      message:
        `The ${noun} ${file} was saved from ${from} (hash ${source.modelHash.slice(0, 12)}…), not from ${chosen} (hash ${model.contentHash.slice(0, 12)}…). ` +
        `Its directions describe another model's hidden states; results on ${chosen} would not mean what they seem.`,
    };
  }
  return { level: 'match' };
}

/** Matching first, then unknown, then those that need a confirmation, then refused ones; stable within each. */
export function byCompatibility<T>(items: readonly T[], verdictOf: (t: T) => Verdict | undefined): T[] {
  const rank = (v: Verdict | undefined) => (v === undefined ? 1 : { match: 0, unknown: 1, confirm: 2, refuse: 3 }[v.level]);
  return items
    .map((t, i) => ({ t, i, r: rank(verdictOf(t)) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.t);
}

/**
 * The edits a job plans that its directions cannot serve (runtime/protocol/directionHooks.ts,
 * the rule the runtime applies): each as the hook point it edits. Empty when all are covered.
 */
export function uncoveredEdits(edits: { blocks: readonly number[]; kinds: readonly HookKind[]; directionLayer?: number }, available: ReadonlySet<string>, parts: readonly string[]): string[] {
  const out: string[] = [];
  for (const kind of edits.kinds) {
    for (const block of edits.blocks) {
      const from = edits.directionLayer ?? block;
      if (!directionCandidates(from, kind, parts).some((h) => available.has(h))) out.push(`blocks.${block}.${kind}`);
    }
  }
  return out;
}

/**
 * Why a job cannot start: its directions (a cache's, or a directions file) hold no direction for
 * some edits, and what to do — say it before any prompt is read, not after all of them.
 */
export function uncoveredMessage(source: { file: string; what: 'cache' | 'directions'; hooks: readonly string[] }, missing: readonly string[]): string {
  const noun = source.what === 'cache' ? 'hidden-state cache' : 'directions file';
  const listed = `${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''}`;
  const has = (k: HookKind) => source.hooks.some((h) => h.endsWith(k));
  const wantsPre = missing.some((m) => m.endsWith('hook_resid_pre'));
  const wantsPost = missing.some((m) => m.endsWith('hook_resid_post'));
  const advice =
    wantsPre && !has('hook_resid_pre')
      ? "Edits at the blocks' inputs need their hidden states: run Save Hidden States with --hooks pre (or all), or edit the outputs (--with_post_hook)."
      : wantsPost && !has('hook_resid_post')
        ? "Edits at the blocks' outputs need their hidden states: run Save Hidden States with --hooks post (or all), or edit the inputs (--with_pre_hook)."
        : 'Choose blocks it covers (--layer_indices), or save hidden states at those hook points.';
  return `The ${noun} ${fileName(source.file)} has no direction for ${listed}: it holds ${describeHooks(source.hooks)}. ${advice}`;
}
