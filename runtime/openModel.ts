/**
 * Opens a model for inference: reads the checkpoint, builds (or reuses) its instrumented
 * graphs and loads them in ONNX Runtime. The CLI and the runtime server both start here.
 */
import { loadCheckpoint, type LoadedCheckpoint, type ModelOptions, type ModelTokenizer } from '../models/load';
import { buildInstrumentedModel, defaultGraphCacheDir } from '../models/graph/build';
import { InstrumentedModel } from './model';
import type { SessionOptions } from './ort/session';

export interface OpenModelOptions extends SessionOptions {
  tokenizer?: string;
  graphCacheDir?: string;
  /** Architecture options (huginn's num_steps and initial state); refused for other models. */
  modelOptions?: ModelOptions;
  /** Called with one-line status messages (building graphs, loading). */
  log?: (msg: string) => void;
}

export interface OpenedModel {
  checkpoint: LoadedCheckpoint;
  model: InstrumentedModel;
  tokenizer: ModelTokenizer;
  /** Where the built graphs live, and whether this call built them. */
  graphDir: string;
  built: boolean;
}

export async function openModel(modelPath: string, opts: OpenModelOptions = {}): Promise<OpenedModel> {
  const log = opts.log ?? (() => {});
  const checkpoint = loadCheckpoint(modelPath, opts.tokenizer, opts.modelOptions);
  const t0 = Date.now();
  const built = buildInstrumentedModel(checkpoint.recipe, opts.graphCacheDir ?? defaultGraphCacheDir());
  log(built.built ? `built instrumented graphs in ${Date.now() - t0} ms: ${built.dir}` : `using cached graphs: ${built.dir}`);
  const model = await InstrumentedModel.load(built, opts);
  log(`execution provider: ${model.provider.provider}${model.provider.note ? ` (${model.provider.note})` : ''}`);
  return { checkpoint, model, tokenizer: checkpoint.tokenizer, graphDir: built.dir, built: built.built };
}
