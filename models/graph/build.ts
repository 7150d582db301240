/**
 * Builds (or finds already built) the instrumented graphs of a checkpoint. Built graphs are
 * cached on disk under a key of the checkpoint's content hash, the builder version and the
 * architecture options, so a model is built once and reloaded in milliseconds afterwards.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CheckpointProbe, LlamaCheckpoint } from '../checkpoint';
import { ExternalWeights } from './onnxGraph';
import { buildLlamaGraph, llamaBlocks, writeLlamaWeights } from './llama';
import { buildHuginnGraph, huginnGraphBlocks, writeHuginnWeights } from './huginn';
import { huginnCheckpointReader, type HuginnCheckpoint, type HuginnProbe, type HuginnTensorReader } from '../huginn/checkpoint';
import { huginnOptionsRecord, resolveHuginnOptions, type HuginnOptionsInput } from '../huginn/options';
import { BUILDER_VERSION, type GraphSpec } from './spec';

export interface BuiltModel {
  dir: string;
  spec: GraphSpec;
  /** True when this call built it, false when it came from the cache. */
  built: boolean;
}

export function defaultGraphCacheDir(): string {
  return process.env.LAYERLAB_CACHE_DIR
    ? path.join(process.env.LAYERLAB_CACHE_DIR, 'graphs')
    : path.join(os.homedir(), '.cache', 'layerlab', 'graphs');
}

/** Architecture-agnostic description of how to emit one model. */
export interface GraphRecipe {
  family: string;
  modelType: string;
  source: string;
  contentHash: string;
  dModel: number;
  vocabSize: number;
  maxSeqLen: number;
  blocks: GraphSpec['blocks'];
  kv: GraphSpec['kv'];
  bosTokenId?: number;
  eosTokenIds: number[];
  options: GraphSpec['options'];
  writeWeights(w: ExternalWeights): void;
  buildGraph(w: ExternalWeights, withEdit: boolean): Uint8Array;
}

/**
 * How to build a Llama-family model. `weights` is only called when the graphs are not cached
 * yet, so opening an already-built model never reads its weights.
 */
export function llamaRecipe(ckpt: LlamaCheckpoint): GraphRecipe;
export function llamaRecipe(probe: CheckpointProbe, weights: () => LlamaCheckpoint): GraphRecipe;
export function llamaRecipe(ckpt: CheckpointProbe | LlamaCheckpoint, readWeights?: () => LlamaCheckpoint): GraphRecipe {
  const weights = readWeights ?? (() => ckpt as LlamaCheckpoint);
  const c = ckpt.config;
  return {
    family: 'llama',
    modelType: c.modelType,
    source: ckpt.source,
    contentHash: ckpt.contentHash,
    dModel: c.dModel,
    vocabSize: c.vocabSize,
    maxSeqLen: c.maxSeqLen,
    blocks: llamaBlocks(c.nLayers),
    kv: { count: c.nLayers, nKvHeads: c.nKvHeads, headDim: c.headDim },
    bosTokenId: c.bosTokenId,
    eosTokenIds: c.eosTokenIds ?? [],
    options: {},
    writeWeights: (w) => writeLlamaWeights(weights(), w),
    buildGraph: (w, withEdit) => buildLlamaGraph(c, ckpt.source, w, withEdit),
  };
}

/**
 * How to build a recurrent-depth huginn_raven model unrolled to `options.numSteps` recurrences
 * (default: the config's mean_recurrence). `tensors` is only called when the graphs are not
 * cached yet, and reads one tensor at a time. num_steps and the state init are recipe options, so
 * they are part of the cache key and recorded in the spec (and from there in caches and runs).
 */
export function huginnRecipe(ckpt: HuginnCheckpoint, options?: HuginnOptionsInput): GraphRecipe;
export function huginnRecipe(probe: HuginnProbe, tensors: () => HuginnTensorReader, options?: HuginnOptionsInput): GraphRecipe;
export function huginnRecipe(
  ckpt: HuginnProbe | HuginnCheckpoint,
  a?: (() => HuginnTensorReader) | HuginnOptionsInput,
  b?: HuginnOptionsInput,
): GraphRecipe {
  const tensors = typeof a === 'function' ? a : () => huginnCheckpointReader(ckpt as HuginnCheckpoint);
  const c = ckpt.config;
  const opts = resolveHuginnOptions(c, (typeof a === 'function' ? b : a) ?? {});
  const blocks = huginnGraphBlocks(c, opts.numSteps);
  return {
    family: 'huginn',
    modelType: c.modelType,
    source: ckpt.source,
    contentHash: ckpt.contentHash,
    dModel: c.dModel,
    vocabSize: c.vocabSize,
    maxSeqLen: c.maxSeqLen,
    blocks,
    // One KV cache per unrolled block.
    kv: { count: blocks.length, nKvHeads: c.nKvHeads, headDim: c.headDim },
    bosTokenId: c.bosTokenId,
    eosTokenIds: c.eosTokenIds ?? [],
    options: huginnOptionsRecord(opts),
    writeWeights: (w) => writeHuginnWeights(c, opts, tensors(), w),
    buildGraph: (w, withEdit) => buildHuginnGraph(c, opts, ckpt.source, w, withEdit),
  };
}

function cacheKey(r: GraphRecipe): string {
  const opts = Object.entries(r.options)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `-${k}${v}`)
    .join('');
  return `${r.family}-${r.contentHash.slice(0, 24)}-b${BUILDER_VERSION}${opts}`;
}

export function buildInstrumentedModel(recipe: GraphRecipe, cacheRoot = defaultGraphCacheDir()): BuiltModel {
  const dir = path.join(cacheRoot, cacheKey(recipe));
  const specFile = path.join(dir, 'spec.json');
  if (fs.existsSync(specFile)) {
    // The same weights may sit at another path than the one that first built the graphs: report
    // where this checkpoint was read from, not where the cached copy came from.
    const spec = JSON.parse(fs.readFileSync(specFile, 'utf8')) as GraphSpec;
    return { dir, spec: { ...spec, source: recipe.source }, built: false };
  }
  fs.mkdirSync(cacheRoot, { recursive: true });
  // Build beside the final folder and rename into place: a crash mid-build leaves no
  // half-written folder that a later run would mistake for a finished one.
  const tmp = fs.mkdtempSync(path.join(cacheRoot, `.building-${process.pid}-`));
  try {
    const weights = new ExternalWeights(path.join(tmp, 'weights.bin'), 'weights.bin');
    recipe.writeWeights(weights);
    weights.close();
    const spec: GraphSpec = {
      builderVersion: BUILDER_VERSION,
      family: recipe.family,
      modelType: recipe.modelType,
      source: recipe.source,
      contentHash: recipe.contentHash,
      dModel: recipe.dModel,
      vocabSize: recipe.vocabSize,
      maxSeqLen: recipe.maxSeqLen,
      nBlocks: recipe.blocks.length,
      blocks: recipe.blocks,
      kv: recipe.kv,
      graphs: { plain: 'decoder.onnx', edit: 'decoder-edit.onnx' },
      weightsFile: 'weights.bin',
      weightsBytes: weights.size,
      bosTokenId: recipe.bosTokenId,
      eosTokenIds: recipe.eosTokenIds,
      options: recipe.options,
    };
    fs.writeFileSync(path.join(tmp, spec.graphs.plain), recipe.buildGraph(weights, false));
    fs.writeFileSync(path.join(tmp, spec.graphs.edit), recipe.buildGraph(weights, true));
    fs.writeFileSync(path.join(tmp, 'spec.json'), JSON.stringify(spec, null, 1));
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      // Another process finished the same build first: use theirs.
      if (!fs.existsSync(specFile)) throw e;
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    return { dir, spec, built: true };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
