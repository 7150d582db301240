/**
 * Builds (or finds already built) the instrumented graph of a checkpoint.
 *
 * Cache layout, one folder per checkpoint content and weight precision:
 *
 *   <cache>/<family>-<content hash>-<precision>/
 *     weights.bin          every parameter, converted once (see weights.ts)
 *     weights.json         its manifest; written after weights.bin is complete
 *     decoder-b4.onnx      a graph variant (huginn: one per num_steps / state init), external
 *     decoder-b4.json      data in weights.bin; the spec is written last and marks it complete
 *
 * ONNX Runtime refuses external data outside the graph's own folder, so the graphs sit beside the
 * one weights file they share. The key is the checkpoint's content hash (models/fingerprint.ts),
 * so editing a checkpoint in place builds afresh.
 *
 * Crash safety: every file is written as `<name>.partial-<host>-<pid>` and renamed into place, the
 * manifest after the weights and the spec after the graph, so a build killed at any moment leaves
 * no file a later run mistakes for a finished one. Partial files whose process is gone are
 * deleted by the next build, and so are folders of the layout before this one (each held its own
 * copy of the weights).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CheckpointProbe, LlamaCheckpoint, LlamaTensorReader } from '../checkpoint';
import { llamaCheckpointReader } from '../checkpoint';
import { buildLlamaGraph, llamaBlocks, llamaWeightPlan, writeLlamaWeights } from './llama';
import { buildHuginnGraph, huginnGraphBlocks, huginnWeightPlan, writeHuginnWeights } from './huginn';
import { huginnCheckpointReader, type HuginnCheckpoint, type HuginnProbe, type HuginnTensorReader } from '../huginn/checkpoint';
import { huginnOptionsRecord, resolveHuginnOptions, type HuginnOptionsInput } from '../huginn/options';
import { BUILDER_VERSION, type GraphSpec } from './spec';
import type { GraphForm } from './layers';
import {
  MANIFEST_FILE,
  WEIGHTS_FILE,
  WeightsWriter,
  plannedValues,
  precisionProblem,
  readManifest,
  type ConversionProgress,
  type PlannedWeight,
  type WeightPrecision,
  type WeightsManifest,
} from './weights';

export interface BuiltModel {
  /** The folder holding the weights file and the graph. */
  dir: string;
  spec: GraphSpec;
  /** True when this call built the graph (and maybe the weights), false when both were cached. */
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
  /** Every tensor writeWeights stores, known from the config (sizes, progress, memory checks). */
  weightPlan: PlannedWeight[];
  writeWeights(w: WeightsWriter): void;
  /** The graph, in one of its forms, over a written weights file. */
  buildGraph(weights: WeightsManifest, form: GraphForm): Uint8Array;
}

/**
 * How to build a Llama-family model. `reader` is only called when the weights are not converted
 * yet, so opening an already-built model never reads its weights.
 */
export function llamaRecipe(ckpt: LlamaCheckpoint): GraphRecipe;
export function llamaRecipe(probe: CheckpointProbe, reader: () => LlamaTensorReader): GraphRecipe;
export function llamaRecipe(ckpt: CheckpointProbe | LlamaCheckpoint, reader?: () => LlamaTensorReader): GraphRecipe {
  const tensors = reader ?? (() => llamaCheckpointReader(ckpt as LlamaCheckpoint));
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
    weightPlan: llamaWeightPlan(c),
    writeWeights: (w) => writeLlamaWeights(c, tensors(), w),
    buildGraph: (w, form) => buildLlamaGraph(c, ckpt.source, w, form),
  };
}

/**
 * How to build a recurrent-depth huginn_raven model unrolled to `options.numSteps` recurrences
 * (default: the config's mean_recurrence). `tensors` is only called when the weights are not
 * converted yet, and reads one tensor at a time. num_steps and the state init are recipe options:
 * they name the graph variant and are recorded in the spec (and from there in caches and runs);
 * the weights file does not depend on them.
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
    weightPlan: huginnWeightPlan(c),
    writeWeights: (w) => writeHuginnWeights(c, tensors(), w),
    buildGraph: (w, form) => buildHuginnGraph(c, opts, ckpt.source, w, form),
  };
}

export interface BuildOptions {
  /** Storage precision of the weights (default fp32). */
  precision?: WeightPrecision;
  /** Conversion progress: values written so far, of all, and what is being written. */
  onProgress?: ConversionProgress;
}

/** The folder of a checkpoint's weights at one precision (and of every graph over them). */
export function modelCacheDir(recipe: Pick<GraphRecipe, 'family' | 'contentHash'>, precision: WeightPrecision, cacheRoot = defaultGraphCacheDir()): string {
  return path.join(cacheRoot, `${recipe.family}-${recipe.contentHash.slice(0, 24)}-${precision}`);
}

/** The graph variant's file stem: builder version plus the architecture options. */
function variantName(r: GraphRecipe): string {
  const opts = Object.entries(r.options)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `-${k}${v}`)
    .join('');
  return `decoder-b${BUILDER_VERSION}${opts}`;
}

export function buildInstrumentedModel(recipe: GraphRecipe, cacheRoot = defaultGraphCacheDir(), opts: BuildOptions = {}): BuiltModel {
  const precision = opts.precision ?? 'fp32';
  const problem = precisionProblem(recipe.weightPlan, precision);
  if (problem) throw new Error(problem);
  const dir = modelCacheDir(recipe, precision, cacheRoot);
  const variant = variantName(recipe);
  const specFile = path.join(dir, `${variant}.json`);
  const graphFile = path.join(dir, `${variant}.onnx`);
  const allPositionsFile = path.join(dir, `${variant}-all-positions.onnx`);
  const weightsPath = path.join(dir, WEIGHTS_FILE);
  const manifestPath = path.join(dir, MANIFEST_FILE);

  let manifest = readManifest(manifestPath, weightsPath);
  if (manifest && fs.existsSync(specFile) && fs.existsSync(graphFile) && fs.existsSync(allPositionsFile)) {
    const spec = JSON.parse(fs.readFileSync(specFile, 'utf8')) as GraphSpec;
    // The same weights may sit at another path than the one that first built them: report
    // where this checkpoint was read from, not where the cached copy came from.
    return { dir, spec: { ...spec, source: recipe.source }, built: false };
  }

  fs.mkdirSync(dir, { recursive: true });
  removeOrphans(cacheRoot, dir, recipe);
  if (!manifest) {
    // Graphs of older weights (another layout version) must not outlive them.
    for (const f of fs.readdirSync(dir)) if (/^decoder-.*\.(json|onnx)$/.test(f)) fs.rmSync(path.join(dir, f), { force: true });
    manifest = writeWeightsFile(recipe, dir, precision, opts.onProgress);
  }
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
    graph: path.basename(graphFile),
    graphAllPositions: path.basename(allPositionsFile),
    weightsFile: WEIGHTS_FILE,
    precision,
    weightsBytes: manifest.parameterBytes,
    weightsFileBytes: manifest.fileBytes,
    bosTokenId: recipe.bosTokenId,
    eosTokenIds: recipe.eosTokenIds,
    options: recipe.options,
  };
  const files: [string, () => Uint8Array | string][] = [
    [graphFile, () => recipe.buildGraph(manifest, { edits: true, allPositions: false })],
    [allPositionsFile, () => recipe.buildGraph(manifest, { edits: true, allPositions: true })],
    // Last: its presence says the variant is complete.
    [specFile, () => JSON.stringify(spec, null, 1)],
  ];
  files.forEach(([file, make], i) => {
    opts.onProgress?.(i, files.length, `writing ${path.basename(file)}`);
    writeAtomically(file, make());
  });
  return { dir, spec, built: true };
}

/**
 * Writes another form of a built graph beside it (every hook point readable at every position) and
 * returns its path. Only tests use it: the edit-free form shows that all-zero edits leave every
 * output bit-identical; MatMulNBits at accuracy level 0 shows that int8/int4 graphs compute
 * exactly what their dequantized weights say.
 */
export function writeGraphForm(recipe: GraphRecipe, built: BuiltModel, form: Omit<GraphForm, 'allPositions'>): string {
  const manifest = readManifest(path.join(built.dir, MANIFEST_FILE), path.join(built.dir, WEIGHTS_FILE));
  if (!manifest) throw new Error(`no weights in ${built.dir}`);
  const tag = `${form.edits ? 'edits' : 'noedits'}${form.nbitsAccuracyLevel !== undefined ? `-acc${form.nbitsAccuracyLevel}` : ''}`;
  const file = path.join(built.dir, `${path.basename(built.spec.graph, '.onnx')}-test-${tag}.onnx`);
  writeAtomically(file, recipe.buildGraph(manifest, { ...form, allPositions: true }));
  return file;
}

function writeWeightsFile(recipe: GraphRecipe, dir: string, precision: WeightPrecision, onProgress?: ConversionProgress): WeightsManifest {
  const tmp = partialName(path.join(dir, WEIGHTS_FILE));
  const writer = new WeightsWriter(tmp, precision, recipe.contentHash, plannedValues(recipe.weightPlan), onProgress);
  try {
    recipe.writeWeights(writer);
  } catch (e) {
    writer.abandon();
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  const manifest = writer.finish();
  fs.renameSync(tmp, path.join(dir, WEIGHTS_FILE));
  writeAtomically(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest));
  return manifest;
}

const PARTIAL = /\.partial-(.+)-(\d+)$/;

function partialName(file: string): string {
  return `${file}.partial-${os.hostname()}-${process.pid}`;
}

/** Writes `data` to a partial file, fsyncs it and renames it over `file`. */
function writeAtomically(file: string, data: Uint8Array | string): void {
  const tmp = partialName(file);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** A partial file from another machine is left alone for a day (its writer may still be running). */
const FOREIGN_PARTIAL_MAX_AGE_MS = 24 * 3600 * 1000;

/**
 * Deletes what killed builds left behind: partial files of processes that are gone, in this
 * model's folder, and the folders of the previous cache layout for this checkpoint (a graph
 * folder per variant, each with its own weights copy, and `.building-<pid>-*` folders).
 */
function removeOrphans(cacheRoot: string, dir: string, recipe: GraphRecipe): void {
  for (const f of fs.readdirSync(dir)) {
    const m = PARTIAL.exec(f);
    if (m && isAbandoned(m[1], Number(m[2]), path.join(dir, f))) fs.rmSync(path.join(dir, f), { force: true });
  }
  const legacyPrefix = `${recipe.family}-${recipe.contentHash.slice(0, 24)}-b`;
  for (const f of fs.readdirSync(cacheRoot)) {
    const building = /^\.building-(\d+)-/.exec(f);
    const legacy = f.startsWith(legacyPrefix) && /^\d+/.test(f.slice(legacyPrefix.length));
    if (legacy || (building && !isAlive(Number(building[1])))) fs.rmSync(path.join(cacheRoot, f), { recursive: true, force: true });
  }
}

function isAbandoned(host: string, pid: number, file: string): boolean {
  if (host === os.hostname()) return pid !== process.pid && !isAlive(pid);
  try {
    return Date.now() - fs.statSync(file).mtimeMs > FOREIGN_PARTIAL_MAX_AGE_MS;
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
