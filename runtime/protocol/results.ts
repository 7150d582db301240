/**
 * The files LayerLab writes that other parts read: run files (evaluate, sweep), direction
 * statistics (compute-directions) and the description of a hidden-state cache. One zod schema
 * per format, and the TypeScript types derived from it: the runtime writes these types, the
 * extension validates what it lists and posts to a chart with the same schemas, and the webviews
 * draw them. Files on disk are the source of truth: every chart is drawn from one of these.
 *
 * Unknown extra fields pass validation (zod's default), so a newer runtime that adds a field does
 * not make an older chart refuse its files.
 *
 * No imports from vscode, the DOM or Node here: this module is bundled into all three.
 */
import { z } from 'zod';
import { WEIGHT_PRECISIONS } from '../../models/common/precision';
import { appliedSteeringSchema } from './steering';
import { SUBSETS as DATASET_SUBSETS, type Subset } from '../../datasets/records';
import { shardsStateSchema } from './shards';

export type { Subset };
export const SUBSETS: readonly Subset[] = DATASET_SUBSETS;
const subsetSchema = z.enum(['reasoning', 'memorization']);

/** Where an intervention edits a block: its input (`hook_resid_pre`) or its output. */
export const HOOK_CHOICES = ['pre', 'post'] as const;
export type HookChoice = (typeof HOOK_CHOICES)[number];

/**
 * What to do with prompts longer than the model's context:
 * - `error` (default): refuse before any work, naming how many records are too long;
 * - `skip`: leave those records out (the output says which, and every summary counts them);
 * - `truncate-left`: keep each long prompt's last tokens (the end of a prompt, where the question
 *   and the answer cue are, matters most; a leading BOS is dropped with the rest).
 */
export const LONG_PROMPT_POLICIES = ['error', 'skip', 'truncate-left'] as const;
export type LongPromptPolicy = (typeof LONG_PROMPT_POLICIES)[number];

/** A proportion with its Wilson 95% interval. */
export const accuracySchema = z.object({
  correct: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  /** Items whose generation had no parsable answer (counted as wrong). */
  unparsed: z.number().int().nonnegative(),
  accuracy: z.number(),
  ci95: z.tuple([z.number(), z.number()]),
});
export type Accuracy = z.infer<typeof accuracySchema>;

/** How an evaluation edits the model. `none` is the no-intervention baseline. */
export const interventionSpecSchema = z
  .object({
    /** Stable id within a run, e.g. `baseline`, `post@66 scale=0.1`, `random#2 post@66 scale=0.1`. */
    id: z.string(),
    kind: z.enum(['none', 'direction', 'random-direction']),
    hook: z.enum(['hook_resid_pre', 'hook_resid_post']).nullable(),
    /** Blocks edited; each uses its own direction unless `directionLayer` is set. */
    layers: z.array(z.number().int()),
    /** Paper-code mode: this block's direction applied at every edited block. */
    directionLayer: z.number().int().optional(),
    scale: z.number(),
    /** Additive steering coefficient (x += alpha·u, u the unit direction). */
    alpha: z.number(),
    /** For random-direction controls: the seed of the random unit vectors. */
    randomSeed: z.number().int().optional(),
    /** For random-direction controls: which control (0, 1, …) at this grid point. */
    randomIndex: z.number().int().optional(),
    /** For direction interventions: the directions file the vectors came from. */
    directionFile: z.string().optional(),
    /** For direction interventions: the hook point whose direction each edited block used (parallel to layers). */
    directionHooks: z.array(z.string()).optional(),
    /**
     * Steering (--steer_* flags; scale and alpha are then 0): the method, strength and vectors.
     * kind 'direction' steers along the given vectors, 'random-direction' along random vectors of
     * the same lengths (the control).
     */
    steering: appliedSteeringSchema.optional(),
  });
export type InterventionSpec = z.infer<typeof interventionSpecSchema>;

export const runItemSchema = z
  .object({
    id: z.string(),
    subset: subsetSchema,
    category: z.string().optional(),
    question: z.string(),
    expected: z.string(),
    /** sha256 (hex, first 16) of the exact prompt text, to show prompts did not change. */
    promptHash: z.string(),
    generated: z.string().optional(),
    parsed: z.string().nullable(),
    correct: z.boolean(),
    /** With loglik scoring: log-probability of each option letter. */
    optionLogprobs: z.record(z.number()).optional(),
    /** No answer could be read from the generation (counted as wrong). */
    unparsed: z.boolean().optional(),
    /** Why generation stopped: eos, stop-string, max-new-tokens or context-full. */
    stopReason: z.string().optional(),
    /** Tokens in the prompt, and tokens generated. */
    promptTokens: z.number().int().optional(),
    newTokens: z.number().int().optional(),
  });
export type RunItem = z.infer<typeof runItemSchema>;

export const interventionResultSchema = z
  .object({
    intervention: interventionSpecSchema,
    summary: z.object({ reasoning: accuracySchema, memorization: accuracySchema }),
    items: z.array(runItemSchema),
    seconds: z.number(),
    /** False while this intervention's items are still being evaluated (partial run files). */
    complete: z.boolean().optional(),
  });
export type InterventionResult = z.infer<typeof interventionResultSchema>;

/** Which records were evaluated and why (RunSpec.splitDetail). */
export const splitDetailSchema = z.object({
  /** Labelled records in the data. */
  labelled: z.number().int(),
  /** Records held out of the evaluation because the directions were computed from them. */
  excluded: z.number().int(),
  /** Records the sample was drawn from. */
  pool: z.number().int(),
  directionsDataName: z.string().optional(),
  note: z.string().optional(),
});
export type SplitDetail = z.infer<typeof splitDetailSchema>;

/** Everything needed to run an evaluation again. */
export const runSpecSchema = z
  .object({
    command: z.enum(['evaluate', 'sweep']),
    model: z.object({
      path: z.string(),
      contentHash: z.string(),
      modelType: z.string(),
      options: z.record(z.unknown()),
      /** Storage precision of the weights the run used (absent in runs made before precisions: fp32). */
      weights: z.enum(WEIGHT_PRECISIONS).optional(),
    }),
    data: z.object({ path: z.string(), contentHash: z.string(), name: z.string(), kind: z.string() }),
    directions: z.object({ path: z.string(), contentHash: z.string() }).optional(),
    split: z.enum(['overlap', 'holdout']),
    sampleSize: z.number().int(),
    seed: z.number().int(),
    prompt: z
      .object({
        template: z.string(),
        fewshot: z.boolean(),
        cot: z.boolean(),
        fewshotSource: z.string().optional(),
        /** MMLU-Pro examples per category, and their ids per category in prompt order. */
        shots: z.number().int().optional(),
        fewshotExamples: z.record(z.array(z.string())).optional(),
      })
      ,
    scoring: z.enum(['generate', 'loglik']),
    maxNewTokens: z.number().int(),
    batchSize: z.number().int(),
    stopStrings: z.array(z.string()),
    /** The job's CLI twin after `layerlab <command>`: running it again repeats the experiment. */
    argv: z.array(z.string()),
    /** The interventions asked for, in run order (each result repeats its own). */
    interventions: z.array(interventionSpecSchema).optional(),
    splitDetail: splitDetailSchema.optional(),
    /** Ids of the evaluated records, in order. */
    recordIds: z.array(z.string()).optional(),
    /** Records whose prompts were longer than the context: left out or cut (`--on_long_prompt`). */
    longPrompts: z
      .object({
        policy: z.enum(LONG_PROMPT_POLICIES),
        skipped: z.array(z.object({ id: z.string(), tokens: z.number().int() })),
        truncated: z.array(z.object({ id: z.string(), tokens: z.number().int() })),
      })
      .optional(),
    /** Label rule of the data, as loaded. */
    labelRule: z.unknown().optional(),
    /** Whether each category's few-shot prefix KV was computed once and reused. */
    prefixReuse: z.boolean().optional(),
    /** loglik: the text appended after the prompt before the option letter. */
    answerCue: z.string().optional(),
    /** The answer pattern: the seed's regex or the lenient one. */
    extraction: z.enum(['seed', 'lenient']).optional(),
    /**
     * Only in a part of a sharded run (--shard i/N): which part, and the run file the merge
     * writes. Everything else in a part's spec is the whole run's, so the merged spec is a part's
     * without this field (and `argv`, the whole run's CLI twin, has no --shard).
     */
    shard: z.object({ index: z.number().int(), count: z.number().int(), target: z.string() }).optional(),
  });
export type RunSpec = z.infer<typeof runSpecSchema>;

export const runFileSchema = z
  .object({
    format: z.literal('layerlab-run'),
    version: z.literal(1),
    layerlabVersion: z.string(),
    createdAt: z.string(),
    /** False while running or after a cancel / crash: the results are partial. */
    complete: z.boolean(),
    spec: runSpecSchema,
    provider: z.string(),
    /** Items done / total over all interventions, for partial runs. */
    progress: z.object({ done: z.number(), total: z.number() }),
    results: z.array(interventionResultSchema),
    timing: z.object({ totalSeconds: z.number(), itemsPerSecond: z.number() }),
    /** Things the user should know about this run (e.g. prompts that could not reuse the prefix KV). */
    warnings: z.array(z.string()).optional(),
  });
export type RunFile = z.infer<typeof runFileSchema>;

/**
 * How well a direction separates the two groups. JSON has no NaN: an undefined statistic (a
 * constant projection) is written as null.
 */
export const separationStatsSchema = z
  .object({
    n: z.number().int(),
    auc: z.number().nullable(),
    cohensD: z.number().nullable(),
    /** Pearson r between the projection and the dataset's score, when records carry one. */
    pearsonR: z.number().nullable().optional(),
  });
export type SeparationStats = z.infer<typeof separationStatsSchema>;

/** Per-layer quality of a difference-of-means direction (from compute-directions). */
export const directionLayerStatsSchema = z
  .object({
    hook: z.string(),
    block: z.number().int(),
    norm: z.number(),
    nReasoning: z.number().int(),
    nMemorization: z.number().int(),
    train: separationStatsSchema,
    heldOut: separationStatsSchema.optional(),
  });
export type DirectionLayerStats = z.infer<typeof directionLayerStatsSchema>;

export const directionStatsFileSchema = z
  .object({
    format: z.literal('layerlab-directions'),
    version: z.literal(1),
    cache: z.object({ path: z.string(), dataName: z.string() }),
    holdout: z.object({ fraction: z.number(), seed: z.number() }),
    layers: z.array(directionLayerStatsSchema),
    /** Per hook: projections of every record onto the (train) direction, for histograms. */
    projections: z.record(z.array(z.object({ id: z.string(), subset: subsetSchema, split: z.enum(['train', 'heldout']), value: z.number() }))),
    /** Shared with the directions file's metadata: the two were written as one unit. */
    commit: z.string().optional(),
  });
export type DirectionStatsFile = z.infer<typeof directionStatsFileSchema>;

/** One dataset's hidden states in a cache file, as the tree view shows it. */
export const cacheEntrySchema = z.object({
  file: z.string(),
  dataName: z.string(),
  complete: z.boolean(),
  rowsDone: z.number().int(),
  rows: z.number().int(),
  dModel: z.number().int(),
  dtype: z.enum(['float32', 'float16']),
  positions: z.enum(['last', 'mean', 'all']),
  hooks: z.array(z.object({ name: z.string(), shape: z.array(z.number().int()), bytes: z.number().int() })),
  provenance: z.record(z.string()),
  /** A sharded cache (--shard i/N): its parts, done and started, and whether they are merged. */
  shards: shardsStateSchema.optional(),
});
export type CacheEntryInfo = z.infer<typeof cacheEntrySchema>;
