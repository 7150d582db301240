/**
 * Interventions as data (InterventionSpec, what the run file records) and as edits (HookEdit[],
 * what the model runs): `x ← x + scale·(x·d̂)·d̂ + alpha·d̂` at `blocks.{l}.hook_resid_post`
 * (the seed's --with_post_hook) or `hook_resid_pre` (--with_pre_hook) of every listed block,
 * at every position of the prefill and of each decoding step.
 */
import type { GraphSpec, HookKind } from '../../models/graph/spec';
import type { HookEdit } from '../model';
import type { InterventionSpec } from '../protocol/results';
import type { AppliedSteering } from '../protocol/steering';
import type { SteeringPlan } from '../steering/plan';
import { directionFor, randomUnitVectors, type DirectionSource } from './directions';
import { EvaluateError, type HookChoice } from './options';

export interface PlannedIntervention {
  spec: InterventionSpec;
  edits: HookEdit[];
  /**
   * Runs with equal keys compute identical KV for a shared prefix. Every run without an active
   * edit shares the key 'none' (the plain graph), so a sweep computes the baseline's prefix KV
   * once; an edited run has its own, because its edits change the prefix's KV too.
   */
  editKey: string;
  /** Run the edit graph even with zero edits (tests: scale 0 must still reproduce the baseline). */
  forceEditGraph?: boolean;
}

export const BASELINE: InterventionSpec = Object.freeze({ id: 'baseline', kind: 'none', hook: null, layers: [], scale: 0, alpha: 0 }) as InterventionSpec;

export function baselineIntervention(): PlannedIntervention {
  return { spec: { ...BASELINE, layers: [] }, edits: [], editKey: 'none' };
}

export function hookKindOf(h: HookChoice): HookKind {
  return h === 'pre' ? 'hook_resid_pre' : 'hook_resid_post';
}

export function checkLayers(layers: readonly number[], spec: GraphSpec, flag = '--layer_indices'): void {
  if (layers.length === 0) throw new EvaluateError(`${flag} needs at least one block index`);
  const seen = new Set<number>();
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= spec.nBlocks) {
      throw new EvaluateError(`${flag}: block ${l} does not exist; this model has blocks 0..${spec.nBlocks - 1}${spec.options.num_steps !== undefined ? ` (num_steps ${spec.options.num_steps})` : ''}`);
    }
    if (seen.has(l)) throw new EvaluateError(`${flag} lists block ${l} twice`);
    seen.add(l);
  }
}

function fmt(x: number): string {
  return String(x);
}

/** `add s=4`, `affine s=1 t=2 (norm-relative)`: a steering setting in a few words. */
export function steeringLabel(s: Pick<AppliedSteering, 'method' | 'strength' | 'target' | 'norm'>): string {
  return `${s.method} s=${fmt(s.strength)}${s.method === 'affine' ? ` t=${fmt(s.target)}` : ''}${s.norm === 'relative' ? ' rel' : ''}`;
}

export function interventionId(s: Omit<InterventionSpec, 'id'>, tag?: string): string {
  if (s.kind === 'none') return 'baseline';
  if (s.steering) {
    const hooks = s.steering.hooks.map((h) => h.hook.replace(/^blocks\.(\d+)\.hook_resid_(pre|post)$/, '$2@$1')).join(',');
    return `${s.kind === 'random-direction' ? `random#${s.randomIndex ?? 0} ` : ''}${hooks} ${steeringLabel(s.steering)}${tag ? ` [${tag}]` : ''}`;
  }
  const hook = s.hook === 'hook_resid_pre' ? 'pre' : 'post';
  const parts = [
    `${s.kind === 'random-direction' ? `random#${s.randomIndex ?? 0} ` : ''}${hook}@${s.layers.join(',')}`,
    ...(s.directionLayer !== undefined ? [`dir@${s.directionLayer}`] : []),
    `scale=${fmt(s.scale)}`,
    ...(s.alpha !== 0 ? [`alpha=${fmt(s.alpha)}`] : []),
    ...(tag ? [`[${tag}]`] : []),
  ];
  return parts.join(' ');
}

export interface DirectionIntervention {
  hook: HookChoice;
  layers: number[];
  scale: number;
  alpha: number;
  directionLayer?: number;
  /** Distinguishes directions files in a sweep's ids. */
  tag?: string;
  forceEditGraph?: boolean;
}

/** Edits along the measured direction(s). */
export function directionIntervention(src: DirectionSource, spec: GraphSpec, d: DirectionIntervention): PlannedIntervention {
  checkLayers(d.layers, spec);
  checkFinite(d.scale, 'scale');
  checkFinite(d.alpha, 'alpha');
  const kind = hookKindOf(d.hook);
  const picked = d.layers.map((l) => directionFor(src, spec, l, kind, d.directionLayer));
  const base: Omit<InterventionSpec, 'id'> = {
    kind: 'direction', hook: kind, layers: [...d.layers], scale: d.scale, alpha: d.alpha,
    ...(d.directionLayer !== undefined ? { directionLayer: d.directionLayer } : {}),
    directionFile: src.file,
    directionHooks: picked.map((p) => p.fromHook),
  };
  return finish({ ...base, id: interventionId(base, d.tag) }, picked.map((p) => ({ hook: p.hook, vector: p.vector })), d.forceEditGraph);
}

/**
 * The control: the same layers, scale and alpha along random unit directions. Each (control,
 * block) pair gets its own vector from (seed, control, block), so a control keeps its direction
 * across the scales and alphas of a sweep; with directionLayer one vector serves every block,
 * as the measured direction does.
 */
export function randomIntervention(spec: GraphSpec, d: DirectionIntervention & { randomSeed: number; randomIndex: number }): PlannedIntervention {
  checkLayers(d.layers, spec);
  const kind = hookKindOf(d.hook);
  const vecFor = (l: number) => randomUnitVectors(1, spec.dModel, mixSeed(d.randomSeed, d.randomIndex, d.directionLayer ?? l))[0]!;
  const base: Omit<InterventionSpec, 'id'> = {
    kind: 'random-direction', hook: kind, layers: [...d.layers], scale: d.scale, alpha: d.alpha,
    ...(d.directionLayer !== undefined ? { directionLayer: d.directionLayer } : {}),
    randomSeed: d.randomSeed, randomIndex: d.randomIndex,
  };
  return finish({ ...base, id: interventionId(base) }, d.layers.map((l) => ({ hook: `blocks.${l}.${kind}`, vector: vecFor(l) })), d.forceEditGraph);
}

function finish(spec: InterventionSpec, vectors: { hook: string; vector: Float32Array }[], force?: boolean): PlannedIntervention {
  const edits: HookEdit[] = vectors.map(({ hook, vector }) => ({
    hook,
    scale: spec.scale,
    direction: vector,
    ...(spec.alpha !== 0 ? { add: Float32Array.from(vector, (x) => spec.alpha * x) } : {}),
  }));
  const active = spec.scale !== 0 || spec.alpha !== 0;
  return { spec, edits, editKey: active || force ? spec.id : 'none', ...(force ? { forceEditGraph: true } : {}) };
}

/**
 * A steering plan as an intervention: kind 'direction' along the plan's vectors, or
 * 'random-direction' for a control (the plan was made over random vectors of the same lengths).
 */
export function steerIntervention(plan: SteeringPlan, control?: { randomSeed: number; randomIndex: number }): PlannedIntervention {
  const hooks = plan.applied.hooks.map((h) => h.hook);
  const kinds = new Set(hooks.map((h) => (h.endsWith('hook_resid_pre') ? 'hook_resid_pre' : 'hook_resid_post') as HookKind));
  const base: Omit<InterventionSpec, 'id'> = {
    kind: control ? 'random-direction' : 'direction',
    // Mixed block inputs and outputs: the run's charts place it by its first hook's kind.
    hook: [...kinds][0]!,
    layers: hooks.map((h) => Number(/^blocks\.(\d+)\./.exec(h)![1])),
    scale: 0,
    alpha: 0,
    ...(control ? control : {}),
    steering: plan.applied,
  };
  const spec = { ...base, id: interventionId(base) };
  const active = plan.applied.strength !== 0;
  return { spec, edits: plan.edits, editKey: active ? spec.id : 'none' };
}

function checkFinite(x: number, what: string): void {
  if (!Number.isFinite(x)) throw new EvaluateError(`--${what} must be a finite number, got ${x}`);
}

/** A 32-bit seed per (seed, control, block), so controls and blocks draw independent vectors. */
export function mixSeed(seed: number, index: number, block: number): number {
  let h = (Math.trunc(seed) ^ Math.imul(index + 1, 0x9e3779b9) ^ Math.imul(block + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
