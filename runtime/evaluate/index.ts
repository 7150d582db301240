/**
 * Evaluation and sweeps as functions: `layerlab evaluate` / `layerlab sweep` and the runtime
 * server's jobs call these with the same options, an AbortSignal and a progress callback.
 */
import * as path from 'node:path';
import { executeRun, prepareRun, type EvalContext, type EvalOutcome } from './engine';
import {
  baselineIntervention,
  checkLayers,
  directionIntervention,
  randomIntervention,
  type PlannedIntervention,
} from './interventions';
import { EvaluateError, evaluateOptions, sweepOptions, type EvaluateInput, type HookChoice, type SweepInput, type SweepOptions } from './options';

export * from './options';
export type { EvalContext, EvalOutcome, RunSetup } from './engine';
export { ANSWER_CUE, FEWSHOT_STOP } from './prompts';
export { seedLines, summarise, accuracyOf, withoutTiming, runFilePath } from './runFile';
export { randomUnitVectors } from './directions';

/** Test hook: run the edit graph even for zero edits (scale 0 must then still equal the baseline). */
export interface EngineTestOptions {
  forceEditGraph?: boolean;
}

function hookOf(o: { withPreHook?: boolean; withPostHook?: boolean }): HookChoice {
  if (o.withPreHook && o.withPostHook) {
    throw new EvaluateError('--with_pre_hook and --with_post_hook both given: an evaluation edits one of them (a sweep can take both)');
  }
  return o.withPreHook ? 'pre' : 'post';
}

/**
 * The seed's command 2. Without --with_intervention: the baseline alone. With it: the
 * intervention (and, with --with_baseline, the baseline first, in the same file).
 */
export async function runEvaluation(input: EvaluateInput, ctx: EvalContext, test: EngineTestOptions = {}): Promise<EvalOutcome> {
  // The job's schema fills what the caller left out, so a library call means what the CLI means.
  const o = evaluateOptions(input);
  const withIv = o.withIntervention ?? false;
  if (!withIv) {
    const given = [
      o.layerIndices?.length ? '--layer_indices' : '', o.directionLayer !== undefined ? '--direction_layer' : '',
      o.alpha !== 0 ? '--alpha' : '', o.withPreHook ? '--with_pre_hook' : '', o.withPostHook ? '--with_post_hook' : '',
    ].filter(Boolean);
    if (given.length) throw new EvaluateError(`${given.join(', ')} only take effect with --with_intervention; add it (or drop them for a baseline run)`);
  }
  const setup = await prepareRun(o, ctx, withIv);
  const interventions: PlannedIntervention[] = [];
  if (!withIv || o.withBaseline) interventions.push(baselineIntervention());
  if (withIv) {
    if (!o.layerIndices?.length) throw new EvaluateError('--with_intervention needs --layer_indices L [L …] (the blocks to edit)');
    interventions.push(directionIntervention(setup.directions[0]!, ctx.model.spec, {
      hook: hookOf(o), layers: o.layerIndices, scale: o.scale, alpha: o.alpha,
      ...(o.directionLayer !== undefined ? { directionLayer: o.directionLayer } : {}),
      forceEditGraph: test.forceEditGraph,
    }));
  }
  return executeRun('evaluate', setup, interventions, ctx);
}

/** The interventions of a sweep, in run order: baseline, measured directions, random controls. */
export function sweepInterventions(o: SweepOptions, setup: Awaited<ReturnType<typeof prepareRun>>, spec: EvalContext['model']['spec'], test: EngineTestOptions = {}): PlannedIntervention[] {
  const layers = o.layerIndices?.length ? o.layerIndices : Array.from({ length: spec.nBlocks }, (_, l) => l);
  checkLayers(layers, spec);
  const hooks: HookChoice[] = [...(o.withPreHook ? (['pre'] as const) : []), ...(o.withPostHook || !o.withPreHook ? (['post'] as const) : [])];
  const { scales, alphas } = o;
  for (const [name, xs] of [['scales', scales], ['alphas', alphas]] as const) {
    if (xs.some((x) => !Number.isFinite(x))) throw new EvaluateError(`--${name} must be numbers, got ${xs.join(' ')}`);
    if (new Set(xs).size !== xs.length) throw new EvaluateError(`--${name} lists a value twice: ${xs.join(' ')}`);
  }
  const nRandom = o.randomControls;
  const randomSeed = o.randomSeed;
  const dl = o.directionLayer !== undefined ? { directionLayer: o.directionLayer } : {};
  const tags = setup.directions.length > 1 ? uniqueTags(setup.directions.map((d) => d.file)) : [];
  const out: PlannedIntervention[] = [baselineIntervention()];
  setup.directions.forEach((src, di) => {
    for (const hook of hooks) for (const layer of layers) for (const scale of scales) for (const alpha of alphas) {
      out.push(directionIntervention(src, spec, { hook, layers: [layer], scale, alpha, ...dl, tag: tags[di], forceEditGraph: test.forceEditGraph }));
    }
  });
  for (const hook of hooks) for (const layer of layers) for (const scale of scales) for (const alpha of alphas) {
    for (let k = 0; k < nRandom; k++) {
      out.push(randomIntervention(spec, { hook, layers: [layer], scale, alpha, ...dl, randomSeed, randomIndex: k, forceEditGraph: test.forceEditGraph }));
    }
  }
  const ids = new Set<string>();
  for (const iv of out) {
    if (ids.has(iv.spec.id)) throw new EvaluateError(`the sweep would run "${iv.spec.id}" twice; check for repeated values`);
    ids.add(iv.spec.id);
  }
  return out;
}

/** Short distinct labels for several directions files (their names, with folders where needed). */
function uniqueTags(files: string[]): string[] {
  const base = files.map((f) => path.basename(f).replace(/\.directions\.safetensors$|\.safetensors$/, ''));
  return base.map((b, i) => (base.indexOf(b) !== base.lastIndexOf(b) ? path.relative(process.cwd(), files[i]!) : b));
}

/**
 * `layerlab sweep`: every (directions file × hook × layer × scale × alpha) one block at a time,
 * with the no-intervention baseline and random-direction controls at the same grid points, in
 * one process and one run file, reusing the model, the tokenized prompts and prefix KV.
 */
export async function runSweep(input: SweepInput, ctx: EvalContext, test: EngineTestOptions = {}): Promise<EvalOutcome> {
  const o = sweepOptions(input);
  const setup = await prepareRun(o, ctx, true, o.directionFiles);
  const interventions = sweepInterventions(o, setup, ctx.model.spec, test);
  ctx.log?.(`sweep: ${interventions.length} runs (baseline, ${interventions.filter((i) => i.spec.kind === 'direction').length} along the directions, ` +
    `${interventions.filter((i) => i.spec.kind === 'random-direction').length} random controls)`);
  return executeRun('sweep', setup, interventions, ctx);
}
