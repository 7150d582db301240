/**
 * What an evaluation or a sweep is asked to do: the argv-equivalent options the CLI parses and
 * the runtime server passes in. Plain data (camelCase names of the CLI's snake_case flags), so a
 * palette run, a CLI run and a test all describe the same experiment the same way.
 */

export type Scoring = 'generate' | 'loglik';
export type SplitMode = 'overlap' | 'holdout';
export type HookChoice = 'pre' | 'post';

/** Options shared by `evaluate` and `sweep`. */
export interface CommonEvalOptions {
  // --- model (for paths and the record; the engine receives the opened model itself)
  /** `--model`: a Hugging Face folder or llama2.c file. */
  model?: string;
  /** The seed's `--models_path DIR --model_name NAME`. */
  modelsPath?: string;
  modelName?: string;

  // --- data
  /** `--data_file`: the test data file, or `demo` for the built-in demo dataset. */
  dataFile?: string;
  /** The seed's `--test_data_path DIR --test_data_name KEY` (file `DIR/KEY.json`); a file path is accepted too. */
  testDataPath?: string;
  testDataName?: string;
  /** The seed's `--mmlu_pro_3000samples_data_file_path`: the labelled file the cache was saved from. */
  mmluPro3000samplesDataFilePath?: string;
  /** Dataset schema when detection from the field names would guess wrong (`--kind`). */
  kind?: string;
  /** `--label_rule`, e.g. `score>0.5`; default per dataset kind. */
  labelRule?: string;
  /** The named split of a JSON object file (PopQA's `dev`/`test`): `--data_split`. */
  dataSplit?: string;

  // --- directions
  /** The seed's `--hidden_states_cache_path`: a folder (`<dir>/<model_name>/<data_name>.safetensors`) or the cache file. */
  hiddenStatesCachePath?: string;
  /** `--direction_file`: a LayerLab directions file; wins over the cache. */
  directionFile?: string;
  /** Held-out fraction when directions have to be computed from the cache (`--directions_holdout`). */
  directionsHoldout?: number;

  // --- which records
  split?: SplitMode;
  sampleSize?: number;
  seed?: number;

  // --- prompts
  withFewshotPrompts?: boolean;
  withCot?: boolean;
  /** MMLU-Pro validation split (JSON/JSONL/parquet) for the 5-shot examples. */
  fewshotFile?: string;
  /** MMLU-Pro examples per category (default 5, the seed's; fewer fit small contexts). */
  shots?: number;
  /** `auto` (default), `seed-chat`, `plain`, `bare`, or a template text with {question}/{options}. */
  template?: string;
  /** System prompt of the seed-chat template. */
  system?: string;

  // --- generation and scoring
  scoring?: Scoring;
  batchSize?: number;
  maxNewTokens?: number;
  /** Extra stop strings, replacing the default "\n\nQ:" of few-shot prompts. */
  stop?: string[];
  /** Use the lenient answer pattern instead of the seed's regex. */
  lenient?: boolean;
  /** Reuse the KV cache of each category's few-shot prefix (default true). */
  prefixReuse?: boolean;

  // --- output
  /** `--out FILE.json`. */
  out?: string;
  /** `--output_path DIR`: the run goes to `DIR/<model_name>/<data_name>.<command>.<hash>.json`. */
  outputPath?: string;
  /** Seconds between partial run-file writes (default 30). */
  checkpointSeconds?: number;
  /** The argv as given, recorded in the run file. */
  argv?: string[];
}

export interface EvaluateOptions extends CommonEvalOptions {
  withIntervention?: boolean;
  layerIndices?: number[];
  withPreHook?: boolean;
  withPostHook?: boolean;
  scale?: number;
  alpha?: number;
  /** Paper-code mode: this block's direction at every edited block. */
  directionLayer?: number;
  /** Also run the no-intervention baseline in the same run file. */
  withBaseline?: boolean;
}

export interface SweepOptions extends CommonEvalOptions {
  /** Blocks to sweep, one at a time (default: every block). */
  layerIndices?: number[];
  withPreHook?: boolean;
  withPostHook?: boolean;
  /** Scales swept (default [0.1]). */
  scales?: number[];
  /** Additive coefficients swept (default [0]). */
  alphas?: number[];
  directionLayer?: number;
  /** Several directions files (each swept); default the one --direction_file / the cache gives. */
  directionFiles?: string[];
  /** Random-direction controls per grid point (default 1). */
  randomControls?: number;
  /** Seed of the random unit directions (default 1234). */
  randomSeed?: number;
}

export const EVAL_DEFAULTS = Object.freeze({
  split: 'holdout' as SplitMode,
  sampleSize: 200,
  seed: 0,
  scoring: 'generate' as Scoring,
  batchSize: 1,
  maxNewTokens: 200,
  scale: 0.1,
  alpha: 0,
  directionsHoldout: 0.2,
  checkpointSeconds: 30,
  randomControls: 1,
  randomSeed: 1234,
  template: 'auto',
});

/** Bad input to an evaluation: names the flag, file, record or field and says what to do. */
export class EvaluateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvaluateError';
  }
}
