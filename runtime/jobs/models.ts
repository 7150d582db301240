/**
 * The model lease shared by the runtime server and the CLI: at most one model open, reused when
 * a job names the same one, released before another is opened (one copy of the weights in
 * memory at any moment), plus the model descriptions the protocol sends.
 */
import * as path from 'node:path';
import { loadCheckpoint, resolveModelPath, type LoadedCheckpoint, type ModelOptions } from '../../models/load';
import { allHookNames } from '../../models/graph/spec';
import { UsageError } from '../protocol/argv';
import { modelFields, modelRefSchema, type ModelRef, type ResolvedModelRef } from '../protocol/jobs';
import type { ModelFacts, ModelInfo } from '../protocol/requests';
import { openModel, type OpenedModel, type OpenProgress } from '../openModel';

/** The architecture options among a model ref (only those given). */
export function modelOptionsOf(ref: Pick<ResolvedModelRef, 'numSteps' | 'stateInit' | 'stateSeed'>): ModelOptions {
  return {
    ...(ref.numSteps !== undefined ? { numSteps: ref.numSteps } : {}),
    ...(ref.stateInit !== undefined ? { stateInit: ref.stateInit } : {}),
    ...(ref.stateSeed !== undefined ? { stateSeed: ref.stateSeed } : {}),
  };
}

/** `--model PATH`, or the seed's `--models_path DIR --model_name NAME`, as an absolute path. */
export function modelPathOf(ref: Pick<ResolvedModelRef, 'model' | 'modelsPath' | 'modelName'>): string {
  try {
    return resolveModelPath(ref);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A job's model fields (its params hold others too), with the schema's defaults. */
export function resolveModelRef(params: ModelRef): ResolvedModelRef {
  const own = Object.fromEntries(Object.keys(modelFields).flatMap((k) => (k in params ? [[k, (params as Record<string, unknown>)[k]]] : [])));
  return modelRefSchema.parse(own);
}

/** What makes two requests name "the same model": everything that changes the opened graph. */
export function leaseKey(ref: ResolvedModelRef): string {
  return JSON.stringify([
    modelPathOf(ref),
    ref.tokenizer ? path.resolve(ref.tokenizer) : null,
    modelOptionsOf(ref),
    ref.weights,
    ref.provider,
    ref.threads,
  ]);
}

/** Facts read from the checkpoint's config and tokenizer: no weights, no ONNX Runtime. */
export function describeModel(ref: ResolvedModelRef): ModelFacts {
  const ckpt = loadCheckpoint(modelPathOf(ref), ref.tokenizer, modelOptionsOf(ref));
  return factsOf(ckpt);
}

function factsOf(ckpt: LoadedCheckpoint): ModelFacts {
  const r = ckpt.recipe;
  return {
    path: ckpt.path,
    format: ckpt.format,
    architecture: r.family,
    modelType: r.modelType,
    contentHash: r.contentHash,
    dModel: r.dModel,
    vocabSize: r.vocabSize,
    maxSeqLen: r.maxSeqLen,
    nBlocks: r.blocks.length,
    blocks: r.blocks.map((b) => ({ index: b.index, part: b.part, label: b.label })),
    hookPoints: allHookNames(r.blocks.length).length,
    options: r.options,
    tokenizer: ckpt.tokenizer.source,
  };
}

export function modelInfoOf(opened: OpenedModel): ModelInfo {
  const { spec, provider } = opened.model;
  return {
    ...factsOf(opened.checkpoint),
    // The built graph's view wins where the two could differ (it is what runs).
    contentHash: spec.contentHash,
    options: spec.options,
    weights: spec.precision,
    weightsBytes: spec.weightsBytes,
    provider: provider.provider,
    ...(provider.note ? { providerNote: provider.note } : {}),
    graphDir: opened.graphDir,
  };
}

interface Held {
  key: string;
  opened: OpenedModel;
  info: ModelInfo;
}

export class ModelLease {
  private held?: Held;

  constructor(
    private readonly opts: {
      log: (message: string) => void;
      /** Called after the held model changed (opened, replaced or released). */
      onChange?: (info: ModelInfo | null) => void;
    },
  ) {}

  get info(): ModelInfo | undefined {
    return this.held?.info;
  }

  /** The held model when `ref` names it, else `ref`'s model, opened after releasing the held one. */
  async open(given: ModelRef, log: (message: string) => void = this.opts.log, onProgress?: OpenProgress): Promise<OpenedModel> {
    const ref = resolveModelRef(given);
    const key = leaseKey(ref);
    if (this.held?.key === key) {
      log(`using the loaded model ${this.held.info.path}`);
      return this.held.opened;
    }
    const modelPath = modelPathOf(ref);
    if (this.held) {
      log(`releasing ${this.held.info.path} to open ${modelPath} (one model at a time)`);
      await this.release();
    }
    const opened = await openModel(modelPath, {
      tokenizer: ref.tokenizer,
      provider: ref.provider,
      threads: ref.threads,
      modelOptions: modelOptionsOf(ref),
      weights: ref.weights,
      ...(ref.memoryBudget !== undefined ? { memoryBudget: ref.memoryBudget * 2 ** 30 } : {}),
      log,
      ...(onProgress ? { onProgress } : {}),
    });
    this.held = { key, opened, info: modelInfoOf(opened) };
    this.opts.onChange?.(this.held.info);
    return opened;
  }

  async release(): Promise<void> {
    const held = this.held;
    this.held = undefined;
    if (!held) return;
    await held.opened.model.release();
    this.opts.onChange?.(null);
  }
}
