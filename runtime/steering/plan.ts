/**
 * From a job's steering flags to the edits the model runs: which hook points, which vector at
 * each (runtime/steering/vectors.ts), the method's formula reduced to edit terms
 * (runtime/protocol/steering.ts `editTerms`), and, for norm-relative strength, the mean ‖x‖ at
 * each hook over the unsteered prompt(s). The same plan serves generate, trace, evaluate, sweep,
 * logit-lens, projection and steer-compare, at every position or the last one, in the prefill and
 * at every decoding step.
 */
import * as path from 'node:path';
import { loadDataset } from '../../datasets';
import type { EditPositions, HookEdit, InstrumentedModel } from '../model';
import type { OpenedModel } from '../openModel';
import { UsageError } from '../protocol/argv';
import {
  defaultStrength,
  editTerms,
  takesRelativeNorm,
  wantsSteering,
  type AppliedSteering,
  type SteerMethod,
  type SteerParams,
} from '../protocol/steering';
import { chooseTemplate, promptEncoder } from '../prompting';
import { resolveHooks } from '../cache/saveHiddenStates';
import { meanOfTraceFiles, tracePrompts } from '../probe/trace';
import { checkHook } from './controlVector';
import { loadVectorSet, STEER_FLAGS, type MeanStates, type VectorSet } from './vectors';

export interface SteeringPlan {
  edits: HookEdit[];
  positions: EditPositions;
  applied: AppliedSteering;
}

/** The steering flags as a job has them (sweep has several strengths and picks one per run). */
export type SteerInput = Partial<SteerParams>;

/**
 * Mean states of contrast sets: trace files are read; any other file is a prompt set (a .txt
 * file, {"text": …} JSON/JSONL, or a dataset), run unsteered, each prompt at its last token.
 */
export function contrastMeans(opened: OpenedModel, signal?: AbortSignal): MeanStates {
  return async (files, hooks, what) => {
    const flag = what === 'positive' ? STEER_FLAGS.positive : STEER_FLAGS.negative;
    const traces = files.filter((f) => f.toLowerCase().endsWith('.safetensors'));
    const prompts = files.filter((f) => !f.toLowerCase().endsWith('.safetensors'));
    const acc = meanOfTraceFiles(traces, hooks, flag);
    for (const file of prompts) {
      const data = await loadDataset(file, { labelRule: null });
      const { template } = chooseTemplate(opened.tokenizer, undefined, data.kind);
      const enc = promptEncoder(opened.tokenizer, template, opened.checkpoint.path);
      const traced = await tracePrompts(opened.model, data.records.map((r) => enc.tokens(r)), { hooks, positions: 'last', logits: 'none', batchSize: 8, signal });
      for (const hook of hooks) {
        const a = acc.get(hook) ?? { sum: new Float64Array(opened.model.spec.dModel), n: 0 };
        for (const t of traced) {
          const v = t.reads.get(hook)!;
          for (let j = 0; j < v.length; j++) a.sum[j] += v[j]!;
          a.n++;
        }
        acc.set(hook, a);
      }
    }
    const out = new Map<string, Float64Array>();
    for (const [hook, a] of acc) {
      if (a.n === 0) throw new UsageError(`${flag}: no rows for ${hook} in ${files.map((f) => path.basename(f)).join(', ')}`);
      out.set(hook, Float64Array.from(a.sum, (x) => x / a.n));
    }
    return out;
  };
}

/**
 * Mean ‖x‖ over the tokens of the prompts at each hook, unsteered (a leading BOS is left out:
 * its residual is often an outlier many times larger than the others).
 */
export async function meanResidualNorms(model: InstrumentedModel, prompts: number[][], hooks: string[], bosId: number | undefined): Promise<Map<string, number>> {
  const d = model.spec.dModel;
  const traced = await tracePrompts(model, prompts, { hooks, positions: 'all', logits: 'none', batchSize: 4 });
  const out = new Map<string, number>();
  for (const hook of hooks) {
    let sum = 0;
    let n = 0;
    traced.forEach((t, i) => {
      const v = t.reads.get(hook)!;
      const skip = prompts[i]!.length > 1 && prompts[i]![0] === bosId ? 1 : 0;
      for (let p = skip; p < prompts[i]!.length; p++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += v[p * d + j]! * v[p * d + j]!;
        sum += Math.sqrt(s);
        n++;
      }
    });
    out.set(hook, sum / n);
  }
  return out;
}

export interface PlanOptions {
  /** Prompts the mean ‖x‖ of norm-relative strength is measured over (unsteered). */
  normPrompts?: number[][];
  /** Overrides --steer_strength (a sweep's strengths, the panel's slider). */
  strength?: number;
  /** Vectors already loaded (a sweep plans many strengths over one set). */
  vectors?: VectorSet;
  signal?: AbortSignal;
}

export function strengthOf(method: SteerMethod, given: number | undefined): number {
  const s = given ?? defaultStrength(method);
  if (s === undefined) throw new UsageError(`--steer_method ${method} needs --steer_strength (${method === 'angular' ? 'degrees towards d̂' : 'the scale of the component along d̂'})`);
  if (!Number.isFinite(s)) throw new UsageError(`--steer_strength must be a finite number, got ${s}`);
  return s;
}

/** The hook points the flags steer, checked against the model. */
export function steerHooksOf(p: SteerInput, nBlocks: number): string[] {
  if (!p.steerHooks?.length) throw new UsageError('steering needs --steer_hooks (e.g. blocks.3.hook_resid_post, or post for every block output)');
  for (const h of p.steerHooks) if (!['post', 'pre', 'all'].includes(h)) checkHook(h, nBlocks, '--steer_hooks');
  return resolveHooks(p.steerHooks, nBlocks);
}

/** Loads the vectors the flags name, for the hooks they steer. */
export async function steerVectors(opened: OpenedModel, p: SteerInput, hooks: string[], signal?: AbortSignal): Promise<VectorSet> {
  const { spec } = opened.model;
  return loadVectorSet(
    { file: p.steerVector, tensor: p.steerTensor, row: p.steerRow, positive: p.steerPositive, negative: p.steerNegative },
    { nBlocks: spec.nBlocks, dModel: spec.dModel, hooks, meanStates: contrastMeans(opened, signal) },
  );
}

/** The plan of a job's steering flags, or undefined when they ask for none. */
export async function planSteering(opened: OpenedModel, p: SteerInput, o: PlanOptions = {}): Promise<SteeringPlan | undefined> {
  if (!wantsSteering(p) && o.strength === undefined) return undefined;
  const { spec } = opened.model;
  const method = p.steerMethod ?? 'add';
  const norm = p.steerNorm ?? 'absolute';
  if (norm === 'relative' && !takesRelativeNorm(method)) throw new UsageError(`--steer_norm relative applies to add and affine; ${method} is scale-free`);
  const strength = strengthOf(method, o.strength ?? p.steerStrength);
  const hooks = steerHooksOf(p, spec.nBlocks);
  const vectors = o.vectors ?? (await steerVectors(opened, p, hooks, o.signal));
  let meanNorms: Map<string, number> | undefined;
  if (norm === 'relative') {
    if (!o.normPrompts?.length) throw new UsageError('--steer_norm relative needs prompts to measure the mean ‖x‖ over');
    meanNorms = await meanResidualNorms(opened.model, o.normPrompts, hooks, opened.tokenizer.bosId);
  }
  const target = p.steerTarget ?? 0;
  const edits: HookEdit[] = [];
  const applied: AppliedSteering = { method, strength, target, norm, positions: p.steerPositions ?? 'all', source: vectors.source, hooks: [] };
  for (const hook of hooks) {
    const { vector, from } = vectors.at(hook);
    const meanNorm = meanNorms?.get(hook);
    let terms;
    try {
      terms = editTerms({ method, strength, vector, target, norm, ...(meanNorm !== undefined ? { meanNorm } : {}) });
    } catch (e) {
      throw new UsageError(`steering at ${hook} (${from}): ${(e as Error).message}`);
    }
    edits.push({ hook, ...terms });
    applied.hooks.push({ hook, vectorNorm: Math.hypot(...vector), ...(meanNorm !== undefined ? { meanNorm } : {}), from });
  }
  return { edits, positions: applied.positions, applied };
}
