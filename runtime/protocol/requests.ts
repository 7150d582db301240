/**
 * Every message between the extension and the runtime process besides the jobs (./jobs.ts),
 * defined once and imported by both sides (the pattern of vscode-languageserver-node's
 * `RequestType` constants and rust-analyzer's `lsp_ext.ts`): the lifecycle, the short queries
 * that answer while a job runs, and the notifications. Params that come from outside are
 * described by zod schemas, and the runtime validates every request against them.
 *
 * No imports from vscode, the DOM or Node here (scripts/check-imports.mjs enforces it):
 * `vscode-jsonrpc`'s message types are plain classes that work in every bundle.
 */
import { NotificationType, NotificationType0, RequestType, RequestType0 } from 'vscode-jsonrpc';
import { z } from 'zod';
import { WEIGHT_PRECISIONS, type WeightPrecision } from '../../models/common/precision';

/** The weight precisions, for the editor (which reaches models/ only through the protocol). */
export { WEIGHT_PRECISIONS, type WeightPrecision };
import type { CacheEntryInfo } from './results';

/**
 * Bumped when a message changes incompatibly. The runtime ships inside the same VSIX as the
 * extension, so a mismatch means a stale build (e.g. `dist/runtime.js` from an older checkout
 * or a `layerlab.nodePath` runtime of another version); the client refuses it with a message.
 */
export const PROTOCOL_VERSION = 2;

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * What kind of failure a `ResponseError` carries in its `data`, so the extension can word its
 * message (and offer the right action) without parsing error text.
 */
export type RuntimeErrorKind =
  /** The request's parameters are wrong (the CLI twin would exit 2). */
  | 'usage'
  /** The model, checkpoint, tokenizer or an input to it is unusable. */
  | 'model'
  /** A dataset, label rule, prompt template or hidden-state cache is unusable. */
  | 'data'
  /** Another long request is running; the runtime runs one at a time. */
  | 'busy'
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
 * JSON-RPC error codes of `ResponseError`s the runtime sends. `usage` is JSON-RPC's own
 * InvalidParams and `cancelled` LSP's RequestCancelled, so generic tooling recognises them; the
 * others stay outside JSON-RPC's reserved range (-32768..-32000).
 */
export const RUNTIME_ERROR_CODES: Record<RuntimeErrorKind, number> = {
  usage: -32602,
  model: 2,
  data: 3,
  busy: 5,
  io: 8,
  internal: 9,
  cancelled: -32800,
};

// ---------------------------------------------------------------------------------------------
// Lifecycle

export const initializeParamsSchema = z.object({
  protocolVersion: z.number().int(),
  /** e.g. `vscode 1.100.3` or `test`; only logged. */
  client: z.string(),
});
export type InitializeParams = z.infer<typeof initializeParamsSchema>;

export interface InitializeResult {
  protocolVersion: number;
  /** LayerLab version of the runtime build. */
  runtimeVersion: string;
  pid: number;
  /** `process.version` of the Node running the runtime (VS Code's own Node or `layerlab.nodePath`). */
  nodeVersion: string;
  platform: string;
  arch: string;
}

export const InitializeRequest = new RequestType<InitializeParams, InitializeResult, RuntimeErrorData>('layerlab/initialize');

/** Cancels running work and releases the model; the runtime then waits for `exit`. */
export const ShutdownRequest = new RequestType0<null, RuntimeErrorData>('shutdown');
/** Ends the process: code 0 after `shutdown`, 1 without (the LSP convention). */
export const ExitNotification = new NotificationType0('exit');

// ---------------------------------------------------------------------------------------------
// Models

export const PROVIDER_PREFERENCES = ['auto', 'cuda', 'webgpu', 'cpu'] as const;
export type ProviderPreference = (typeof PROVIDER_PREFERENCES)[number];
export type Provider = Exclude<ProviderPreference, 'auto'>;

export const modelBlockSchema = z.object({
  index: z.number().int(),
  /** `layer` for plain decoders; `prelude`, `core`, `coda` for recurrent-depth models. */
  part: z.string(),
  /** e.g. `layer 3`, `core block 0, recurrence 16`. */
  label: z.string(),
});

/**
 * What a checkpoint is, read from its config and tokenizer without reading weights or starting
 * ONNX Runtime (`layerlab/describeModel`): enough to offer its blocks and hook points.
 */
export const modelFactsSchema = z.object({
  path: z.string(),
  format: z.enum(['huggingface', 'llama2c']),
  /** Graph family, e.g. `llama`, `huginn`. */
  architecture: z.string(),
  /** The checkpoint's `model_type`, e.g. `qwen2`. */
  modelType: z.string(),
  contentHash: z.string(),
  dModel: z.number().int(),
  vocabSize: z.number().int(),
  maxSeqLen: z.number().int(),
  /** Blocks of the (unrolled) depth: huginn at num_steps 32 has 132. */
  nBlocks: z.number().int(),
  blocks: z.array(modelBlockSchema),
  /** Number of hook points (`hook_resid_pre` and `hook_resid_post` of every block). */
  hookPoints: z.number().int(),
  /** Architecture settings that change what a block index means (e.g. num_steps). */
  options: z.record(z.union([z.number(), z.string(), z.boolean()])),
  tokenizer: z.string(),
});
export type ModelFacts = z.infer<typeof modelFactsSchema>;

/** A model opened in ONNX Runtime: its facts, and how it runs. */
export const modelInfoSchema = modelFactsSchema.extend({
  /** Storage precision of the weights (hook reads and edits are fp32 whatever it is). */
  weights: z.enum(WEIGHT_PRECISIONS),
  weightsBytes: z.number(),
  /** The execution provider actually running the model. */
  provider: z.enum(['cuda', 'webgpu', 'cpu']),
  /** Why the preferred provider was not used, when it was not. */
  providerNote: z.string().optional(),
  graphDir: z.string(),
});
export type ModelInfo = z.infer<typeof modelInfoSchema>;

/**
 * Opens a model as the jobs would (`layerlab info`'s params) and keeps it: "Select Model".
 * A job that names the same model (path, tokenizer, options, provider, threads) reuses it.
 */
export const noParamsSchema = z.object({}).strict();
/** Params of requests that take none (an empty object, so every request has the same shape). */
export type NoParams = z.infer<typeof noParamsSchema>;

/** The loaded model, or null when none is loaded. */
export const ModelInfoRequest = new RequestType<NoParams, ModelInfo | null, RuntimeErrorData>('layerlab/modelInfo');

/** A model's facts without loading it (params: a job's model fields; provider and threads are ignored). */
export const DescribeModelRequest = new RequestType<import('./jobs').ModelRef, ModelFacts, RuntimeErrorData>('layerlab/describeModel');

/** Sent whenever the loaded model changes: Select Model, a job that opened another, a release. */
export const ModelChangedNotification = new NotificationType<{ model: ModelInfo | null }>('layerlab/modelChanged');

export interface RuntimeStatus {
  model: ModelInfo | null;
  /** The long request running now, if any (e.g. `job evaluate`). */
  active: string | null;
  /** ONNX Runtime sessions created since the process started (each holds a model's weights). */
  sessionsCreated: number;
  rssBytes: number;
}

/** The runtime's state, answered at once (also while a job runs). */
export const RuntimeStatusRequest = new RequestType<NoParams, RuntimeStatus, RuntimeErrorData>('layerlab/runtimeStatus');

// ---------------------------------------------------------------------------------------------
// Caches and datasets

export const listCachesParamsSchema = z.object({
  /** Folder searched (recursively) for hidden-state cache files. */
  folder: z.string().min(1),
}).strict();
export type ListCachesParams = z.infer<typeof listCachesParamsSchema>;

/** Hidden-state caches under a folder (none when it does not exist yet). */
export const ListCachesRequest = new RequestType<ListCachesParams, CacheEntryInfo[], RuntimeErrorData>('layerlab/listCaches');

export const inspectDatasetParamsSchema = z.object({
  /** A dataset file (JSON, JSONL or Parquet; absolute, or relative to the runtime's cwd). */
  file: z.string().min(1),
  /** How many records `preview` lists (default 200, the Datasets view's page). */
  limit: z.number().int().min(0).optional(),
  /** The named split of a JSON object file (PopQA's dev/test); default as the jobs' loaders. */
  split: z.string().min(1).optional(),
  /**
   * Asks for one record instead of a page: `preview` then holds only the record with this id
   * (empty when there is none), untruncated, with its options, aliases and score.
   */
  recordId: z.string().optional(),
}).strict();
export type InspectDatasetParams = z.infer<typeof inspectDatasetParamsSchema>;

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
// Logs

/** The levels of VS Code's LogOutputChannel. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

export interface LogParams {
  level: LogLevel;
  message: string;
  /** The work-done token of the job the message comes from. */
  job?: string | number;
}

/**
 * Everything the runtime would print. Its stdout carries protocol only (stray writes to stdout
 * and console.* arrive here too), and whatever reaches its stderr is logged as an error.
 */
export const LogNotification = new NotificationType<LogParams>('layerlab/log');
