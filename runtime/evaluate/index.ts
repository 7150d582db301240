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
  mixSeed,
  randomIntervention,
  steerIntervention,
  type PlannedIntervention,
} from './interventions';
import { randomUnitVectors } from './directions';
import { wantsSteering, type SteerParams } from '../protocol/steering';
import { planSteering, steerHooksOf, steerVectors, strengthOf } from '../steering/plan';
import type { VectorSet } from '../steering/vectors';
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
  if (wantsSteering(o)) return runSteeredEvaluation(o, ctx);
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

/** Prompts the mean ‖x‖ of norm-relative steering is measured over: the first few of the run. */
const NORM_PROMPTS = 8;

function normPrompts(setup: Awaited<ReturnType<typeof prepareRun>>): number[][] {
  return setup.prompts.items.slice(0, NORM_PROMPTS).map((it) => it.tokens);
}

function checkSteerForEval(o: Partial<SteerParams>, ctx: EvalContext, command: string): NonNullable<EvalContext['opened']> {
  if (!ctx.opened) throw new EvaluateError(`${command} with --steer_* needs the opened model (run it as a job)`);
  if (o.steerPositions === 'last') {
    throw new EvaluateError(`${command}: --steer_positions last is not supported here (few-shot prefixes are shared across questions); evaluation steers every position, as --with_intervention does`);
  }
  return ctx.opened;
}

/** evaluate with --steer_*: the steering is the intervention (with --with_baseline, after the baseline). */
async function runSteeredEvaluation(o: ReturnType<typeof evaluateOptions>, ctx: EvalContext): Promise<EvalOutcome> {
  const opened = checkSteerForEval(o, ctx, 'evaluate');
  if (o.withIntervention) throw new EvaluateError('--with_intervention and --steer_* are two interventions: give one (evaluate runs one, a sweep many)');
  const setup = await prepareRun(o, ctx, false);
  const plan = (await planSteering(opened, o, { normPrompts: normPrompts(setup), signal: ctx.signal }))!;
  const interventions: PlannedIntervention[] = [];
  if (o.withBaseline) interventions.push(baselineIntervention());
  interventions.push(steerIntervention(plan));
  return executeRun('evaluate', setup, interventions, ctx);
}

/** Random vectors of the same lengths as the set's at the given hooks: the steering's control. */
function randomVectorSet(real: VectorSet, hooks: string[], d: number, randomSeed: number, randomIndex: number): VectorSet {
  const byHook = new Map(hooks.map((hook) => {
    const u = real.at(hook).vector;
    const n = Math.hypot(...u);
    const block = Number(/^blocks\.(\d+)\./.exec(hook)![1]);
    const r = randomUnitVectors(1, d, mixSeed(randomSeed, randomIndex, block))[0]!;
    return [hook, { vector: Float32Array.from(r, (x) => x * n), from: `random #${randomIndex} (seed ${randomSeed}), ‖u‖ of ${real.source}` }] as const;
  }));
  return {
    source: `random vectors of the lengths of ${real.source}`,
    hooks,
    warnings: [],
    at: (hook) => byHook.get(hook)!,
  };
}

/**
 * sweep with --steer_*: every steered hook on its own × every strength, with random vectors of
 * the same lengths as controls and the baseline, instead of the directions.
 */
async function steeringSweep(o: SweepOptions, setup: Awaited<ReturnType<typeof prepareRun>>, ctx: EvalContext): Promise<PlannedIntervention[]> {
  const opened = checkSteerForEval(o, ctx, 'sweep');
  const method = o.steerMethod;
  const strengths = o.steerStrengths ?? [strengthOf(method, undefined)];
  if (new Set(strengths).size !== strengths.length) throw new EvaluateError(`--steer_strengths lists a value twice: ${strengths.join(' ')}`);
  const hooks = steerHooksOf(o, ctx.model.spec.nBlocks);
  const vectors = await steerVectors(opened, o, hooks, ctx.signal);
  const prompts = normPrompts(setup);
  const out: PlannedIntervention[] = [baselineIntervention()];
  for (const hook of hooks) {
    const one = { ...o, steerHooks: [hook] };
    for (const strength of strengths) out.push(steerIntervention((await planSteering(opened, one, { strength, normPrompts: prompts, vectors, signal: ctx.signal }))!));
  }
  for (const hook of hooks) {
    const one = { ...o, steerHooks: [hook] };
    for (let k = 0; k < o.randomControls; k++) {
      const random = randomVectorSet(vectors, [hook], ctx.model.spec.dModel, o.randomSeed, k);
      for (const strength of strengths) {
        const plan = (await planSteering(opened, one, { strength, normPrompts: prompts, vectors: random, signal: ctx.signal }))!;
        out.push(steerIntervention(plan, { randomSeed: o.randomSeed, randomIndex: k }));
      }
    }
  }
  return out;
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
  const steer = wantsSteering(o) || o.steerStrengths !== undefined;
  const setup = await prepareRun(o, ctx, !steer, steer ? undefined : o.directionFiles);
  const interventions = steer ? await steeringSweep(o, setup, ctx) : sweepInterventions(o, setup, ctx.model.spec, test);
  ctx.log?.(`sweep: ${interventions.length} runs (baseline, ${interventions.filter((i) => i.spec.kind === 'direction').length} along the directions, ` +
    `${interventions.filter((i) => i.spec.kind === 'random-direction').length} random controls)`);
  return executeRun('sweep', setup, interventions, ctx);
}
