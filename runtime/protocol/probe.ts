/**
 * The results of the interactive probing jobs (trace, logit-lens, projection, steer-compare,
 * steer-vector), shared with the extension and the webviews that draw them. The job
 * definitions themselves are in ./jobs.ts.
 *
 * No imports from vscode, the DOM or Node here: the extension and the webviews bundle this module.
 */
import { z } from 'zod';
import { appliedSteeringSchema } from './steering';

/** One token of a prompt: its id, its piece, and its [start, end) characters in the decoded text. */
export const tokenSpanSchema = z.object({
  id: z.number().int(),
  piece: z.string(),
  start: z.number().int(),
  end: z.number().int(),
});
export type TokenSpan = z.infer<typeof tokenSpanSchema>;

/** A prompt as the model saw it: the decoded text of its ids and every token's place in it. */
export const tokenizedTextSchema = z.object({
  text: z.string(),
  tokens: z.array(tokenSpanSchema),
});
export type TokenizedText = z.infer<typeof tokenizedTextSchema>;

export const LOGIT_CHOICES = ['none', 'last', 'all'] as const;

export const traceResultSchema = z.object({
  /** The trace file written (absolute). */
  file: z.string(),
  prompts: z.number().int(),
  /** Rows per hook point: one per token (positions all) or one per prompt. */
  rows: z.number().int(),
  hooks: z.array(z.string()),
  positions: z.enum(['last', 'mean', 'all']),
  logits: z.enum(LOGIT_CHOICES),
  /** Tokens over all prompts. */
  tokens: z.number().int(),
  steering: appliedSteeringSchema.optional(),
});
export type TraceResult = z.infer<typeof traceResultSchema>;

/** A candidate next token and its probability. */
export const topTokenSchema = z.object({ id: z.number().int(), piece: z.string(), prob: z.number() });
export type TopToken = z.infer<typeof topTokenSchema>;

export const logitLensResultSchema = z.object({
  prompt: tokenizedTextSchema,
  /** Rows of the grid, in model order (e.g. blocks.0.hook_resid_pre, then every block output). */
  hooks: z.array(z.string()),
  /** Block labels of the rows' hooks (huginn: core block j, recurrence r). */
  labels: z.array(z.string()),
  /** cells[row][position]: the top-k next tokens of final norm + unembedding applied to that hook's state. */
  cells: z.array(z.array(z.array(topTokenSchema))),
  /** The model's own next-token distribution per position (its top-k), for comparison. */
  output: z.array(z.array(topTokenSchema)),
  topK: z.number().int(),
  steering: appliedSteeringSchema.optional(),
  /** The CSV written with --out, when given. */
  file: z.string().optional(),
});
export type LogitLensResult = z.infer<typeof logitLensResultSchema>;

export const projectionResultSchema = z.object({
  prompt: tokenizedTextSchema,
  hooks: z.array(z.string()),
  labels: z.array(z.string()),
  /** values[hook][position] = x·d̂ at that hook and token. */
  values: z.array(z.array(z.number())),
  /** Where the direction at each hook came from. */
  directionSource: z.string(),
  directionFrom: z.array(z.string()),
  /** Token positions where a steering edit applied (empty without steering). */
  editedPositions: z.array(z.number().int()),
  steering: appliedSteeringSchema.optional(),
  file: z.string().optional(),
});
export type ProjectionResult = z.infer<typeof projectionResultSchema>;

/** A piece of a word diff between two texts. */
export const diffPartSchema = z.object({ op: z.enum(['same', 'removed', 'added']), text: z.string() });
export type DiffPart = z.infer<typeof diffPartSchema>;

export const generationSideSchema = z.object({
  /** The generated text (after the prompt). */
  text: z.string(),
  /** Generated token ids, and their places in `text`. */
  tokens: z.array(tokenSpanSchema),
  stopReason: z.string(),
});

export const STEER_COMPARE_FORMAT = 'layerlab-steer-compare';

/**
 * The result of steer-compare, which is also its run file ("Save as experiment"): `spec.params`
 * are the job's params, so `layerlab steer-compare --experiment FILE` runs it again.
 */
export const steerCompareResultSchema = z.object({
  format: z.literal(STEER_COMPARE_FORMAT),
  version: z.literal(1),
  spec: z.object({
    /** The job's params as run (checked, defaults filled, without --experiment and --out). */
    params: z.record(z.unknown()),
    /** The CLI twin. */
    argv: z.array(z.string()),
    model: z.object({ path: z.string(), contentHash: z.string() }),
  }),
  prompt: tokenizedTextSchema,
  base: generationSideSchema,
  steered: generationSideSchema,
  /** Word diff from the unsteered text to the steered one. */
  diff: z.array(diffPartSchema),
  /**
   * KL(P_unsteered ‖ P_steered) of the next-token distributions at each step of the unsteered
   * continuation (both models fed the same tokens: the prompt, then the unsteered tokens so far).
   */
  kl: z.array(z.number()),
  steering: appliedSteeringSchema,
  /** The run file written (with --out), absolute. */
  runFile: z.string().optional(),
});
export type SteerCompareResult = z.infer<typeof steerCompareResultSchema>;

export const steerVectorResultSchema = z.object({
  file: z.string(),
  format: z.enum(['gguf', 'safetensors']),
  /** Each vector written: its hook point, the control-vector layer index, its norm. */
  vectors: z.array(z.object({ hook: z.string(), layer: z.number().int(), norm: z.number() })),
  source: z.string(),
  warnings: z.array(z.string()),
});
export type SteerVectorResult = z.infer<typeof steerVectorResultSchema>;

// ---------------------------------------------------------------------------------------------
// Show Projection's diverging colour scale, shared by the editor decorations and the page

/** Levels of colour on each side of zero. */
export const PROJECTION_LEVELS = 5;

/** The scale's half-width: the largest |value| (0 when all are 0). */
export function projectionDomain(values: readonly number[]): number {
  return values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

/**
 * A value's colour level: 0 (no colour) for 0, else ±1..±PROJECTION_LEVELS, the sign the
 * value's, |level| = ⌈|value| / domain · levels⌉ (so the largest |value| gets the strongest).
 */
export function projectionLevel(value: number, domain: number): number {
  if (!(domain > 0) || value === 0 || !Number.isFinite(value)) return 0;
  const k = Math.min(PROJECTION_LEVELS, Math.max(1, Math.ceil((Math.abs(value) / domain) * PROJECTION_LEVELS - 1e-9)));
  return value < 0 ? -k : k;
}

/**
 * The theme colour of a level (package.json contributes each, with light, dark and high-contrast
 * defaults, so a theme can restyle them): `layerlab.projection.positive3`, `…negative1`.
 */
export function projectionColorId(level: number): string {
  if (level === 0 || !Number.isInteger(level) || Math.abs(level) > PROJECTION_LEVELS) throw new RangeError(`no colour for level ${level}`);
  return `layerlab.projection.${level > 0 ? 'positive' : 'negative'}${Math.abs(level)}`;
}

/** The border colour of positions where a steering edit applied. */
export const PROJECTION_EDITED_COLOR_ID = 'layerlab.projection.editedBorder';

/** The CSS variable a webview sees a theme colour as (VS Code: dots become dashes). */
export function themeColorVariable(colorId: string): string {
  return `--vscode-${colorId.replace(/\./g, '-')}`;
}

/**
 * The geometry of a small line chart of one value per layer (the hover chart of Show
 * Projection, in the editor and on the page): a point per value inside width × height with
 * `pad` around, and the y of zero. Zero is always inside the range.
 */
export function sparklineGeometry(values: readonly number[], width: number, height: number, pad = 4): { points: [number, number][]; zeroY: number } {
  const lo = Math.min(0, ...values);
  const hi = Math.max(0, ...values);
  const span = hi - lo || 1;
  const x = (i: number) => pad + (values.length > 1 ? (i * (width - 2 * pad)) / (values.length - 1) : (width - 2 * pad) / 2);
  const y = (v: number) => pad + ((hi - v) * (height - 2 * pad)) / span;
  return { points: values.map((v, i) => [x(i), y(v)]), zeroY: y(0) };
}
