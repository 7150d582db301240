/**
 * Plain result types shared by the runtime (which writes them), the extension (which lists
 * them) and the webviews (which chart them). Files on disk are the source of truth: every
 * chart is drawn from one of these, never from state only a webview holds.
 *
 * No imports from vscode, the DOM or Node here: this module is bundled into all three.
 */

export type Subset = 'reasoning' | 'memorization';
export const SUBSETS: Subset[] = ['reasoning', 'memorization'];

/** A proportion with its Wilson 95% interval. */
export interface Accuracy {
  correct: number;
  total: number;
  /** Items whose generation had no parsable answer (counted as wrong). */
  unparsed: number;
  accuracy: number;
  ci95: [number, number];
}

/** How an evaluation edits the model. `none` is the no-intervention baseline. */
export interface InterventionSpec {
  /** Stable id within a run, e.g. `baseline`, `post@66 scale=0.1`, `random#2 post@66 scale=0.1`. */
  id: string;
  kind: 'none' | 'direction' | 'random-direction';
  hook: 'hook_resid_pre' | 'hook_resid_post' | null;
  /** Blocks edited; each uses its own direction unless `directionLayer` is set. */
  layers: number[];
  /** Paper-code mode: this block's direction applied at every edited block. */
  directionLayer?: number;
  scale: number;
  /** Additive steering coefficient (x += alpha·u, u the unit direction). */
  alpha: number;
  /** For random-direction controls: the seed of the random unit vectors. */
  randomSeed?: number;
  /** For random-direction controls: which control (0, 1, …) at this grid point. */
  randomIndex?: number;
  /** For direction interventions: the directions file the vectors came from. */
  directionFile?: string;
  /** For direction interventions: the hook point whose direction each edited block used (parallel to layers). */
  directionHooks?: string[];
}

export interface RunItem {
  id: string;
  subset: Subset;
  category?: string;
  question: string;
  expected: string;
  /** sha256 (hex, first 16) of the exact prompt text, to show prompts did not change. */
  promptHash: string;
  generated?: string;
  parsed: string | null;
  correct: boolean;
  /** With loglik scoring: log-probability of each option letter. */
  optionLogprobs?: Record<string, number>;
  /** No answer could be read from the generation (counted as wrong). */
  unparsed?: boolean;
  /** Why generation stopped: eos, stop-string, max-new-tokens or context-full. */
  stopReason?: string;
  /** Tokens in the prompt, and tokens generated. */
  promptTokens?: number;
  newTokens?: number;
}

export interface InterventionResult {
  intervention: InterventionSpec;
  summary: Record<Subset, Accuracy>;
  items: RunItem[];
  seconds: number;
  /** False while this intervention's items are still being evaluated (partial run files). */
  complete?: boolean;
}

/** Which records were evaluated and why (RunSpec.splitDetail). */
export interface SplitDetail {
  /** Labelled records in the data. */
  labelled: number;
  /** Records held out of the evaluation because the directions were computed from them. */
  excluded: number;
  /** Records the sample was drawn from. */
  pool: number;
  directionsDataName?: string;
  note?: string;
}

/** Everything needed to run an evaluation again. */
export interface RunSpec {
  command: 'evaluate' | 'sweep';
  model: { path: string; contentHash: string; modelType: string; options: Record<string, unknown> };
  data: { path: string; contentHash: string; name: string; kind: string };
  directions?: { path: string; contentHash: string };
  split: 'overlap' | 'holdout';
  sampleSize: number;
  seed: number;
  prompt: {
    template: string;
    fewshot: boolean;
    cot: boolean;
    fewshotSource?: string;
    /** MMLU-Pro examples per category, and their ids per category in prompt order. */
    shots?: number;
    fewshotExamples?: Record<string, string[]>;
  };
  scoring: 'generate' | 'loglik';
  maxNewTokens: number;
  batchSize: number;
  stopStrings: string[];
  /** The full argv the CLI was given (or the equivalent for palette runs). */
  argv: string[];
  /** The interventions asked for, in run order (each result repeats its own). */
  interventions?: InterventionSpec[];
  splitDetail?: SplitDetail;
  /** Ids of the evaluated records, in order. */
  recordIds?: string[];
  /** Label rule of the data, as loaded. */
  labelRule?: unknown;
  /** Whether each category's few-shot prefix KV was computed once and reused. */
  prefixReuse?: boolean;
  /** loglik: the text appended after the prompt before the option letter. */
  answerCue?: string;
  /** The answer pattern: the seed's regex or the lenient one. */
  extraction?: 'seed' | 'lenient';
}

export interface RunFile {
  format: 'layerlab-run';
  version: 1;
  layerlabVersion: string;
  createdAt: string;
  /** False while running or after a cancel / crash: the results are partial. */
  complete: boolean;
  spec: RunSpec;
  provider: string;
  /** Items done / total over all interventions, for partial runs. */
  progress: { done: number; total: number };
  results: InterventionResult[];
  timing: { totalSeconds: number; itemsPerSecond: number };
  /** Things the user should know about this run (e.g. prompts that could not reuse the prefix KV). */
  warnings?: string[];
}

/** Per-layer quality of a difference-of-means direction (from compute-directions). */
export interface DirectionLayerStats {
  hook: string;
  block: number;
  norm: number;
  nReasoning: number;
  nMemorization: number;
  train: SeparationStats;
  heldOut?: SeparationStats;
}

export interface SeparationStats {
  n: number;
  auc: number;
  cohensD: number;
  /** Pearson r between the projection and the dataset's score, when records carry one. */
  pearsonR?: number;
}

export interface DirectionStatsFile {
  format: 'layerlab-directions';
  version: 1;
  cache: { path: string; dataName: string };
  holdout: { fraction: number; seed: number };
  layers: DirectionLayerStats[];
  /** Per hook: projections of every record onto the (train) direction, for histograms. */
  projections: Record<string, { id: string; subset: Subset; split: 'train' | 'heldout'; value: number }[]>;
}

/** One dataset's hidden states in a cache file, as the tree view shows it. */
export interface CacheEntryInfo {
  file: string;
  dataName: string;
  complete: boolean;
  rowsDone: number;
  rows: number;
  dModel: number;
  dtype: 'float32' | 'float16';
  positions: 'last' | 'mean' | 'all';
  hooks: { name: string; shape: number[]; bytes: number }[];
  provenance: Record<string, string>;
}
