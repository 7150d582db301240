/**
 * Where an evaluation's directions come from (a directions file, or the hidden-state cache of
 * command 1, computing them when only the cache exists), which direction each edited hook point
 * gets, and the random unit directions of the control condition.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mulberry32 } from '../../models/common/prng';
import { hookName, type GraphSpec, type HookKind } from '../../models/graph/spec';
import { openSafetensors } from '../../models/safetensors';
import { computeDirections, directionPaths, loadDirections, type LoadedDirections } from '../analysis/directions';
import { modelCacheName } from '../cache/saveHiddenStates';
import { baseName } from './data';
import { EvaluateError, type CommonEvalOptions } from './options';
import { directionCandidates } from '../protocol/directionHooks';

export interface DirectionSource {
  /** The directions file. */
  file: string;
  /** sha256 of its bytes (first 16 hex digits), recorded in the run. */
  contentHash: string;
  loaded: LoadedDirections;
  /** The data the directions were computed from (the cache's data name). */
  dataName?: string;
  /** sha256 of that data file, from the cache's header when the cache is beside the directions. */
  dataHash?: string;
  /** True when this evaluation computed the file from the cache. */
  computed: boolean;
  cacheFile?: string;
}

/**
 * The model's folder name under the cache and runs folders: save-hidden-states' rule, whatever
 * spelling named the model (`--model_name stories260K.bin` and `--model …/stories260K.bin` both
 * give `stories260K`), so that command 2 finds command 1's cache.
 */
export function modelNameOf(modelSource: string): string {
  return modelCacheName(modelSource);
}

/**
 * The cache file of command 1: `--hidden_states_cache_path` may name the file, or the seed's
 * folder holding `<model_name>/<data_name>.safetensors`. The data name is that of the labelled
 * file the cache was saved from: `--mmlu_pro_3000samples_data_file_path`'s name when given (as in
 * the seed), else the test data's name.
 */
export function cacheFileFor(o: Pick<CommonEvalOptions, 'hiddenStatesCachePath' | 'mmluPro3000samplesDataFilePath'>, modelName: string, testDataName: string): string | undefined {
  if (o.hiddenStatesCachePath === undefined) return undefined;
  const p = path.resolve(o.hiddenStatesCachePath);
  if (p.endsWith('.safetensors') || (fs.existsSync(p) && fs.statSync(p).isFile())) return p;
  const dataName = o.mmluPro3000samplesDataFilePath !== undefined ? baseName(o.mmluPro3000samplesDataFilePath) : testDataName;
  return path.join(p, modelName, `${dataName}.safetensors`);
}

export function fileHash(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 16);
}

/**
 * `--direction_file`, else the directions beside the cache (`<cache>.directions.safetensors`),
 * computing them from the cache first when they are missing (with a held-out fraction, so that a
 * held-out evaluation has records left). Returns undefined when no source was given.
 */
export function resolveDirections(
  o: CommonEvalOptions,
  where: { modelName: string; testDataName: string; seed: number; holdout: number },
  log: (m: string) => void,
): DirectionSource | undefined {
  if (o.directionFile !== undefined) return openDirections(path.resolve(o.directionFile), false);
  const cache = cacheFileFor(o, where.modelName, where.testDataName);
  if (cache === undefined) return undefined;
  const dirs = directionPaths(cache).directions;
  if (fs.existsSync(dirs)) return { ...openDirections(dirs, false), cacheFile: cache };
  if (!fs.existsSync(cache)) {
    throw new EvaluateError(
      `no hidden-state cache at ${cache} (nor directions at ${dirs}): run save-hidden-states for this model and data first, ` +
        'or pass --direction_file, or --hidden_states_cache_path pointing at the cache file',
    );
  }
  log(`computing directions from ${cache} (held-out fraction ${where.holdout}, seed ${where.seed}) → ${dirs}`);
  computeDirections(cache, { holdout: where.holdout, seed: where.seed });
  return { ...openDirections(dirs, true), cacheFile: cache };
}

function openDirections(file: string, computed: boolean): DirectionSource {
  if (!fs.existsSync(file)) throw new EvaluateError(`directions file ${file} does not exist`);
  let loaded: LoadedDirections;
  try {
    loaded = loadDirections(file);
  } catch (e) {
    throw new EvaluateError(`${file}: ${(e as Error).message} (directions files come from compute-directions)`);
  }
  const src: DirectionSource = { file, contentHash: fileHash(file), loaded, computed };
  if (loaded.metadata.data_name) src.dataName = loaded.metadata.data_name;
  // The cache (beside its directions) knows the exact data file: a stronger check than the name.
  const cacheName = loaded.metadata.cache_file;
  if (cacheName) {
    const cacheFile = path.join(path.dirname(file), cacheName);
    try {
      const hash = openSafetensors(cacheFile).metadata.data_hash;
      if (hash) src.dataHash = hash;
    } catch {
      // No cache beside the file (directions copied elsewhere): the data name has to do.
    }
  }
  return src;
}

/**
 * The unit direction for an edit at `blocks.{block}.{kind}`: that hook point's own direction (so
 * that, as in SEED.md, what was measured and where it is applied agree), or with `directionLayer`
 * block k's direction of the same kind (the paper code's mode). A plain decoder's input of block
 * l is the output of block l−1, so a file holding only one kind still serves the other there.
 */
export function directionFor(
  src: DirectionSource,
  spec: GraphSpec,
  block: number,
  kind: HookKind,
  directionLayer?: number,
): { hook: string; fromHook: string; vector: Float32Array } {
  const hook = hookName(block, kind);
  const from = directionLayer ?? block;
  if (!Number.isInteger(from) || from < 0 || from >= spec.nBlocks) {
    throw new EvaluateError(`--direction_layer ${from} is out of range: this model has blocks 0..${spec.nBlocks - 1}`);
  }
  const candidates = directionCandidates(from, kind, spec.blocks.map((b) => b.part));
  const fromHook = candidates.find((c) => src.loaded.directions.has(c));
  if (!fromHook) {
    const have = [...src.loaded.directions.keys()];
    throw new EvaluateError(
      `${src.file} has no direction for ${candidates[0]} (it has ${have.length > 8 ? `${have.slice(0, 8).join(', ')}, … ${have.length} in all` : have.join(', ')}); ` +
        'save hidden states at that hook point, or choose layers the file covers',
    );
  }
  const vector = src.loaded.directions.get(fromHook)!;
  if (vector.length !== spec.dModel) {
    throw new EvaluateError(`${src.file}: the direction for ${fromHook} has ${vector.length} values but the model's d_model is ${spec.dModel}: these directions belong to another model`);
  }
  return { hook, fromHook, vector };
}

/**
 * `count` random unit vectors in d dimensions, a pure function of (seed, count, d): Gaussian
 * components (Box-Muller over mulberry32, so every machine draws the same ones) normalised,
 * which makes the direction uniform on the sphere.
 */
export function randomUnitVectors(count: number, d: number, seed: number): Float32Array[] {
  const rand = mulberry32(seed);
  const out: Float32Array[] = [];
  for (let k = 0; k < count; k++) {
    const v = new Float64Array(d);
    for (let i = 0; i < d; i += 2) {
      const u1 = Math.max(rand(), Number.MIN_VALUE);
      const u2 = rand();
      const r = Math.sqrt(-2 * Math.log(u1));
      v[i] = r * Math.cos(2 * Math.PI * u2);
      if (i + 1 < d) v[i + 1] = r * Math.sin(2 * Math.PI * u2);
    }
    const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    out.push(Float32Array.from(v, (x) => x / norm));
  }
  return out;
}
