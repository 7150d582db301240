/**
 * Every message between the extension and the runtime process, defined once and imported by
 * both sides (the pattern of vscode-languageserver-node's `RequestType` constants and
 * rust-analyzer's `lsp_ext.ts`). Adding a message means adding its constant and param/result
 * types here; the compiler then checks the handler in runtime/server and the caller in
 * extension/ against the same definition.
 *
 * No imports from vscode, the DOM or Node here (scripts/check-imports.mjs enforces it):
 * `vscode-jsonrpc`'s message types are plain classes that work in every bundle.
 */
import { NotificationType, NotificationType0, RequestType, RequestType0 } from 'vscode-jsonrpc';
import type { CacheEntryInfo } from './results';

/**
 * Bumped when a message changes incompatibly. The runtime ships inside the same VSIX as the
 * extension, so a mismatch means a stale build (e.g. `dist/runtime.js` from an older checkout
 * or a `layerlab.nodePath` runtime of another version); the client refuses it with a message.
 */
export const PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * What kind of failure a `ResponseError` carries in its `data`, so the extension can word its
 * message (and offer the right action) without parsing error text.
 */
export type RuntimeErrorKind =
  /** The job's arguments are wrong (the CLI twin would exit 2). */
  | 'usage'
  /** The model, checkpoint, tokenizer or an input to it is unusable. */
  | 'model'
  /** A dataset, label rule, prompt template or hidden-state cache is unusable. */
  | 'data'
  /** The request needs a loaded model and none is loaded. */
  | 'no-model'
  /** Another long request is running; the runtime runs one at a time. */
  | 'busy'
  /** `runJob` named a job this runtime does not have. */
  | 'unknown-job'
  /** The runtime was built without the module this request needs. */
  | 'unavailable'
  /** The client cancelled the request (the reply to `$/cancelRequest`). */
  | 'cancelled'
  /** A file or folder could not be read or written. */
  | 'io'
  /** A bug: the message carries the error and the log the stack. */
  | 'internal';

export interface RuntimeErrorData {
  kind: RuntimeErrorKind;
  /** One sentence saying what the user can do about it, when there is something. */
  hint?: string;
}

/**
 * JSON-RPC error codes of `ResponseError`s the runtime sends. Application codes stay outside
 * JSON-RPC's reserved range (-32768..-32000); `cancelled` reuses LSP's RequestCancelled so
 * generic JSON-RPC tooling recognises it.
 */
export const RUNTIME_ERROR_CODES: Record<RuntimeErrorKind, number> = {
  usage: 1,
  model: 2,
  data: 3,
  'no-model': 4,
  busy: 5,
  'unknown-job': 6,
  unavailable: 7,
  io: 8,
  internal: 9,
  cancelled: -32800,
};

// ---------------------------------------------------------------------------------------------
// Lifecycle

export interface InitializeParams {
  protocolVersion: number;
  /** e.g. `vscode 1.100.3` or `test`; only logged. */
  client: string;
}

export interface InitializeResult {
  protocolVersion: number;
  /** LayerLab version of the runtime build. */
  runtimeVersion: string;
  pid: number;
  /** `process.version` of the Node running the runtime (VS Code's own Node or `layerlab.nodePath`). */
  nodeVersion: string;
  platform: string;
  arch: string;
  /** Jobs `layerlab/runJob` accepts in this build. */
  jobs: JobName[];
}

export const InitializeRequest = new RequestType<InitializeParams, InitializeResult, RuntimeErrorData>('layerlab/initialize');

/** Cancels running work and releases the model; the runtime then waits for `exit`. */
export const ShutdownRequest = new RequestType0<null, RuntimeErrorData>('shutdown');
/** Ends the process: code 0 after `shutdown`, 1 without (the LSP convention). */
export const ExitNotification = new NotificationType0('exit');

// ---------------------------------------------------------------------------------------------
// Models

export type ProviderPreference = 'auto' | 'cuda' | 'webgpu' | 'cpu';
export type Provider = 'cuda' | 'webgpu' | 'cpu';

export interface LoadModelParams {
  /** A Hugging Face folder or a llama2.c `.bin` (absolute, or relative to the runtime's cwd). */
  path: string;
  /** Tokenizer file or folder; default: found beside the model. */
  tokenizer?: string;
  provider: ProviderPreference;
  /** CPU threads for ONNX Runtime; 0 or absent lets it decide. */
  threads?: number;
}

export interface ModelBlockInfo {
  index: number;
  /** `layer` for plain decoders; `prelude`, `core`, `coda` for recurrent-depth models. */
  part: string;
  /** e.g. `layer 3`, `core block 0, recurrence 16`. */
  label: string;
}

export interface ModelInfo {
  path: string;
  format: 'huggingface' | 'llama2c';
  /** Graph family, e.g. `llama`. */
  architecture: string;
  /** The checkpoint's `model_type`, e.g. `qwen2`. */
  modelType: string;
  contentHash: string;
  dModel: number;
  vocabSize: number;
  maxSeqLen: number;
  nBlocks: number;
  blocks: ModelBlockInfo[];
  /** Number of hook points (`hook_resid_pre` and `hook_resid_post` of every block). */
  hookPoints: number;
  /** Architecture settings that change what a block index means (e.g. num_steps). */
  options: Record<string, number | string | boolean>;
  weightsBytes: number;
  tokenizer: string;
  /** The execution provider actually running the model. */
  provider: Provider;
  /** Why the preferred provider was not used, when it was not. */
  providerNote?: string;
  graphDir: string;
}

export const LoadModelRequest = new RequestType<LoadModelParams, ModelInfo, RuntimeErrorData>('layerlab/loadModel');
/** Params of requests that take none (an empty object, so every request has the same shape). */
export type NoParams = Record<string, never>;

/** The loaded model, or null when none is loaded. */
export const ModelInfoRequest = new RequestType<NoParams, ModelInfo | null, RuntimeErrorData>('layerlab/modelInfo');

export interface GenerateParams {
  prompt: string;
  maxNewTokens: number;
  /** Stop strings; default the tokenizer's end-of-turn strings. */
  stop?: string[];
  /** Prepend BOS (default true, as the CLI's `generate`). */
  addBos?: boolean;
}

export interface GenerateResult {
  text: string;
  stopReason: 'eos' | 'stop-string' | 'max-new-tokens' | 'context-full';
  promptTokens: number;
  newTokens: number;
  seconds: number;
}

/** Greedy generation with the loaded model (`no-model` error without one); cancellable. */
export const GenerateRequest = new RequestType<GenerateParams, GenerateResult, RuntimeErrorData>('layerlab/generate');

// ---------------------------------------------------------------------------------------------
// Caches

export interface ListCachesParams {
  /** Folder searched (recursively) for hidden-state cache files. */
  folder: string;
}

/**
 * Hidden-state caches under a folder. Answers `unavailable` while the runtime is built without
 * the cache module, so the extension can tell "no caches" from "cannot look".
 */
export const ListCachesRequest = new RequestType<ListCachesParams, CacheEntryInfo[], RuntimeErrorData>('layerlab/listCaches');

// ---------------------------------------------------------------------------------------------
// Datasets

export interface InspectDatasetParams {
  /** A dataset file (JSON, JSONL or Parquet; absolute, or relative to the runtime's cwd). */
  file: string;
  /** How many records `preview` lists (default 200, the Datasets view's page). */
  limit?: number;
  /** The named split of a JSON object file (PopQA's dev/test); default as the CLI's loaders. */
  split?: string;
  /**
   * Asks for one record instead of a page: `preview` then holds only the record with this id
   * (empty when there is none), untruncated, with its options, aliases and score.
   */
  recordId?: string;
}

/** One record as the Datasets view lists it. */
export interface DatasetRecordPreview {
  id: string;
  /** Position in the file (after choosing a split), 0-based. */
  index: number;
  label?: 'reasoning' | 'memorization';
  category?: string;
  /** Truncated to about 200 characters (with "…"), except for a `recordId` request. */
  question: string;
  answer?: string;
  /** Only for a `recordId` request. */
  options?: string[];
  aliases?: string[];
  score?: number;
}

export interface DatasetInspection {
  /** Absolute path of the file read. */
  file: string;
  /** The detected dataset kind, e.g. `mmlu-pro`, `popqa`. */
  kind: string;
  /** Display name (file name without extension, plus ":split"). */
  name: string;
  split?: string;
  /** Number of records. */
  records: number;
  labels: { reasoning: number; memorization: number; unlabeled: number };
  /** Problems that did not stop the load. */
  warnings: string[];
  /** The first `limit` records (or the one `recordId` names). */
  preview: DatasetRecordPreview[];
}

/**
 * Loads a dataset as the jobs would (kind detection, validation, default label rule) and
 * describes it. A short request: it answers while a job runs.
 */
export const InspectDatasetRequest = new RequestType<InspectDatasetParams, DatasetInspection, RuntimeErrorData>('layerlab/inspectDataset');

// ---------------------------------------------------------------------------------------------
// Long jobs

/**
 * Long-running work, each the twin of a CLI command taking the same argv. A build of the
 * runtime may not have every job yet: `InitializeResult.jobs` says which it has.
 */
export const JOB_NAMES = ['save-hidden-states', 'compute-directions', 'evaluate', 'sweep', 'generate', 'demo'] as const;
export type JobName = (typeof JOB_NAMES)[number];

export function isJobName(s: string): s is JobName {
  return (JOB_NAMES as readonly string[]).includes(s);
}

export interface RunJobParams {
  /**
   * Chosen by the client (unique per connection) so that it can route `layerlab/progress` and
   * `layerlab/log` to the right progress notification before the response arrives.
   */
  jobId: string;
  job: JobName;
  /** Exactly the argv of the CLI twin after its command name (`layerlab <job> ARGS…`). */
  args: string[];
  /** Folder relative paths in `args` resolve against; default the runtime's cwd. */
  cwd?: string;
}

export interface RunJobResult {
  jobId: string;
  job: JobName;
  /** What the CLI twin prints on stdout (a summary, or JSON with `--json`). */
  output: string;
  /** Files the job wrote that the user may want to open (runs, caches, directions), absolute. */
  files: string[];
  seconds: number;
}

/** Runs a job; `$/cancelRequest` on it aborts the job at its next check (within one batch). */
export const RunJobRequest = new RequestType<RunJobParams, RunJobResult, RuntimeErrorData>('layerlab/runJob');

export interface ProgressParams {
  jobId: string;
  done: number;
  total: number;
  message?: string;
}

/** Progress of a running job; `done` never decreases within a job. */
export const ProgressNotification = new NotificationType<ProgressParams>('layerlab/progress');

// ---------------------------------------------------------------------------------------------
// Logs

/** The levels of VS Code's LogOutputChannel. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

export interface LogParams {
  level: LogLevel;
  message: string;
  /** Set when the message comes from a job. */
  jobId?: string;
}

/**
 * Everything the runtime would print. Its stdout carries protocol only (stray writes to stdout
 * and console.* arrive here too), and whatever reaches its stderr is logged as an error.
 */
export const LogNotification = new NotificationType<LogParams>('layerlab/log');
