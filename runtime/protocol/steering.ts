/**
 * Steering methods, each defined once here as a formula on vectors, with the parameters every
 * job that steers takes (generate, trace, evaluate, sweep, logit-lens, projection, steer-compare).
 *
 * At a hook point with hidden state x, steering vector u (from a directions file, any
 * safetensors / .npy / GGUF control vector, or a contrast of two prompt sets), d̂ = u/‖u‖,
 * a = x·d̂ and strength s:
 *
 *   add       x ← x + s·u                         (CAA / control vectors / the seed's α·d̂)
 *   project   x ← x + s·a·d̂                       (the seed's --scale: s = −1 removes the component)
 *   ablate    x ← x − s·a·d̂                       (s = 1, the default: remove the component)
 *   affine    x ← x + s·(t − a)·d̂                 (s = 1, the default: set the projection to t)
 *   angular   x ← x turned by s degrees within the plane of x and d̂, towards d̂ (s < 0: away),
 *             keeping ‖x‖; x along d̂ (no plane; within 0.06°) is left as it is
 *
 * Norm-relative strength (`--steer_norm relative`) reads s (add) and t (affine) as fractions of
 * m, the mean ‖x‖ at that hook over the unsteered prompt's positions: add becomes x + s·m·d̂
 * (u's own length no longer matters) and affine's target t·m. The other methods are scale-free.
 * Strength 0 is no steering, bit for bit, for every method (tested).
 *
 * `steeredState` is the reference: a plain function of x that the tests compare the model's
 * read-back states with. `editTerms` reduces each method to the terms the model's one edit graph
 * takes (runtime/model.ts HookEdit: scale·(x·d̂)·d̂ + add + rotation), e.g. ablate = scale −s,
 * affine = scale −s plus add s·t·d̂.
 *
 * No imports from vscode, the DOM or Node here: the extension and the webviews bundle this module.
 */
import { z } from 'zod';
import { ROTATION_EPS } from '../../models/graph/spec';

export const STEER_METHODS = ['add', 'project', 'ablate', 'affine', 'angular'] as const;
export type SteerMethod = (typeof STEER_METHODS)[number];
export const STEER_NORMS = ['absolute', 'relative'] as const;
export type SteerNorm = (typeof STEER_NORMS)[number];
export const STEER_POSITIONS = ['all', 'last'] as const;
export type SteerPositions = (typeof STEER_POSITIONS)[number];

/** One line per method, for help texts and the Steer & Compare panel. */
export const STEER_METHOD_HELP: Record<SteerMethod, string> = {
  add: 'x ← x + s·u (s·m·d̂ with --steer_norm relative)',
  project: "x ← x + s·(x·d̂)·d̂ (the seed's --scale)",
  ablate: 'x ← x − s·(x·d̂)·d̂ (s = 1: remove the component)',
  affine: 'x ← x + s·(t − x·d̂)·d̂ (s = 1: set the projection to t = --steer_target)',
  angular: 'rotate x by s degrees towards d̂ within the plane of x and d̂',
};

/** Methods whose strength has a default (the others need --steer_strength). */
const DEFAULT_STRENGTH: Partial<Record<SteerMethod, number>> = { add: 1, ablate: 1, affine: 1 };

/** The strength a method uses when none is given; undefined: it must be given. */
export function defaultStrength(method: SteerMethod): number | undefined {
  return DEFAULT_STRENGTH[method];
}

/** Whether `--steer_norm relative` means something for a method (its strength has units of ‖x‖). */
export function takesRelativeNorm(method: SteerMethod): boolean {
  return method === 'add' || method === 'affine';
}

/** What each method's strength means, for the panel's slider and help. */
export function strengthMeaning(method: SteerMethod, norm: SteerNorm): string {
  switch (method) {
    case 'add':
      return norm === 'relative' ? 's: fraction of the mean ‖x‖ added along d̂' : 's: multiple of the vector added';
    case 'project':
      return 's: scale of the component along d̂ (−1 removes it)';
    case 'ablate':
      return 's: fraction of the component removed';
    case 'affine':
      return 's: fraction of the way to the target projection';
    case 'angular':
      return 's: degrees towards d̂';
  }
}

// ---------------------------------------------------------------------------------------------
// The parameters (flat, so every one is a CLI flag; runtime/steering/ checks how they combine)

const file = (help: string) => z.string().min(1).describe(help);

/** Steering parameters shared by the jobs that run the model (sweep swaps strength for strengths). */
export const steerFields = {
  steerHooks: z
    .array(z.string().min(1))
    .min(1)
    .describe('hook points to steer: names like blocks.3.hook_resid_post, or post, pre, all (every block output, input, both); none: no steering')
    .optional(),
  steerVector: file(
    'the steering vector(s): a directions file (each hook its own direction), a safetensors file (tensors named by hook point, direction.<layer> as in control vectors, or one tensor for every hook), a .npy file, or a GGUF control vector',
  ).optional(),
  steerTensor: z.string().min(1).describe('use this tensor of --steer_vector at every steered hook (e.g. one hook point of a directions file)').optional(),
  steerRow: z.number().int().min(0).describe('row of a 2-D tensor of --steer_vector (default: row l for block l when there is one row per block)').optional(),
  steerPositive: z
    .array(file('positive set'))
    .min(1)
    .describe('contrastive activation addition: trace files (layerlab trace) or prompt files (.txt one per line, {"text": …} JSON/JSONL) of the positive set; u = mean(positive) − mean(negative) at each hook (prompt files: at their last token)')
    .optional(),
  steerNegative: z.array(file('negative set')).min(1).describe('the negative set of --steer_positive').optional(),
  steerMethod: z.enum(STEER_METHODS).default('add').describe(`how the vector steers: ${STEER_METHODS.map((m) => `${m}: ${STEER_METHOD_HELP[m]}`).join('; ')}`),
  steerStrength: z.number().describe('s of the method (default 1 for add, ablate and affine; project and angular need it; angular: degrees)').optional(),
  steerTarget: z.number().default(0).describe('affine: the projection x·d̂ is moved to (a fraction of the mean ‖x‖ with --steer_norm relative)'),
  steerNorm: z.enum(STEER_NORMS).default('absolute').describe('absolute, or relative: add\'s strength and affine\'s target are fractions of the mean ‖x‖ at each hook (over the unsteered prompt)'),
  steerPositions: z.enum(STEER_POSITIONS).default('all').describe('steer every position (prefill and each decoding step) or the last position only (the prompt\'s last token, then each new token)'),
};

export const steerParamsSchema = z.object(steerFields).strict();
export type SteerParams = z.output<typeof steerParamsSchema>;

/** Steering fields whose presence means "steer" (the others have defaults). */
export const STEER_SOURCE_KEYS = ['steerHooks', 'steerVector', 'steerTensor', 'steerRow', 'steerPositive', 'steerNegative', 'steerStrength'] as const;

/** True when the params ask for steering at all. */
export function wantsSteering(p: Partial<SteerParams>): boolean {
  return STEER_SOURCE_KEYS.some((k) => p[k] !== undefined);
}

/** What a job reports about the steering it applied (results and run files). */
export const appliedSteeringSchema = z.object({
  method: z.enum(STEER_METHODS),
  strength: z.number(),
  target: z.number(),
  norm: z.enum(STEER_NORMS),
  positions: z.enum(STEER_POSITIONS),
  /** Where the vectors came from, in words (file, tensor, row; or the contrast sets). */
  source: z.string(),
  hooks: z.array(
    z.object({
      hook: z.string(),
      /** ‖u‖ of the vector used at this hook. */
      vectorNorm: z.number(),
      /** The mean ‖x‖ the strength was relative to (norm relative only). */
      meanNorm: z.number().optional(),
      /** Which tensor (or contrast) the vector came from. */
      from: z.string(),
    }),
  ),
});
export type AppliedSteering = z.infer<typeof appliedSteeringSchema>;

// ---------------------------------------------------------------------------------------------
// The formulas

/** One method at one hook: what the formulas need besides x. */
export interface SteerAt {
  method: SteerMethod;
  strength: number;
  /** The steering vector u at this hook (any length; d̂ = u/‖u‖). */
  vector: ArrayLike<number>;
  /** affine: the target projection (in units of meanNorm when norm is relative). */
  target?: number;
  norm?: SteerNorm;
  /** Mean ‖x‖ at this hook (norm relative). */
  meanNorm?: number;
}

function norm2(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

function unit(v: ArrayLike<number>): Float64Array {
  const n = norm2(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`the steering vector has length ${n}: it needs a direction`);
  return Float64Array.from(v as ArrayLike<number>, (x) => x / n);
}

function relativeScale(s: SteerAt): number {
  if ((s.norm ?? 'absolute') === 'absolute') return 1;
  if (s.meanNorm === undefined || !Number.isFinite(s.meanNorm)) throw new Error('norm-relative steering needs the mean ‖x‖ at the hook');
  return s.meanNorm;
}

/**
 * The reference: x after steering, computed from the definitions above in float64 (x, u
 * unchanged). The tests hold the model's read-back states to this.
 */
export function steeredState(x: ArrayLike<number>, s: SteerAt): Float64Array {
  const out = Float64Array.from(x as ArrayLike<number>);
  if (s.strength === 0) return out;
  const d = s.method === 'add' && (s.norm ?? 'absolute') === 'absolute' ? undefined : unit(s.vector);
  const a = d ? d.reduce((acc, di, i) => acc + di * x[i]!, 0) : 0;
  const k = s.strength;
  switch (s.method) {
    case 'add':
      if (!d) for (let i = 0; i < out.length; i++) out[i] += k * s.vector[i]!;
      else for (let i = 0; i < out.length; i++) out[i] += k * relativeScale(s) * d[i]!;
      return out;
    case 'project':
      for (let i = 0; i < out.length; i++) out[i] += k * a * d![i]!;
      return out;
    case 'ablate':
      for (let i = 0; i < out.length; i++) out[i] -= k * a * d![i]!;
      return out;
    case 'affine': {
      const t = (s.target ?? 0) * relativeScale(s);
      for (let i = 0; i < out.length; i++) out[i] += k * (t - a) * d![i]!;
      return out;
    }
    case 'angular': {
      // x = a·d̂ + r·ê with ê ⟂ d̂ in the plane; turning by θ towards d̂ gives
      // (a cos θ + r sin θ)·d̂ + (r cos θ − a sin θ)·ê.
      const perp = Float64Array.from(out, (xi, i) => xi - a * d![i]!);
      const r = norm2(perp);
      // Within float32's reach of d̂ (sin² of the angle ≤ 1e-6) the plane is undefined, as in
      // the model's graph (models/graph/layers.ts ROTATION_EPS).
      if (!(r > 0) || r * r <= ROTATION_EPS * (a * a + r * r)) return out;
      const th = (k * Math.PI) / 180;
      const along = a * Math.cos(th) + r * Math.sin(th);
      const across = (r * Math.cos(th) - a * Math.sin(th)) / r;
      for (let i = 0; i < out.length; i++) out[i] = along * d![i]! + across * perp[i]!;
      return out;
    }
  }
}

/** A method as the model's edit terms (runtime/model.ts HookEdit without the hook). */
export interface EditTerms {
  scale: number;
  /** d̂ (unit length), when the edit needs one. */
  direction?: Float32Array;
  add?: Float32Array;
  /** Radians towards d̂. */
  rotate?: number;
}

/**
 * The edit terms that make the model compute `steeredState`: every method is
 * scale·(x·d̂)·d̂ + add + rotation with per-hook constants.
 */
export function editTerms(s: SteerAt): EditTerms {
  const k = s.strength;
  if (!Number.isFinite(k)) throw new Error(`steering strength ${k} is not a finite number`);
  if (k === 0) return { scale: 0 };
  const d = () => Float32Array.from(unit(s.vector));
  switch (s.method) {
    case 'add': {
      if ((s.norm ?? 'absolute') === 'absolute') return { scale: 0, add: Float32Array.from(s.vector as ArrayLike<number>, (v) => k * v) };
      const m = relativeScale(s);
      return { scale: 0, add: Float32Array.from(unit(s.vector), (v) => k * m * v) };
    }
    case 'project':
      return { scale: k, direction: d() };
    case 'ablate':
      return { scale: -k, direction: d() };
    case 'affine': {
      const dir = unit(s.vector);
      const t = (s.target ?? 0) * relativeScale(s);
      return { scale: -k, direction: Float32Array.from(dir), add: Float32Array.from(dir, (v) => k * t * v) };
    }
    case 'angular':
      return { scale: 0, direction: d(), rotate: (k * Math.PI) / 180 };
  }
}
