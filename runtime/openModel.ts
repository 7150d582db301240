/**
 * Opens a model for inference: reads the checkpoint, builds (or reuses) its instrumented graph
 * at the chosen weight precision and loads it in ONNX Runtime. The CLI and the runtime server
 * both start here.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { loadCheckpoint, type LoadedCheckpoint, type ModelOptions, type ModelTokenizer } from '../models/load';
import { buildInstrumentedModel, defaultGraphCacheDir } from '../models/graph/build';
import { estimateWeightBytes, precisionProblem, WEIGHT_PRECISIONS, type WeightPrecision } from '../models/graph/weights';
import { InstrumentedModel } from './model';
import { collectGarbage } from './memory';
import { chooseProvider, webgpuF16Unavailable, type Provider, type SessionOptions } from './ort/session';

/** Progress of an open: a step counter (or bytes) and what is happening, for a progress bar. */
export type OpenProgress = (done: number, total: number, message: string) => void;

export interface OpenModelOptions extends SessionOptions {
  tokenizer?: string;
  graphCacheDir?: string;
  /** Architecture options (huginn's num_steps and initial state); refused for other models. */
  modelOptions?: ModelOptions;
  /**
   * Storage precision of the weights (default fp32): fp16 for GPU providers, int8 or int4
   * (weight-only, block-wise) for any. Hook reads and edits are fp32 whatever it is.
   */
  weights?: WeightPrecision;
  /**
   * Bytes the model may take in this process (default: the memory the machine has available
   * now). A model whose weights at this precision would not fit is refused before anything is
   * built, naming a precision that fits.
   */
  memoryBudget?: number;
  /** Called with one-line status messages (building graphs, loading). */
  log?: (msg: string) => void;
  /**
   * Progress of the slow steps of a first open: hashing the checkpoint (bytes), converting the
   * weights (values), then building the graph and creating the session. Later opens report only
   * the last step.
   */
  onProgress?: OpenProgress;
}

export interface OpenedModel {
  checkpoint: LoadedCheckpoint;
  model: InstrumentedModel;
  tokenizer: ModelTokenizer;
  /** Where the built graph and its weights file live, and whether this call built the graph. */
  graphDir: string;
  built: boolean;
}

/** A request this machine or provider cannot serve (precision, memory); the message says what to change. */
export class ModelOpenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelOpenError';
  }
}

/**
 * Peak memory of a loaded model above Node's own, as a multiple of its weight bytes: what the
 * memory tests hold every phase to (load, prefill, decoding, interventions).
 */
export const PEAK_MEMORY_FACTOR = 1.3;
/** Room for Node, ONNX Runtime's code and the activations of one pass, on top of that. */
export const RUNTIME_OVERHEAD_BYTES = 512 * 2 ** 20;

export async function openModel(modelPath: string, opts: OpenModelOptions = {}): Promise<OpenedModel> {
  const log = opts.log ?? (() => {});
  const progress = opts.onProgress ?? (() => {});
  const precision = opts.weights ?? 'fp32';
  if (!WEIGHT_PRECISIONS.includes(precision)) {
    throw new ModelOpenError(`unknown weight precision '${String(precision)}': choose ${WEIGHT_PRECISIONS.join(', ')}`);
  }
  const checkpoint = loadCheckpoint(modelPath, opts.tokenizer, opts.modelOptions, (done, total) =>
    progress(done, total, `hashing the checkpoint (${gb(done)} of ${gb(total)})`),
  );

  // Everything that can refuse the request runs before anything is written.
  const problem = precisionProblem(checkpoint.recipe.weightPlan, precision);
  if (problem) throw new ModelOpenError(problem);
  const choice = await chooseProvider(opts.provider ?? 'auto');
  await checkPrecision(precision, choice.provider, opts.provider ?? 'auto', choice.note);
  if (choice.provider === 'cpu') checkMemory(checkpoint, precision, opts.memoryBudget ?? availableMemory());

  const t0 = Date.now();
  // Converting leaves each tensor's arrays behind as garbage; V8 would collect it only when it
  // sees fit, on top of the session's weights. Collecting every 32 M values converted (and once
  // after) kept a Qwen2-0.5B first open's peak at (measured in README) instead of 1.33×.
  let collectedAt = 0;
  const built = buildInstrumentedModel(checkpoint.recipe, opts.graphCacheDir ?? defaultGraphCacheDir(), {
    precision,
    onProgress: (done, total, message) => {
      if (done - collectedAt >= 32 * 2 ** 20) {
        collectedAt = done;
        collectGarbage();
      }
      progress(done, total, message);
    },
  });
  if (built.built) collectGarbage();
  log(built.built ? `built the instrumented graph (${precision} weights) in ${Date.now() - t0} ms: ${built.dir}` : `using the cached graph: ${built.dir}`);
  progress(0, 1, `loading the ${built.spec.nBlocks}-block graph in ONNX Runtime (${choice.provider})`);
  const model = await InstrumentedModel.load(built, opts);
  progress(1, 1, 'loaded');
  log(`execution provider: ${model.provider.provider}${model.provider.note ? ` (${model.provider.note})` : ''}`);
  return { checkpoint, model, tokenizer: checkpoint.tokenizer, graphDir: built.dir, built: built.built };
}

/**
 * fp16 matrices are multiplied in fp16, which ONNX Runtime's CPU provider does not implement and
 * some WebGPU devices cannot (no shader-f16).
 */
async function checkPrecision(precision: WeightPrecision, provider: Provider, asked: string, note: string | undefined): Promise<void> {
  if (precision !== 'fp16') return;
  if (provider === 'cpu') {
    const why = asked === 'auto' ? `provider 'auto' found no GPU${note ? ` (${note})` : ''}` : `provider '${asked}' is the CPU`;
    throw new ModelOpenError(`fp16 weights run on a GPU provider (webgpu or cuda), but ${why}: on the CPU choose weights fp32, int8 or int4`);
  }
  if (provider === 'webgpu') {
    const f16 = await webgpuF16Unavailable();
    if (f16) throw new ModelOpenError(`fp16 weights need 16-bit float support on the GPU, but ${f16}: choose weights fp32, int8 or int4 for provider webgpu`);
  }
}

/**
 * Refuses a model that would not fit: its weights at this precision times the peak factor, plus
 * the runtime's own needs, against the budget. The message names the precisions that would fit.
 */
function checkMemory(checkpoint: LoadedCheckpoint, precision: WeightPrecision, budget: number): void {
  const need = (p: WeightPrecision) => PEAK_MEMORY_FACTOR * estimateWeightBytes(checkpoint.recipe.weightPlan, p).parameterBytes + RUNTIME_OVERHEAD_BYTES;
  if (need(precision) <= budget) return;
  const fits = (['fp32', 'int8', 'int4'] as const).filter((p) => need(p) <= budget);
  const suggestion = fits.length
    ? `choose weights ${fits.map((p) => `${p} (≈ ${gb(need(p))})`).join(' or ')}`
    : `even int4 (≈ ${gb(need('int4'))}) does not fit: free memory, use a machine with more, or a GPU provider`;
  throw new ModelOpenError(
    `${checkpoint.path} with ${precision} weights needs ≈ ${gb(need(precision))} of memory to load and run, ` +
      `but only ${gb(budget)} is available (${gb(os.totalmem())} in all): ${suggestion}`,
  );
}

/** Memory the kernel could give this process now (MemAvailable: free memory plus reclaimable cache). */
export function availableMemory(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}

function gb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.round(bytes / 1e6)} MB`;
}
