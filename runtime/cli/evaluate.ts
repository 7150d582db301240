/**
 * `layerlab evaluate`: the seed's second command (accuracy on the reasoning and memorization
 * subsets, with or without an intervention along the direction), writing a run file. The flag
 * parsing lives here; the work is runtime/evaluate's runEvaluation, which the runtime server's
 * job calls with the same options (`evaluateOptionsFrom`).
 */
import { runEvaluation, type CommonEvalOptions, type EvaluateOptions } from '../evaluate';
import { parseCommandArgs, UsageError, type OptionSpec } from './args';
import type { Command, CommandIO } from './command';
import { MODEL_OPTIONS, openModelFrom } from './modelArgs';
import { progressPrinter } from './progress';

/** Flags shared by evaluate and sweep (besides the model's). */
export const COMMON_EVAL_OPTIONS: OptionSpec = {
  hidden_states_cache_path: { type: 'string', help: "the seed's cache folder (<dir>/<model_name>/<data_name>.safetensors) or a cache file; directions are read from (or computed beside) it" },
  mmlu_pro_3000samples_data_file_path: { type: 'string', help: "the labelled file the cache was saved from (seed flag): names the cache; test data when none other is given" },
  test_data_path: { type: 'string', help: 'folder of test data (seed flag; the file is <dir>/<test_data_name>.json), or the test data file' },
  test_data_name: { type: 'string', help: 'test data key (seed flag); also the data name of the run' },
  data_file: { type: 'string', help: 'the test data file (JSON, JSONL, parquet), or "demo" for the built-in demo dataset' },
  kind: { type: 'string', help: 'dataset schema (default: detected from the fields)' },
  label_rule: { type: 'string', help: 'e.g. "score>0.5" or "label:Reasoning=reasoning,Memorization=memorization" (default per schema)' },
  data_split: { type: 'string', help: 'named split of a JSON file with several (e.g. PopQA dev/test)' },
  direction_file: { type: 'string', help: 'a directions file (compute-directions); wins over the cache' },
  directions_holdout: { type: 'string', help: 'held-out fraction when directions must be computed from the cache (default 0.2)' },
  split: { type: 'string', help: 'holdout (default: evaluate only records the directions were not computed from) or overlap (the seed)' },
  sample_size: { type: 'string', help: 'records to evaluate, drawn with --seed (default 200)' },
  seed: { type: 'string', help: 'sampling seed (default 0)' },
  with_fewshot_prompts: { type: 'boolean', help: 'MMLU-Pro 5-shot by category (needs --fewshot_file, except for the demo data), GSM8K 8-shot' },
  with_cot: { type: 'boolean', help: 'chain-of-thought few-shot examples and "Let\'s think step by step." (with --with_fewshot_prompts)' },
  fewshot_file: { type: 'string', help: "MMLU-Pro's validation split (JSON/JSONL/parquet), source of the 5-shot examples" },
  shots: { type: 'string', help: 'MMLU-Pro few-shot examples per category (default 5, as the seed)' },
  template: { type: 'string', help: 'auto (default: seed-chat with a chat template, else plain), seed-chat, plain, bare, or a text with {question} {options}' },
  system: { type: 'string', help: 'system prompt of the seed-chat template (default "You are a helpful assistant.")' },
  scoring: { type: 'string', help: 'generate (default: greedy generation + the seed\'s regex) or loglik (highest log-probability option letter)' },
  batch_size: { type: 'string', help: 'prompts per batch (default 1)' },
  max_new_tokens: { type: 'string', help: 'generated tokens at most (default 200)' },
  stop: { type: 'string', multiple: true, help: 'stop strings added to the tokenizer\'s (default with few-shot prompts: "\\n\\nQ:")' },
  lenient: { type: 'boolean', help: 'lenient answer pattern ("Answer is B", "answer is: C") instead of the seed\'s regex' },
  no_prefix_reuse: { type: 'boolean', help: "recompute every prompt in full instead of reusing each category's few-shot prefix KV (for comparison)" },
  out: { type: 'string', help: 'the run file (JSON)' },
  output_path: { type: 'string', help: 'folder for the run file when --out is not given (<dir>/<model_name>/<data>.<command>.<hash>.json)' },
  checkpoint_seconds: { type: 'string', help: 'seconds between partial run-file writes (default 30)' },
};

const OPTIONS: OptionSpec = {
  ...MODEL_OPTIONS,
  ...COMMON_EVAL_OPTIONS,
  with_intervention: { type: 'boolean', help: 'edit the model along the direction (seed flag)' },
  layer_indices: { type: 'string', multiple: true, help: 'blocks to edit, each with its own direction (seed flag)' },
  with_pre_hook: { type: 'boolean', help: 'edit the input of each block (blocks.L.hook_resid_pre)' },
  with_post_hook: { type: 'boolean', help: 'edit the output of each block (blocks.L.hook_resid_post; the default)' },
  scale: { type: 'string', help: 'x ← x + scale·(x·d̂)·d̂ (default 0.1)' },
  alpha: { type: 'string', help: 'additive steering x ← x + alpha·d̂ (default 0)' },
  direction_layer: { type: 'string', help: "paper-code mode: this block's direction at every edited block" },
  with_baseline: { type: 'boolean', help: 'also run the no-intervention baseline, in the same run file' },
};

/**
 * argparse reads `--scale -0.5` and `--scales -8 8` as numbers; node's parseArgs calls a value
 * starting with "-" ambiguous. Values of the given flags are rewritten as `--flag=value` first.
 */
export function attachNegativeValues(argv: string[], flags: OptionSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2).replace(/-/g, '_') : undefined;
    const f = name !== undefined ? flags[name] : undefined;
    if (!f || f.type !== 'string') {
      out.push(a);
      continue;
    }
    const values: string[] = [];
    while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--') && (values.length === 0 || f.multiple)) values.push(argv[++i]!);
    if (values.length === 0) out.push(a);
    for (const v of values) out.push(`--${name}=${v}`);
  }
  return out;
}

function num(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${raw}'`);
  return n;
}

function int(values: Record<string, unknown>, name: string, min = 0): number | undefined {
  const n = num(values, name);
  if (n !== undefined && (!Number.isInteger(n) || n < min)) throw new UsageError(`--${name} must be an integer >= ${min}, got '${values[name]}'`);
  return n;
}

/** A multiple flag's values; "1,2 3" and "1 2 3" both work. */
export function numList(values: Record<string, unknown>, name: string, integer = false): number[] | undefined {
  const raw = values[name] as string[] | undefined;
  if (raw === undefined) return undefined;
  return raw.flatMap((r) => r.split(',')).filter((s) => s.trim() !== '').map((s) => {
    const n = Number(s);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new UsageError(`--${name} takes ${integer ? 'integers' : 'numbers'}, got '${s}'`);
    return n;
  });
}

function oneOf<T extends string>(values: Record<string, unknown>, name: string, allowed: readonly T[]): T | undefined {
  const v = values[name] as string | undefined;
  if (v !== undefined && !allowed.includes(v as T)) throw new UsageError(`--${name} must be ${allowed.join(' or ')}, got '${v}'`);
  return v as T | undefined;
}

export function commonOptionsFrom(values: Record<string, unknown>, argv: string[]): CommonEvalOptions {
  const o: CommonEvalOptions = {
    model: values.model as string | undefined,
    modelsPath: values.models_path as string | undefined,
    modelName: values.model_name as string | undefined,
    dataFile: values.data_file as string | undefined,
    testDataPath: values.test_data_path as string | undefined,
    testDataName: values.test_data_name as string | undefined,
    mmluPro3000samplesDataFilePath: values.mmlu_pro_3000samples_data_file_path as string | undefined,
    kind: values.kind as string | undefined,
    labelRule: values.label_rule as string | undefined,
    dataSplit: values.data_split as string | undefined,
    hiddenStatesCachePath: values.hidden_states_cache_path as string | undefined,
    directionFile: values.direction_file as string | undefined,
    directionsHoldout: num(values, 'directions_holdout'),
    split: oneOf(values, 'split', ['overlap', 'holdout'] as const),
    sampleSize: int(values, 'sample_size', 1),
    seed: int(values, 'seed'),
    withFewshotPrompts: values.with_fewshot_prompts === true,
    withCot: values.with_cot === true,
    fewshotFile: values.fewshot_file as string | undefined,
    shots: int(values, 'shots', 1),
    template: values.template as string | undefined,
    system: values.system as string | undefined,
    scoring: oneOf(values, 'scoring', ['generate', 'loglik'] as const),
    batchSize: int(values, 'batch_size', 1),
    maxNewTokens: int(values, 'max_new_tokens', 1),
    stop: values.stop as string[] | undefined,
    lenient: values.lenient === true,
    prefixReuse: values.no_prefix_reuse !== true,
    out: values.out as string | undefined,
    outputPath: values.output_path as string | undefined,
    checkpointSeconds: num(values, 'checkpoint_seconds'),
    argv,
  };
  // Absent flags stay absent, so the engine's defaults apply and the spec shows what was given.
  for (const k of Object.keys(o) as (keyof CommonEvalOptions)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/** Parses evaluate's argv into the engine's options (the runtime server's job uses this too). */
export function evaluateOptionsFrom(argv: string[]): { values: Record<string, unknown>; options: EvaluateOptions } {
  const { values } = parseCommandArgs(attachNegativeValues(argv, OPTIONS), OPTIONS);
  const options: EvaluateOptions = {
    ...commonOptionsFrom(values, argv),
    withIntervention: values.with_intervention === true,
    withPreHook: values.with_pre_hook === true,
    withPostHook: values.with_post_hook === true,
    withBaseline: values.with_baseline === true,
  };
  const layers = numList(values, 'layer_indices', true);
  if (layers) options.layerIndices = layers;
  const scale = num(values, 'scale');
  if (scale !== undefined) options.scale = scale;
  const alpha = num(values, 'alpha');
  if (alpha !== undefined) options.alpha = alpha;
  const dl = int(values, 'direction_layer');
  if (dl !== undefined) options.directionLayer = dl;
  return { values, options };
}

/** Opens the model the flags name, runs `run` with it, and releases it. */
export async function withModel<T>(values: Record<string, unknown>, io: CommandIO, run: (opened: Awaited<ReturnType<typeof openModelFrom>>) => Promise<T>): Promise<T> {
  const opened = await openModelFrom(values, io.log);
  try {
    return await run(opened);
  } finally {
    await opened.model.release();
  }
}

export const evaluateCommand: Command = {
  name: 'evaluate',
  summary: "accuracy on the reasoning and memorization subsets, with or without an intervention (the seed's second command); writes a run file",
  options: OPTIONS,
  async run(argv, io, signal) {
    const { values, options } = evaluateOptionsFrom(argv);
    const outcome = await withModel(values, io, (opened) =>
      runEvaluation(options, {
        model: opened.model,
        tokenizer: opened.tokenizer,
        signal,
        onProgress: progressPrinter('evaluate', io.log),
        log: io.log,
        out: io.out,
      }),
    );
    return { files: [outcome.file] };
  },
};
