/**
 * Every job LayerLab runs, defined once: one zod schema for its parameters and one for its
 * result (the TypeScript types are derived from them), the defaults, the CLI's flag names, and
 * one JSON-RPC request per job. Three faces use these definitions and nothing else:
 *
 *   - runtime/jobs/      one typed handler per job, `(params, context) → result`;
 *   - runtime/cli/       `layerlab <job> --flags` → parseArgv (./argv.ts) → the same handler;
 *   - extension/         builds params, sends the job's request, reads the typed result, and
 *                        logs the job's CLI twin (`toArgv`, the inverse of parseArgv).
 *
 * Parameter names are camelCase; each is one CLI flag, the seed's snake_case spelling of the name
 * (`dataFilePath` ↔ `--data_file_path`; kebab-case is accepted too), unless `cli.flags` says
 * otherwise. Progress travels as vscode-jsonrpc work-done progress (`JobProgressType` on the
 * request's `workDoneToken`), never as text.
 *
 * No imports from vscode, the DOM or Node here (scripts/check-imports.mjs): the extension and
 * the webviews bundle this module.
 */
import { ProgressType, RequestType } from 'vscode-jsonrpc';
import { z } from 'zod';
import { modelInfoSchema, PROVIDER_PREFERENCES, type RuntimeErrorData } from './requests';
import { accuracySchema, cacheEntrySchema, directionLayerStatsSchema, LONG_PROMPT_POLICIES, type LongPromptPolicy } from './results';
import { ANNOTATORS, BEHAVIOURS, canonicalBehaviour, EFFECT_METRICS } from './thinking';
import { OUTPUT_SUBFOLDERS, WORKSPACE_DEFAULTS } from './workspace';
import { MAX_SHARDS, shardParam } from './shards';
import { TEXT_ENCODINGS } from '../../datasets/records';
import { WEIGHT_PRECISIONS } from '../../models/common/precision';
import { LOGIT_CHOICES, logitLensResultSchema, projectionResultSchema, steerCompareResultSchema, steerVectorResultSchema, traceResultSchema } from './probe';
import { appliedSteeringSchema, steerFields } from './steering';

export { LONG_PROMPT_POLICIES, type LongPromptPolicy };

/** A direction from fewer training records of either label is refused (compute-directions). */
export const MIN_RECORDS_PER_LABEL = 2;

// ---------------------------------------------------------------------------------------------
// Parameter groups shared by several jobs

const path = (help: string) => z.string().min(1).describe(help);
const encodingField = z.enum(TEXT_ENCODINGS).default('utf-8').describe('text encoding of a JSON/JSONL dataset: utf-8 (checked strictly), latin1, utf-16le or utf-16be');
const longPromptField = z
  .enum(LONG_PROMPT_POLICIES)
  .default('error')
  .describe("prompts longer than the model's context: error (refuse before any work, naming them), skip (leave them out; listed in the output) or truncate-left (keep their last tokens)");
const count = (min: number, help: string) => z.number().int().min(min).describe(help);

/**
 * Which model a job runs and how it is opened. The runtime keeps one model open (a lease): a job
 * naming the same path, tokenizer, options, provider and threads reuses it.
 */
export const modelFields = {
  model: path('a Hugging Face folder or a llama2.c .bin checkpoint').optional(),
  modelsPath: path("folder of models (the seed's flag; with --model_name)").optional(),
  modelName: path('model folder (or llama2.c file) name under --models_path').optional(),
  tokenizer: path('tokenizer file or folder (default: found beside the model)').optional(),
  provider: z.enum(PROVIDER_PREFERENCES).default('auto').describe('execution provider: auto (CUDA if installed, else WebGPU if a GPU answers, else CPU; the log says why), cuda, webgpu or cpu'),
  threads: count(0, 'CPU threads for ONNX Runtime (0: all cores)').default(0),
  weights: z
    .enum(WEIGHT_PRECISIONS)
    .default('fp32')
    .describe('storage precision of the weights: fp32, fp16 (GPU providers only) or int8/int4 (weight-only block quantization, faster on the CPU); hook reads and edits stay fp32'),
  memoryBudget: z.number().positive().describe('GB of memory the model may use (default: what the machine has free); a model that would not fit is refused before loading, naming a precision that fits').optional(),
  // Recurrent-depth models (huginn_raven) only; no defaults, so that giving one for another
  // model can be refused rather than ignored.
  numSteps: count(0, "recurrent-depth models (huginn): recurrences of the core block, so blocks = prelude + core×N + coda (default: the config's mean_recurrence, 32 for huginn-0125)").optional(),
  stateInit: z.enum(['zeros', 'random']).describe("recurrent-depth models: initial latent state, zeros (default, deterministic) or random (the original's truncated normal, per position from --state_seed)").optional(),
  stateSeed: count(0, 'recurrent-depth models: seed of --state_init random (default 0)').optional(),
};

const modelRefObject = z.object(modelFields).strict();
export type ModelRef = z.input<typeof modelRefObject>;
export type ResolvedModelRef = z.output<typeof modelRefObject>;

/** `--model` and `--models_path/--model_name` are two spellings of one choice: exactly one. */
function checkModelChoice(p: { model?: string; modelsPath?: string; modelName?: string }, ctx: z.RefinementCtx): void {
  if (p.model !== undefined && (p.modelsPath !== undefined || p.modelName !== undefined)) {
    const other = p.modelsPath !== undefined ? 'modelsPath' : 'modelName';
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['model'], message: `conflicts with ${flagOfKey(other)}: give --model PATH, or --models_path DIR --model_name NAME`, params: { conflict: other } });
  } else if (p.model === undefined && p.modelName === undefined) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: [p.modelsPath !== undefined ? 'modelName' : 'model'],
      message: p.modelsPath !== undefined ? 'is required with --models_path' : 'is required: a Hugging Face folder or a llama2.c .bin (or --models_path DIR --model_name NAME)',
    });
  }
}

/** Data selection and prompts shared by evaluate and sweep (the seed's command 2). */
const evalFields = {
  hiddenStatesCachePath: path("the seed's cache folder (<dir>/<model_name>/<data_name>.safetensors) or a cache file; directions are read from (or computed beside) it").optional(),
  mmluPro3000samplesDataFilePath: path('the labelled file the cache was saved from (seed flag): names the cache; test data when none other is given').optional(),
  testDataPath: path('folder of test data (seed flag; the file is <dir>/<test_data_name>.json), or the test data file').optional(),
  testDataName: z.string().min(1).describe('test data key (seed flag); also the data name of the run').optional(),
  dataFile: path('the test data file (JSON, JSONL, parquet), or "demo" for the built-in demo dataset').optional(),
  kind: z.string().min(1).describe('dataset schema (default: detected from the fields)').optional(),
  labelRule: z.string().min(1).describe('e.g. "score>0.5" or "label:Reasoning=reasoning,Memorization=memorization" (default per schema)').optional(),
  dataSplit: z.string().min(1).describe('named split of a JSON file with several (e.g. PopQA dev/test)').optional(),
  encoding: encodingField,
  onLongPrompt: longPromptField,
  directionFile: path('a directions file (compute-directions); wins over the cache').optional(),
  directionsHoldout: z.number().min(0).lt(1).default(0.2).describe('held-out fraction when directions must be computed from the cache'),
  split: z.enum(['holdout', 'overlap']).default('holdout').describe('holdout: evaluate only records the directions were not computed from; overlap: what the seed did'),
  sampleSize: count(1, 'records to evaluate, drawn with --seed').default(200),
  seed: count(0, 'sampling seed').default(0),
  withFewshotPrompts: z.boolean().default(false).describe('MMLU-Pro 5-shot by category (needs --fewshot_file, except for the demo data), GSM8K 8-shot'),
  withCot: z.boolean().default(false).describe('chain-of-thought few-shot examples and "Let\'s think step by step." (with --with_fewshot_prompts)'),
  fewshotFile: path("MMLU-Pro's validation split (JSON/JSONL/parquet), source of the 5-shot examples").optional(),
  shots: count(1, 'MMLU-Pro few-shot examples per category (the seed: 5)').default(5),
  template: z.string().min(1).default('auto').describe('auto (seed-chat with a chat template, else plain), seed-chat, plain, bare, or a text with {question} {options}'),
  system: z.string().describe('system prompt of the seed-chat template (default "You are a helpful assistant.")').optional(),
  scoring: z.enum(['generate', 'loglik']).default('generate').describe("generate (greedy generation + the seed's regex) or loglik (highest log-probability option letter)"),
  batchSize: count(1, 'prompts per batch').default(1),
  maxNewTokens: count(1, 'generated tokens at most').default(200),
  stop: z.array(z.string()).min(1).describe('stop strings added to the tokenizer\'s (default with few-shot prompts: "\\n\\nQ:")').optional(),
  lenient: z.boolean().default(false).describe('lenient answer pattern ("Answer is B", "answer is: C") instead of the seed\'s regex'),
  noPrefixReuse: z.boolean().default(false).describe("recompute every prompt in full instead of reusing each category's few-shot prefix KV (for comparison)"),
  out: path('the run file (JSON)').optional(),
  outputPath: path('folder for the run file when --out is not given (<dir>/<model_name>/<data>.<command>.<hash>.json)')
    .default(`${WORKSPACE_DEFAULTS.outputPath}/${OUTPUT_SUBFOLDERS.runs}`),
  checkpointSeconds: z.number().positive().default(30).describe('seconds between partial run-file writes'),
  shard: shardParam.optional(),
};

/**
 * What a part of a sharded job (`--shard i/N`) reports: its own file, how many parts are done,
 * and the merged output when this part was the last one and merged them.
 */
const shardOutcomeSchema = z.object({
  shard: z.string(),
  partFile: z.string(),
  partsDir: z.string(),
  partsDone: z.number().int(),
  count: z.number().int(),
  /** The merged output, when every part is done and this part merged them (or found them merged). */
  merged: z.string().optional(),
  /** Why the parts were not merged yet. */
  note: z.string().optional(),
});
export type ShardOutcome = z.infer<typeof shardOutcomeSchema>;

/** The parameters evaluate and sweep share (the evaluation engine's common options). */
export const commonEvalSchema = z.object({ ...modelFields, ...evalFields }).strict();
export type CommonEvalParams = z.output<typeof commonEvalSchema>;

/** A steering vector comes from one source: a file, or the contrast of two prompt sets. */
function checkSteerSource(p: { steerVector?: string; steerPositive?: string[] }, ctx: z.RefinementCtx): void {
  if (p.steerVector !== undefined && p.steerPositive !== undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['steerVector'], message: 'conflicts with --steer_positive: the vector comes from a file or from two contrast sets, not both', params: { conflict: 'steerPositive' } });
  }
}

/** A sweep steers at each listed strength in turn (instead of one --steer_strength). */
const { steerStrength: _oneStrength, ...steerFieldsButStrength } = steerFields;
const sweepSteerFields = {
  ...steerFieldsButStrength,
  steerStrengths: z.array(z.number()).min(1).describe('strengths swept with --steer_hooks (each hook on its own), beside the baseline and random-vector controls of the same length').optional(),
};

/** What a job that reads a prompt takes: text, a file, or token ids. */
const promptFields = {
  prompt: z.string().describe('prompt text').optional(),
  promptFile: path('read the prompt from this UTF-8 file (- : standard input, CLI only)').optional(),
  ids: z.array(z.number().int().min(0)).min(1).describe('the prompt as token ids (no BOS is added)').optional(),
  noBos: z.boolean().default(false).describe('do not prepend BOS to the prompt text'),
};

function checkOnePrompt(p: { prompt?: string; promptFile?: string; ids?: number[]; dataFile?: string }, ctx: z.RefinementCtx, withData = false): void {
  const given = (['prompt', 'promptFile', 'ids', ...(withData ? ['dataFile'] : [])] as const).filter((k) => p[k as keyof typeof p] !== undefined);
  if (given.length > 1) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: [given[1]!], message: `conflicts with ${flagOfKey(given[0]!)}: give the prompt once`, params: { conflict: given[0] } });
  } else if (given.length === 0) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['prompt'], message: `is required: --prompt TEXT, --prompt_file F${withData ? ', --data_file F' : ''} or --ids 1,2,3` });
  }
}

function checkTestData(p: { dataFile?: string; testDataPath?: string }, ctx: z.RefinementCtx): void {
  if (p.dataFile !== undefined && p.testDataPath !== undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['dataFile'], message: 'conflicts with --test_data_path: give the test data once, as a file (--data_file) or as the seed\'s --test_data_path DIR --test_data_name KEY', params: { conflict: 'testDataPath' } });
  }
}

/** What each evaluated intervention scored, as the run file's summaries hold it. */
const interventionSummarySchema = z.object({
  id: z.string(),
  reasoning: accuracySchema,
  memorization: accuracySchema,
});

const evalResultSchema = z.object({
  /** The run file written (absolute). */
  runFile: z.string(),
  /** The seed's stdout lines (`Layer [66] - Reasoning Subset Accuracy: …`), in order. */
  lines: z.array(z.string()),
  summaries: z.array(interventionSummarySchema),
  /** Items per second over the whole run. */
  itemsPerSecond: z.number(),
  warnings: z.array(z.string()),
  /** With --shard: this part, and the merged run when it completed the set. */
  shard: shardOutcomeSchema.optional(),
});

// ---------------------------------------------------------------------------------------------
// The jobs

export interface JobCli {
  /** The parameter given as the command's positional argument (it also has its flag). */
  positional?: string;
  /** Flag names that are not the plain snake_case of the key. */
  flags?: Record<string, string>;
  /** Extra flag names for a key; for list parameters each one appends. */
  aliases?: Record<string, string[]>;
  /**
   * A string-list parameter that receives, verbatim and in order, every word the job does not
   * know (and everything after a bare `--`): the flags of another job that this one passes on.
   */
  rest?: string;
}

export interface JobDefinition<N extends string, P extends z.ZodTypeAny, R extends z.ZodTypeAny> {
  /** The CLI command (`layerlab <name>`). */
  name: N;
  /** One line saying what it does (CLI help, palette tooltips). */
  summary: string;
  /** The parameter object's fields (before cross-field checks): the argv codec walks these. */
  fields: z.ZodObject<z.ZodRawShape, 'strict'>;
  /** The full parameter schema, with cross-field checks and defaults. */
  params: P;
  result: R;
  cli: JobCli;
  request: RequestType<z.input<P> & WorkDoneParams, z.output<R>, RuntimeErrorData>;
}

function defineJob<N extends string, S extends z.ZodRawShape, R extends z.ZodTypeAny>(
  name: N,
  method: string,
  summary: string,
  shape: S,
  result: R,
  opts: { cli?: JobCli; refine?: (p: z.output<z.ZodObject<S, 'strict'>>, ctx: z.RefinementCtx) => void } = {},
) {
  const fields = z.object(shape).strict();
  const params = opts.refine ? fields.superRefine(opts.refine) : fields;
  return {
    name,
    summary,
    fields: fields as unknown as z.ZodObject<z.ZodRawShape, 'strict'>,
    params,
    result,
    cli: opts.cli ?? {},
    request: new RequestType<z.input<typeof params> & WorkDoneParams, z.output<R>, RuntimeErrorData>(`layerlab/job/${method}`),
  } satisfies JobDefinition<N, typeof params, R>;
}

const refineModel = (p: ResolvedModelRef, ctx: z.RefinementCtx) => checkModelChoice(p, ctx);

/** A model reference on its own (`layerlab/describeModel`). */
export const modelRefSchema = modelRefObject.superRefine(refineModel);

export const saveHiddenStatesJob = defineJob(
  'save-hidden-states',
  'saveHiddenStates',
  "cache every layer's hidden states over a dataset (the seed's first command); resumable",
  {
    ...modelFields,
    dataFilePath: path('dataset file: JSON array, JSONL, parquet, or plain text (.txt, one prompt per line)'),
    dataName: z.string().min(1).describe('key of this dataset in the cache (default: the file name)').optional(),
    outputPath: path('cache folder; files go to OUTPUT/<model>/<data_name>.safetensors').default(`${WORKSPACE_DEFAULTS.outputPath}/${OUTPUT_SUBFOLDERS.cache}`),
    dataSampleSize: count(1, 'cache a seeded sample of this many records (default: all)').optional(),
    dataBatchSize: count(1, 'records per forward pass').default(4),
    seed: count(0, 'sampling seed').default(0),
    hooks: z.array(z.string().min(1)).min(1).describe('hook points: names like blocks.3.hook_resid_post, or post (every block output), pre (every block input), all (both) (default: post)').optional(),
    positions: z.enum(['last', 'mean', 'all']).default('last').describe('last (last prompt token), mean (over the prompt) or all'),
    dtype: z.enum(['float32', 'float16']).default('float32').describe('stored precision of the hidden states'),
    template: z.string().min(1).default('auto').describe('prompt template: auto (seed-chat when the tokenizer has a chat template, else bare), seed-chat, bare, or a text with {question} and {options}'),
    kind: z.string().min(1).describe('dataset schema (default: detected from the fields)').optional(),
    split: z.string().min(1).describe('named split of a JSON file with several (e.g. PopQA dev/test)').optional(),
    labelRule: z.string().min(1).describe('e.g. "score>0.5" or "label:Reasoning=reasoning,Memorization=memorization" (default per schema)').optional(),
    encoding: encodingField,
    onLongPrompt: longPromptField,
    shard: shardParam.optional(),
  },
  z.object({
    /** The cache (with --shard: the merged cache once every part is done, else this part's file). */
    cacheFile: z.string(),
    records: z.number().int(),
    hooks: z.array(z.string()),
    /** Records found already cached by an interrupted run (0: started afresh). */
    resumedFrom: z.number().int(),
    /** The cache was complete before this run: nothing was computed. */
    alreadyComplete: z.boolean(),
    /** Records left out (`--on_long_prompt skip`) and cut (`truncate-left`) for their length. */
    skipped: z.array(z.object({ index: z.number().int(), id: z.string(), tokens: z.number().int() })),
    truncated: z.array(z.object({ index: z.number().int(), id: z.string(), tokens: z.number().int() })),
    /** With --shard: this part (its rows are `records` of the whole), and the merge. */
    shard: shardOutcomeSchema.optional(),
  }),
  { refine: refineModel },
);

export const computeDirectionsJob = defineJob(
  'compute-directions',
  'computeDirections',
  'difference-of-means direction per hook point from a hidden-state cache, with separation statistics',
  {
    cache: path('the hidden-state cache file (OUTPUT/<model>/<data_name>.safetensors)'),
    holdout: z.number().min(0).lt(1).default(0.2).describe('fraction of records held out of the means for held-out statistics (0 for none)'),
    seed: count(0, 'seed of the held-out split').default(0),
    hooks: z.array(z.string().min(1)).min(1).describe('hook points (default: every hook point in the cache)').optional(),
    minPerLabel: count(1, 'fewest training records of each label a direction may come from').default(MIN_RECORDS_PER_LABEL),
  },
  z.object({ directionsFile: z.string(), statsFile: z.string(), layers: z.array(directionLayerStatsSchema) }),
  { cli: { positional: 'cache' } },
);

export const evaluateJob = defineJob(
  'evaluate',
  'evaluate',
  "accuracy on the reasoning and memorization subsets, with or without an intervention (the seed's second command); writes a run file",
  {
    ...modelFields,
    ...evalFields,
    withIntervention: z.boolean().default(false).describe('edit the model along the direction (seed flag)'),
    layerIndices: z.array(z.number().int().min(0)).min(1).describe('blocks to edit, each with its own direction (seed flag)').optional(),
    withPreHook: z.boolean().default(false).describe('edit the input of each block (blocks.L.hook_resid_pre)'),
    withPostHook: z.boolean().default(false).describe('edit the output of each block (blocks.L.hook_resid_post; the default)'),
    scale: z.number().default(0.1).describe('x ← x + scale·(x·d̂)·d̂'),
    alpha: z.number().default(0).describe('additive steering x ← x + alpha·d̂'),
    directionLayer: z.number().int().min(0).describe("paper-code mode: this block's direction at every edited block").optional(),
    withBaseline: z.boolean().default(false).describe('also run the no-intervention baseline, in the same run file'),
    ...steerFields,
  },
  evalResultSchema,
  {
    cli: { flags: { mmluPro3000samplesDataFilePath: 'mmlu_pro_3000samples_data_file_path' } },
    refine: (p, ctx) => {
      checkModelChoice(p, ctx);
      checkTestData(p, ctx);
      checkSteerSource(p, ctx);
      if (p.withPreHook && p.withPostHook) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['withPreHook'], message: 'conflicts with --with_post_hook: an evaluation edits one of them (a sweep can take both)', params: { conflict: 'withPostHook' } });
      }
    },
  },
);

export const sweepJob = defineJob(
  'sweep',
  'sweep',
  'layers × scales (× alphas × directions) with the baseline and random-direction controls, in one process and one run file',
  {
    ...modelFields,
    ...evalFields,
    layerIndices: z.array(z.number().int().min(0)).min(1).describe('blocks swept, one at a time (default: every block)').optional(),
    withPreHook: z.boolean().default(false).describe('sweep edits of block inputs (blocks.L.hook_resid_pre)'),
    withPostHook: z.boolean().default(false).describe('sweep edits of block outputs (the default; give both flags for both)'),
    scales: z.array(z.number()).min(1).default([0.1]).describe('scales swept'),
    alphas: z.array(z.number()).min(1).default([0]).describe('additive coefficients swept'),
    directionLayer: z.number().int().min(0).describe("paper-code mode: this block's direction at every swept block").optional(),
    directionFiles: z.array(z.string().min(1)).min(1).describe('several directions files, each swept (instead of --direction_file / the cache)').optional(),
    randomControls: count(0, 'random unit directions per grid point').default(1),
    randomSeed: count(0, 'seed of the random directions').default(1234),
    ...sweepSteerFields,
  },
  evalResultSchema,
  {
    cli: { flags: { mmluPro3000samplesDataFilePath: 'mmlu_pro_3000samples_data_file_path' }, aliases: { scales: ['scale'], alphas: ['alpha'], steerStrengths: ['steer_strength'] } },
    refine: (p, ctx) => {
      checkModelChoice(p, ctx);
      checkTestData(p, ctx);
      checkSteerSource(p, ctx);
      if (p.directionFiles && p.directionFile !== undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['directionFiles'], message: 'conflicts with --direction_file: list every file under --direction_files', params: { conflict: 'directionFile' } });
      }
    },
  },
);

export const demoJob = defineJob(
  'demo',
  'demo',
  "the whole pipeline on the built-in model organism and its questions: cache → directions → sweep with random controls, and what it found",
  {
    modelsPath: path('folder the demo model is written into (as demo/)').default(WORKSPACE_DEFAULTS.modelsPath),
    datasetsPath: path('folder the demo dataset is written into').default(WORKSPACE_DEFAULTS.datasetsPath),
    outputPath: path('output folder (hidden_states/ and runs/ inside)').default(WORKSPACE_DEFAULTS.outputPath),
    provider: modelFields.provider,
    threads: modelFields.threads,
  },
  z.object({
    modelDir: z.string(),
    dataFile: z.string(),
    cacheFile: z.string(),
    directionsFile: z.string(),
    statsFile: z.string(),
    runFile: z.string(),
    /** The sweep's seed-style lines. */
    lines: z.array(z.string()),
    /** What the demo found, in a few plain-language lines (the best-separating block, the largest specific effect). */
    findings: z.array(z.string()),
  }),
);

export const generateJob = defineJob(
  'generate',
  'generate',
  'greedy generation from a prompt',
  {
    ...modelFields,
    prompt: z.string().default('').describe('prompt text (empty: generate from BOS alone)'),
    promptFile: path('read the prompt from this UTF-8 file instead (- : standard input, CLI only), for prompts too long for a command line').optional(),
    maxNewTokens: count(0, 'tokens to generate at most').default(64),
    stop: z.array(z.string()).min(1).describe("stop strings (default: the tokenizer's end-of-turn strings)").optional(),
    noBos: z.boolean().default(false).describe('do not prepend BOS to the prompt'),
    ...steerFields,
  },
  z.object({
    /** Prompt and generated ids. */
    ids: z.array(z.number().int()),
    /** The generated text (cut before a stop string). */
    text: z.string(),
    stopReason: z.enum(['eos', 'stop-string', 'max-new-tokens', 'context-full']),
    promptTokens: z.number().int(),
    newTokens: z.number().int(),
    steering: appliedSteeringSchema.optional(),
  }),
  {
    refine: (p, ctx) => {
      checkModelChoice(p, ctx);
      checkSteerSource(p, ctx);
      if (p.promptFile !== undefined && p.prompt !== '') {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['promptFile'], message: 'conflicts with --prompt: give the prompt once, as text or as a file', params: { conflict: 'prompt' } });
      }
    },
  },
);

export const infoJob = defineJob(
  'info',
  'info',
  'opens a model and describes it: architecture, blocks, hook points, d_model, vocabulary and execution provider',
  modelFields,
  modelInfoSchema,
  { refine: refineModel },
);

const checkComparisonSchema = z.object({
  /** What was checked against what, e.g. `fp32 graph` vs `reference forward`. */
  subject: z.string(),
  baseline: z.string(),
  thresholds: z.object({ maxRelativeHookDiff: z.number().optional(), minTop1Agreement: z.number(), maxMeanKl: z.number() }),
  blocks: z.array(z.object({ block: z.number().int(), label: z.string(), maxRelativeDiff: z.number(), worstHook: z.string() })),
  nextToken: z.object({ positions: z.number().int(), top1Agreement: z.number(), ties: z.number().int(), meanKl: z.number(), maxKl: z.number() }),
  /** Where a non-finite value first appeared, when one did. */
  nonFinite: z.string().optional(),
  verdict: z.enum(['pass', 'fail']),
  reasons: z.array(z.string()),
});

export const checkModelJob = defineJob(
  'check-model',
  'checkModel',
  "checks a checkpoint's graph: fixed prompts through it and through an independent plain-TypeScript forward pass (and, for other precisions, the fp32 graph); per block the largest hook difference, the next token's top-1 agreement and mean KL, with a verdict (exit 1 on fail)",
  {
    ...modelFields,
    maxTokens: count(1, 'tokens per prompt at most (the reference forward is slow on big models)').default(32),
  },
  z.object({
    model: z.object({
      path: z.string(), format: z.string(), modelType: z.string(), contentHash: z.string(), nBlocks: z.number().int(),
      options: z.record(z.unknown()), weights: z.enum(WEIGHT_PRECISIONS), provider: z.string(), providerNote: z.string().optional(),
    }),
    prompts: z.array(z.object({ text: z.string(), tokens: z.number().int() })),
    comparisons: z.array(checkComparisonSchema),
    verdict: z.enum(['pass', 'fail']),
    seconds: z.number(),
    /** The report as Markdown (what the CLI prints and the editor opens). */
    markdown: z.string(),
  }),
  { refine: refineModel },
);

export const inspectCacheJob = defineJob(
  'inspect-cache',
  'inspectCache',
  'lists hidden-state caches under a folder (or one file): hook points, rows, provenance, partial ones',
  { target: path('a cache file or a folder searched recursively').default(`${WORKSPACE_DEFAULTS.outputPath}/${OUTPUT_SUBFOLDERS.cache}`) },
  z.object({ caches: z.array(cacheEntrySchema) }),
  { cli: { positional: 'target' } },
);

export const mergeJob = defineJob(
  'merge',
  'merge',
  'assembles the parts of a sharded save-hidden-states, evaluate or sweep (--shard i/N) into the file one unsharded run writes, after checking that they belong together',
  {
    parts: z.array(path('a part file (part-<i>-of-<N>.safetensors or .json) or a folder of parts')).min(1).describe('the part files (or their folder): every part of one sharded job, each exactly once'),
    out: path('the merged file (default: the output the parts were run for, which they record)').optional(),
  },
  z.object({
    kind: z.enum(['cache', 'run']),
    out: z.string(),
    parts: z.number().int(),
    /** The merged file was already there, with the same contents' identity: nothing was written. */
    alreadyMerged: z.boolean(),
    /** Rows of a cache, items of a run (over every intervention). */
    units: z.number().int(),
    /** A run's seed lines (`Layer [66] - Reasoning Subset Accuracy: …`), from the merged results. */
    lines: z.array(z.string()),
  }),
  { cli: { positional: 'parts' } },
);

/** The jobs that take --shard (and that slurm-script can run as an array). */
export const SHARDABLE_JOBS = ['save-hidden-states', 'evaluate', 'sweep'] as const;
export type ShardableJob = (typeof SHARDABLE_JOBS)[number];

export const slurmScriptJob = defineJob(
  'slurm-script',
  'slurmScript',
  'prints a Slurm batch script that runs a job as an array of --shards parts (sbatch --array=0-(N-1)) followed by a dependent merge',
  {
    command: z.enum(SHARDABLE_JOBS).describe('the job to shard'),
    args: z.array(z.string()).default([]).describe("the job's own flags, exactly as for `layerlab <command>` (checked now, so that a typo fails here and not on the cluster)"),
    shards: count(1, 'parts (array tasks)').max(MAX_SHARDS),
    gpusPerTask: count(0, 'GPUs per array task (#SBATCH --gpus-per-task; 0: none)').default(0),
    cpusPerTask: count(1, 'CPU cores per array task (#SBATCH --cpus-per-task; default: the cluster\'s)').optional(),
    mem: z.string().min(1).describe('memory per array task, e.g. 32G (#SBATCH --mem)').optional(),
    time: z.string().min(1).describe('time limit per array task, e.g. 04:00:00 (#SBATCH --time)').optional(),
    partition: z.string().min(1).describe('Slurm partition (#SBATCH --partition)').optional(),
    account: z.string().min(1).describe('Slurm account (#SBATCH --account)').optional(),
    jobName: z.string().min(1).describe('Slurm job name (default: layerlab-<command>)').optional(),
    layerlab: z.string().min(1).default('layerlab').describe('the command that runs LayerLab on the nodes, e.g. "npx layerlab" or "node /opt/layerlab/dist/cli.js"'),
    workdir: path('folder the tasks run in, where relative paths resolve (default: the current folder)').optional(),
  },
  z.object({
    /** The batch script. */
    script: z.string(),
    /** Where the parts are written (absolute). */
    partsDir: z.string(),
    /** Each array task's command, with $SLURM_ARRAY_TASK_ID in it. */
    shardCommand: z.string(),
    /** The dependent merge step's command. */
    mergeCommand: z.string(),
  }),
  { cli: { positional: 'command', rest: 'args' } },
);

export const traceJob = defineJob(
  'trace',
  'trace',
  'run prompts and keep every hook point\'s values, the token ids, strings and offsets, and optionally logits / top-k, in one safetensors file',
  {
    ...modelFields,
    ...promptFields,
    dataFile: path('prompts from a dataset: .txt (one per line), {"text": …} JSON/JSONL, or any dataset LayerLab reads').optional(),
    template: z.string().min(1).describe('prompt template for --data_file records (default: the text itself for plain-text data, else as save-hidden-states: seed-chat or bare)').optional(),
    kind: z.string().min(1).describe('dataset schema of --data_file (default: detected from the fields)').optional(),
    encoding: encodingField,
    hooks: z.array(z.string().min(1)).min(1).default(['all']).describe('hook points: names like blocks.3.hook_resid_post, or post, pre, all'),
    positions: z.enum(['last', 'mean', 'all']).default('all').describe('all (one row per token), last (the last token) or mean (over the prompt)'),
    logits: z.enum(LOGIT_CHOICES).default('none').describe('also keep the logits: none, last (the next-token logits of each prompt) or all (every position)'),
    topK: count(0, 'with --logits: also keep the top-k next tokens and their log-probabilities per logits row').default(0),
    batchSize: count(1, 'prompts per forward pass').default(4),
    out: path('the trace file (.safetensors)'),
    ...steerFields,
  },
  traceResultSchema,
  {
    refine: (p, ctx) => {
      checkModelChoice(p, ctx);
      checkOnePrompt(p, ctx, true);
      checkSteerSource(p, ctx);
    },
  },
);

// ---------------------------------------------------------------------------------------------
// Reasoning behaviours of thinking models (the seed's postponed plan; formats in ./thinking.ts)

const thinkingOut = `${WORKSPACE_DEFAULTS.outputPath}/${OUTPUT_SUBFOLDERS.thinking}`;
const chainTemplateField = z.enum(['auto', 'chat', 'plain']).default('auto').describe("auto (the model's chat template when it has one, else plain), chat (one user turn, generation prompt appended: a thinking model's template opens <think> there) or plain (the task text after BOS)");
const behavioursField = z.array(z.string().min(1)).min(1).describe(`behaviours to use (default: all that have spans): ${BEHAVIOURS.join(', ')}`).optional();

/** Which annotator turns chains into spans, and how it reaches its model (annotate, steer-eval). */
const annotatorFields = {
  annotator: z.enum(ANNOTATORS).default('rules').describe('import (spans from a JSONL file of any tool), rules (documented phrase rules) or model (a chat model with the paper\'s category definitions)'),
  importFile: path('--annotator import: the JSONL of spans {chain, start, end, category}, offsets in code points').optional(),
  annotatorModel: path('--annotator model: a model LayerLab runs itself (Hugging Face folder or llama2.c .bin)').optional(),
  endpoint: z.string().min(1).describe('--annotator model: an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (never contacted unless given)').optional(),
  endpointModel: z.string().min(1).default('default').describe('--endpoint: the model name sent with each request'),
  apiKeyEnv: z.string().min(1).describe('--endpoint: the environment variable holding the API key (sent as a bearer token; default: none)').optional(),
  endpointTimeout: z.number().positive().default(300).describe('--endpoint: seconds to wait for one reply'),
  annotatorMaxTokens: count(1, '--annotator model: tokens per reply at most').default(1024),
  annotatorChunkSentences: count(0, '--annotator model: sentences per request (0: the whole chain, as the paper; more requests fit a short context)').default(0),
};

function checkAnnotator(p: { annotator: string; importFile?: string; annotatorModel?: string; endpoint?: string; apiKeyEnv?: string }, ctx: z.RefinementCtx, allowImport: boolean): void {
  const issue = (key: string, message: string, conflict?: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message, ...(conflict ? { params: { conflict } } : {}) });
  if (p.annotator === 'import' && !allowImport) issue('annotator', 'import cannot re-annotate new generations: use rules or model');
  if (p.annotator === 'import' && allowImport && p.importFile === undefined) issue('importFile', 'is required with --annotator import');
  if (p.annotator !== 'import' && p.importFile !== undefined) issue('importFile', 'is only for --annotator import');
  if (p.annotator === 'model') {
    if (p.annotatorModel === undefined && p.endpoint === undefined) issue('annotatorModel', 'or --endpoint is required with --annotator model');
    if (p.annotatorModel !== undefined && p.endpoint !== undefined) issue('annotatorModel', 'conflicts with --endpoint: the annotating model is one or the other', 'endpoint');
  } else {
    if (p.annotatorModel !== undefined) issue('annotatorModel', 'is only for --annotator model');
    if (p.endpoint !== undefined) issue('endpoint', 'is only for --annotator model');
  }
  if (p.apiKeyEnv !== undefined && p.endpoint === undefined) issue('apiKeyEnv', 'is only for --endpoint');
}

function checkBehaviours(p: { categories?: string[] }, ctx: z.RefinementCtx): void {
  for (const c of p.categories ?? []) {
    if (!canonicalBehaviour(c)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['categories'], message: `'${c}' is not a behaviour (${BEHAVIOURS.join(', ')})` });
  }
}

export const generateChainsJob = defineJob(
  'generate-chains',
  'generateChains',
  "greedy reasoning chains over a task set (chat template, thinking tags kept), stored with token ids and character offsets",
  {
    ...modelFields,
    tasks: path('task set: JSON array or JSONL of {id, category, prompt}'),
    sampleSize: count(1, 'generate for a seeded sample of this many tasks (default: all)').optional(),
    seed: count(0, 'sampling seed').default(0),
    template: chainTemplateField,
    maxNewTokens: count(1, 'tokens per chain at most (the paper: 500)').default(500),
    stop: z.array(z.string()).min(1).describe("stop strings added to the tokenizer's end-of-turn strings").optional(),
    batchSize: count(1, 'chains per batch').default(1),
    out: path('the chains file (<name>.chains.jsonl; provenance beside it as <name>.chains.json)').optional(),
    outputPath: path('folder for the chains file when --out is not given (<dir>/<model>/<tasks>.chains.jsonl)').default(thinkingOut),
  },
  z.object({
    chainsFile: z.string(),
    provenanceFile: z.string(),
    chains: z.number().int(),
    tokens: z.number().int(),
    template: z.enum(['chat', 'plain']),
    stopReasons: z.record(z.number().int()),
  }),
  { refine: refineModel },
);

export const annotateJob = defineJob(
  'annotate',
  'annotate',
  'behaviour spans of chains: imported, from phrase rules, or from a chat model (LayerLab\'s own or an OpenAI-compatible endpoint)',
  {
    chains: path('the chains file (<name>.chains.jsonl)'),
    ...annotatorFields,
    provider: modelFields.provider,
    threads: modelFields.threads,
    out: path('the annotations file (default <name>.annotations.<annotator>.jsonl beside the chains)').optional(),
  },
  z.object({
    annotationsFile: z.string(),
    spans: z.number().int(),
    byCategory: z.record(z.number().int()),
    chains: z.number().int(),
    chainsWithSpans: z.number().int(),
    warnings: z.array(z.string()),
  }),
  { cli: { positional: 'chains' }, refine: (p, ctx) => checkAnnotator(p, ctx, true) },
);

export const behaviourVectorsJob = defineJob(
  'behaviour-vectors',
  'behaviourVectors',
  'candidate steering vectors per layer and behaviour: mean activation over annotated spans minus the mean over all chains',
  {
    ...modelFields,
    annotations: path('the annotations file (annotate)'),
    chains: path('the chains file (default: the one the annotations header names)').optional(),
    hooks: z.array(z.string().min(1)).min(1).describe('hook points: names, or post (every block output, the default), pre, all').optional(),
    out: path('the vectors file (default <annotations>.vectors.safetensors; statistics beside it as .vectors.json)').optional(),
  },
  z.object({
    vectorsFile: z.string(),
    statsFile: z.string(),
    hooks: z.number().int(),
    categories: z.array(z.object({ category: z.string(), chains: z.number().int(), spans: z.number().int(), tokens: z.number().int() })),
    missing: z.array(z.string()),
  }),
  { cli: { positional: 'annotations' }, refine: refineModel },
);

export const layerEffectsJob = defineJob(
  'layer-effects',
  'layerEffects',
  'per layer and behaviour, the effect of adding the vector before annotated spans: exact activation patching next to a finite-difference estimate',
  {
    ...modelFields,
    vectors: path('the vectors file (behaviour-vectors)'),
    categories: behavioursField,
    metric: z.enum(EFFECT_METRICS).default('kl').describe('kl (KL of the next-token distribution, the paper\'s) or logprob (change of the log-probability of the token that follows)'),
    coefficient: z.number().default(1).describe('the exact patch adds coefficient·u'),
    fdStep: z.number().positive().default(0.05).describe('the finite-difference step h: the estimate probes ±h·u'),
    select: count(1, 'layers selected per behaviour (largest exact mean |effect|)').default(1),
    batchRows: count(1, 'positions per batched pass at most (1: one at a time)').default(64),
    batchMb: count(1, 'MB of batched KV cache per pass at most').default(256),
    out: path('the effects file (default <annotations>.effects.json)').optional(),
  },
  z.object({
    effectsFile: z.string(),
    categories: z.array(z.object({ category: z.string(), positions: z.number().int(), selected: z.array(z.string()), spearman: z.number().nullable() })),
    passes: z.number().int(),
    patchesPerSecond: z.number(),
    lines: z.array(z.string()),
  }),
  { cli: { positional: 'vectors' }, refine: (p, ctx) => (checkModelChoice(p, ctx), checkBehaviours(p, ctx)) },
);

export const steerEvalJob = defineJob(
  'steer-eval',
  'steerEval',
  'generate held-out chains steered with ± each behaviour\'s vector (and random controls), re-annotate, and compare behaviour fractions with the baseline',
  {
    ...modelFields,
    vectors: path('the vectors file (behaviour-vectors)'),
    effects: path('the effects file whose selected layers to steer (default: beside the vectors)').optional(),
    layerIndices: z.array(z.number().int().min(0)).min(1).describe('steer these blocks instead of the selected ones (each gets coefficient / number of blocks)').optional(),
    categories: behavioursField,
    tasks: path("task set (default: the chains' own); tasks the chains were generated from are left out").optional(),
    heldOut: count(1, 'held-out tasks to steer (the paper: 30)').default(30),
    seed: count(0, 'seed of the held-out sample').default(0),
    coefficient: z.number().default(1).describe('x ← x ± coefficient/L · u at each of the L steered layers'),
    randomSeed: count(0, 'seed of the random-vector controls').default(1234),
    template: chainTemplateField,
    maxNewTokens: count(1, 'tokens per chain at most').default(500),
    batchSize: count(1, 'chains per batch').default(1),
    ...annotatorFields,
    out: path('the steering file (default <annotations>.steering.json)').optional(),
  },
  z.object({ steeringFile: z.string(), conditions: z.number().int(), tasks: z.number().int(), lines: z.array(z.string()) }),
  {
    cli: { positional: 'vectors' },
    refine: (p, ctx) => {
      checkModelChoice(p, ctx);
      checkBehaviours(p, ctx);
      checkAnnotator(p, ctx, false);
    },
  },
);

export const logitLensJob = defineJob(
  'logit-lens',
  'logitLens',
  "the model's final norm and unembedding applied to each hook point at each position of a prompt: the top tokens per layer (logit lens)",
  {
    ...modelFields,
    ...promptFields,
    hooks: z.array(z.string().min(1)).min(1).describe('rows of the grid (default: blocks.0.hook_resid_pre, the embeddings, then every block output)').optional(),
    topK: count(1, 'top tokens kept per cell').default(5),
    out: path('also write the grid as CSV (layer, position, token, rank, id, piece, probability)').optional(),
    ...steerFields,
  },
  logitLensResultSchema,
  {
    refine: (p, ctx) => {
      checkModelChoice(p, ctx);
      checkOnePrompt(p, ctx);
      checkSteerSource(p, ctx);
    },
  },
);

export const projectionJob = defineJob(
  'projection',
  'projection',
  'the projection x·d̂ of every token of a prompt onto a direction, at every layer (Show Projection)',
  {
    ...modelFields,
    ...promptFields,
    direction: path('the direction(s): a directions file (each hook its own), a safetensors, .npy or GGUF vector file'),
    directionTensor: z.string().min(1).describe('use this tensor of --direction at every hook').optional(),
    directionRow: count(0, 'row of a 2-D tensor of --direction').optional(),
    hooks: z.array(z.string().min(1)).min(1).default(['post']).describe('hook points projected: names, or post, pre, all'),
    out: path('also write the values as CSV (hook, position, id, piece, value)').optional(),
    ...steerFields,
  },
  projectionResultSchema,
  {
    refine: (p, ctx) => {
      checkModelChoice(p, ctx);
      checkOnePrompt(p, ctx);
      checkSteerSource(p, ctx);
    },
  },
);

export const steerCompareJob = defineJob(
  'steer-compare',
  'steerCompare',
  'greedy generation without and with steering, side by side: the text diff and the per-token KL between the two next-token distributions (Steer & Compare)',
  {
    ...modelFields,
    ...promptFields,
    maxNewTokens: count(0, 'tokens to generate at most, each side').default(40),
    stop: z.array(z.string()).min(1).describe("stop strings (default: the tokenizer's end-of-turn strings)").optional(),
    out: path('write the comparison as a run file (JSON) that --experiment runs again').optional(),
    experiment: path('run the comparison a run file (steer-compare --out) describes, again').optional(),
    ...steerFields,
  },
  steerCompareResultSchema,
  {
    refine: (p, ctx) => {
      if (p.experiment !== undefined) return;
      checkModelChoice(p, ctx);
      checkOnePrompt(p, ctx);
      checkSteerSource(p, ctx);
    },
  },
);

export const steerVectorJob = defineJob(
  'steer-vector',
  'steerVector',
  'write steering vectors as a llama.cpp/repeng GGUF control vector or a safetensors file (one tensor per layer), from any vector file or the contrast of two prompt sets',
  {
    ...modelFields,
    from: path('the vector file: a directions file, safetensors, .npy or GGUF control vector').optional(),
    tensor: z.string().min(1).describe('use this tensor of --from for every hook').optional(),
    row: count(0, 'row of a 2-D tensor of --from').optional(),
    positive: z.array(path('positive set')).min(1).describe('trace files or prompt files of the positive set (contrastive activation addition, measured on --model)').optional(),
    negative: z.array(path('negative set')).min(1).describe('the negative set of --positive').optional(),
    hooks: z.array(z.string().min(1)).min(1).describe('hook points written (default: every one the source has; GGUF: block outputs only)').optional(),
    out: path('the file written: .gguf (llama.cpp control vector: direction.<l> is added to the output of block l) or .safetensors (one tensor per hook point)'),
    modelHint: z.string().min(1).describe('GGUF controlvector.model_hint (default: the model type, or the source file\'s hint)').optional(),
  },
  steerVectorResultSchema,
  {
    refine: (p, ctx) => {
      if (p.model !== undefined && (p.modelsPath !== undefined || p.modelName !== undefined)) checkModelChoice(p, ctx);
      if (p.from !== undefined && p.positive !== undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['from'], message: 'conflicts with --positive: the vectors come from a file or from two contrast sets, not both', params: { conflict: 'positive' } });
      }
    },
  },

);

export const serveJob = defineJob(
  'serve',
  'serve',
  'serves a model behind the OpenAI chat-completions protocol (greedy) until cancelled, e.g. for --annotator model --endpoint',
  {
    ...modelFields,
    host: z.string().min(1).default('127.0.0.1').describe('address to listen on'),
    port: count(0, 'port (0: any free port; the URL is printed)').default(8000),
    maxTokens: count(1, 'tokens per reply when a request names no max_tokens').default(256),
  },
  z.object({ url: z.string(), served: z.number().int() }),
  { refine: refineModel },
);

export const llama2cToHfJob = defineJob(
  'llama2c-to-hf',
  'llama2cToHf',
  'writes a llama2.c checkpoint and tokenizer as a Hugging Face folder, optionally with a chat template that wraps the answer in <think>…</think>',
  {
    source: path('the llama2.c checkpoint (.bin; its tokenizer is found beside it)'),
    tokenizer: path('the llama2.c tokenizer (default: found beside the checkpoint)').optional(),
    out: path('the folder to write'),
    thinkTemplate: z.boolean().default(false).describe("add a chat template whose generation prompt opens <think> (a small stand-in for a thinking model)"),
    contextLength: count(1, "the context written into config.json (default: the checkpoint's seq_len; rotary positions past the trained length work, but the model never saw them)").optional(),
  },
  z.object({ dir: z.string(), chatTemplate: z.boolean(), vocabSize: z.number().int(), tensors: z.number().int() }),
  { cli: { positional: 'source' } },
);

/** Every job, by CLI name. Adding a job: define it above, add it here and in runtime/jobs/. */
export const JOBS = {
  'save-hidden-states': saveHiddenStatesJob,
  'compute-directions': computeDirectionsJob,
  evaluate: evaluateJob,
  sweep: sweepJob,
  demo: demoJob,
  generate: generateJob,
  info: infoJob,
  'check-model': checkModelJob,
  'inspect-cache': inspectCacheJob,
  merge: mergeJob,
  'slurm-script': slurmScriptJob,
  trace: traceJob,
  'logit-lens': logitLensJob,
  projection: projectionJob,
  'steer-compare': steerCompareJob,
  'steer-vector': steerVectorJob,
  'generate-chains': generateChainsJob,
  annotate: annotateJob,
  'behaviour-vectors': behaviourVectorsJob,
  'layer-effects': layerEffectsJob,
  'steer-eval': steerEvalJob,
  serve: serveJob,
  'llama2c-to-hf': llama2cToHfJob,
} as const;

export type Jobs = typeof JOBS;
export type JobName = keyof Jobs;
export const JOB_NAMES = Object.keys(JOBS) as JobName[];
/** What a caller sends: defaults may be left out. */
export type JobParamsIn<N extends JobName> = z.input<Jobs[N]['params']>;
/** What a handler receives: checked, with every default filled in. */
export type JobParams<N extends JobName> = z.output<Jobs[N]['params']>;
export type JobResult<N extends JobName> = z.output<Jobs[N]['result']>;

export function isJobName(s: string): s is JobName {
  return Object.prototype.hasOwnProperty.call(JOBS, s);
}

/** `--flag` for a parameter key (the seed's snake_case, or the job's own spelling). */
export function flagOfKey(key: string, cli: JobCli = {}): string {
  return `--${cli.flags?.[key] ?? snakeCase(key)}`;
}

export function snakeCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

// ---------------------------------------------------------------------------------------------
// Progress

/** LSP's `WorkDoneProgressParams`: the client names a token, the server reports progress on it. */
export interface WorkDoneParams {
  workDoneToken?: string | number;
}

/**
 * A job's progress on its work-done token. `done` never decreases within a job. `rate` and
 * `etaSeconds` are measured by the runtime (items per second since the job's first report).
 */
export interface JobProgress {
  done: number;
  total: number;
  /** What the job is on, e.g. `post@12 scale=0.1, math` or `caching hidden states`. */
  message?: string;
  /** Units of `done` per second, once measurable. */
  rate?: number;
  etaSeconds?: number;
}

export const JobProgressType = new ProgressType<JobProgress>();

/** `12/40 (30%), 3.1/s, ETA 9 s, post@3 scale=0.1` — the CLI's line and the editor's message. */
export function describeProgress(p: JobProgress): string {
  const pct = p.total ? Math.floor((100 * p.done) / p.total) : 100;
  const parts = [`${p.done}/${p.total} (${pct}%)`];
  if (p.rate !== undefined) parts.push(`${p.rate >= 10 ? p.rate.toFixed(0) : p.rate.toFixed(1)}/s`);
  if (p.etaSeconds !== undefined) parts.push(`ETA ${formatSeconds(p.etaSeconds)}`);
  if (p.message) parts.push(p.message);
  return parts.join(', ');
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
