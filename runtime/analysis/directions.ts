/**
 * Difference-of-means directions per hook point, as in the paper: mean(reasoning) −
 * mean(memorization) accumulated in float64, normalised to d̂ = d / (‖d‖ + 1e-8), with the raw
 * norm kept. Statistics say how well each layer's direction separates the two groups, on the
 * records it was computed from and on a held-out split it never saw.
 */
import { MIN_RECORDS_PER_LABEL } from '../protocol/jobs';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { splitHoldout } from '../../datasets/sample';
import type { Subset } from '../../datasets/records';
import { recoverFilesTogether, removeStaleTemps, withFsErrors, writeFilesTogether } from '../../models/common/files';
import { acquireOutputLock } from '../../models/common/lock';
import { openSafetensors, safetensorsContent } from '../../models/safetensors';
import { parseHookName } from '../../models/graph/spec';
import { openCache } from '../cache/inspect';
import { runSteps, runStepsCooperatively } from '../cooperate';
import type { DirectionLayerStats, DirectionStatsFile, SeparationStats } from '../protocol/results';
import { auc, cohensD, pearson } from './stats';

/**
 * Fewest records of each label a direction may be computed from. A mean over one record is that
 * record, not a direction of the label; two per label is also what the statistics need (Cohen's d
 * uses each group's variance).
 */
export { MIN_RECORDS_PER_LABEL };

export interface DirectionsOptions {
  /** Fraction of records (stratified by label) kept out of the mean, for held-out statistics. */
  holdout: number;
  seed: number;
  hooks?: string[];
  /** Fewest training records of each label (default MIN_RECORDS_PER_LABEL). */
  minPerLabel?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, hook: string) => void;
}

export interface DirectionsResult {
  directionsFile: string;
  statsFile: string;
  stats: DirectionStatsFile;
}

/** Directions that must not be written: too few records, or non-finite values. The old files stay. */
export class DirectionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DirectionsError';
  }
}

/** `<cache>.directions.safetensors` and `<cache>.directions.json` beside the cache. */
export function directionPaths(cacheFile: string): { directions: string; stats: string } {
  const base = cacheFile.replace(/\.safetensors$/, '');
  return { directions: `${base}.directions.safetensors`, stats: `${base}.directions.json` };
}

/**
 * Computes and writes the directions of a cache (synchronously; computeDirectionsAsync is the
 * cancellable twin). Both files are replaced together, under the directions' output lock, and
 * only when every direction is sound.
 */
export function computeDirections(cacheFile: string, opts: DirectionsOptions): DirectionsResult {
  return runSteps(directionSteps(cacheFile, opts), opts.signal);
}

/** computeDirections with turns of the event loop between steps, so that Ctrl-C and cancel stop it within a second. */
export function computeDirectionsAsync(cacheFile: string, opts: DirectionsOptions): Promise<DirectionsResult> {
  return runStepsCooperatively(directionSteps(cacheFile, opts), opts.signal);
}

/** Records between safe points of the accumulation loop. */
const ROWS_PER_STEP = 512;

const FS_HINT = 'the previous directions files are unchanged; free space or make the cache folder writable, then run compute-directions again';

/**
 * The directions' output lock is taken first, so a second writer fails at once; then a commit a
 * crash interrupted is finished (its journal names temporary files) and every other temporary
 * file of these outputs is a dead writer's — even when this run goes on to refuse its input.
 */
function* directionSteps(cacheFile: string, opts: DirectionsOptions): Generator<void, DirectionsResult> {
  const paths = directionPaths(cacheFile);
  const lock = acquireOutputLock(paths.directions, 'directions', { hint: FS_HINT });
  try {
    withFsErrors({ path: paths.directions, operation: 'finish an interrupted write of the directions', hint: FS_HINT }, () => {
      recoverFilesTogether([paths.directions, paths.stats]);
      for (const f of [paths.directions, paths.stats]) removeStaleTemps(f, { allButOurs: true });
    });
    return yield* computeAndWrite(cacheFile, paths, opts);
  } finally {
    lock.release();
  }
}

function* computeAndWrite(cacheFile: string, paths: { directions: string; stats: string }, opts: DirectionsOptions): Generator<void, DirectionsResult> {
  const cache = openCache(cacheFile);
  if (cache.metadata.positions === 'all') {
    throw new DirectionsError(`${cacheFile} holds every position of every prompt; directions need one row per record (save with --positions last or mean)`);
  }
  const labels = parseLabels(cache.metadata.labels, cacheFile, cache.recordIds.length);
  const scores = cache.metadata.scores ? (JSON.parse(cache.metadata.scores) as (number | null)[]) : undefined;
  const records = cache.recordIds.map((id, i) => ({ id, index: i, label: labels[i] ?? undefined }));
  const labelled = records.filter((r) => r.label !== undefined) as { id: string; index: number; label: Subset }[];
  const nR = labelled.filter((r) => r.label === 'reasoning').length;
  const nM = labelled.length - nR;
  if (nR === 0 || nM === 0) {
    throw new DirectionsError(`${cacheFile}: directions need both labels, found ${nR} reasoning and ${nM} memorization records (check the dataset's label rule)`);
  }
  const { train, test } = opts.holdout > 0 ? splitHoldout(labelled, opts.holdout, opts.seed) : { train: labelled, test: [] };
  const minPer = opts.minPerLabel ?? MIN_RECORDS_PER_LABEL;
  const trainR = train.filter((r) => r.label === 'reasoning').length;
  const trainM = train.length - trainR;
  if (trainR < minPer || trainM < minPer) {
    const why = opts.holdout > 0
      ? `--holdout ${opts.holdout} keeps ${test.length} of the ${labelled.length} labelled records out, leaving ${trainR} reasoning and ${trainM} memorization records`
      : `the cache has ${trainR} reasoning and ${trainM} memorization records`;
    throw new DirectionsError(
      `${cacheFile}: ${why} to compute the directions from; at least ${minPer} of each label are needed. ` +
        (opts.holdout > 0 ? 'Lower --holdout, or cache more records.' : 'Cache more records of the missing label.') + ' No directions were written.',
    );
  }

  const hooks = opts.hooks ?? cache.hooks;
  for (const h of hooks) {
    if (!cache.hooks.includes(h)) throw new DirectionsError(`${cacheFile} has no hook point ${h} (it has ${cache.hooks.join(', ')})`);
  }
  const d = cache.dModel;
  const tensors: { name: string; dtype: 'F32'; shape: number[]; data: Float32Array }[] = [];
  const layers: DirectionLayerStats[] = [];
  const projections: DirectionStatsFile['projections'] = {};
  const norms: Record<string, number> = {};
  for (const [hi, hook] of hooks.entries()) {
    yield;
    const rows = cache.read(hook);
    const sumR = new Float64Array(d);
    const sumM = new Float64Array(d);
    for (const [k, r] of train.entries()) {
      if (k % ROWS_PER_STEP === ROWS_PER_STEP - 1) yield;
      const sum = r.label === 'reasoning' ? sumR : sumM;
      const off = r.index * d;
      for (let j = 0; j < d; j++) sum[j] += rows[off + j];
    }
    const diff = new Float64Array(d);
    let sq = 0;
    for (let j = 0; j < d; j++) {
      diff[j] = sumR[j] / trainR - sumM[j] / trainM;
      sq += diff[j] * diff[j];
    }
    const norm = Math.sqrt(sq);
    if (!Number.isFinite(norm)) throw nonFinite(cacheFile, hook, rows, train, d);
    const unit = Float32Array.from(diff, (v) => v / (norm + 1e-8));
    tensors.push({ name: hook, dtype: 'F32', shape: [d], data: unit });
    norms[hook] = norm;

    const project = (i: number) => {
      let s = 0;
      const off = i * d;
      for (let j = 0; j < d; j++) s += rows[off + j] * unit[j];
      return s;
    };
    const stat = (set: typeof labelled): SeparationStats => {
      const pr = set.filter((r) => r.label === 'reasoning').map((r) => project(r.index));
      const pm = set.filter((r) => r.label === 'memorization').map((r) => project(r.index));
      const out: SeparationStats = { n: set.length, auc: auc(pr, pm), cohensD: cohensD(pr, pm) };
      if (scores) {
        const withScore = set.filter((r) => typeof scores[r.index] === 'number');
        if (withScore.length >= 2) out.pearsonR = pearson(withScore.map((r) => project(r.index)), withScore.map((r) => scores[r.index] as number));
      }
      return out;
    };
    const { block } = parseHookName(hook, Number.MAX_SAFE_INTEGER);
    layers.push({ hook, block, norm, nReasoning: trainR, nMemorization: trainM, train: stat(train), ...(test.length ? { heldOut: stat(test) } : {}) });
    projections[hook] = [
      ...train.map((r) => ({ id: r.id, subset: r.label, split: 'train' as const, value: project(r.index) })),
      ...test.map((r) => ({ id: r.id, subset: r.label, split: 'heldout' as const, value: project(r.index) })),
    ];
    opts.onProgress?.(hi + 1, hooks.length, hook);
  }
  yield;

  const stats: DirectionStatsFile = {
    format: 'layerlab-directions',
    version: 1,
    cache: { path: cacheFile, dataName: cache.metadata.data_name ?? '' },
    holdout: { fraction: opts.holdout, seed: opts.seed },
    layers,
    projections,
  };
  const metadata: Record<string, string> = {
    format: 'layerlab-directions',
    cache_file: path.basename(cacheFile),
    cache_identity_sha: cache.metadata.identity ? hashText(cache.metadata.identity) : '',
    data_name: cache.metadata.data_name ?? '',
    model_hash: cache.metadata.model_hash ?? '',
    ...(cache.metadata.model_options !== undefined ? { model_options: cache.metadata.model_options } : {}),
    holdout: String(opts.holdout),
    seed: String(opts.seed),
    norms: JSON.stringify(norms),
    train_ids: JSON.stringify(train.map((r) => r.id)),
    heldout_ids: JSON.stringify(test.map((r) => r.id)),
  };
  // The two files name the same commit, a hash of what they hold, so a reader can tell a matched
  // pair from one left mixed by a crash (and the same inputs still give byte-identical files).
  const commit = pairCommit(stats, metadata, tensors);
  const statsText = JSON.stringify({ ...stats, commit }, null, 1);

  writeFilesTogether(
    [
      { file: paths.directions, content: safetensorsContent(tensors, { ...metadata, commit }) },
      { file: paths.stats, content: statsText },
    ],
    { operation: 'write the directions and their statistics', hint: FS_HINT },
  );
  return { directionsFile: paths.directions, statsFile: paths.stats, stats };
}

function pairCommit(stats: DirectionStatsFile, metadata: Record<string, string>, tensors: { name: string; data: Float32Array }[]): string {
  const h = createHash('sha256').update(JSON.stringify(stats)).update(JSON.stringify(metadata));
  for (const t of tensors) h.update(t.name).update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return h.digest('hex').slice(0, 16);
}

/** Names the first training record whose row holds a non-finite value at this hook point. */
function nonFinite(cacheFile: string, hook: string, rows: Float32Array, train: { id: string; index: number }[], d: number): DirectionsError {
  for (const r of train) {
    for (let j = 0; j < d; j++) {
      const v = rows[r.index * d + j];
      if (!Number.isFinite(v)) {
        return new DirectionsError(
          `${cacheFile}: the direction at ${hook} is not finite: record ${r.index} (id ${r.id}) holds ${v} at dimension ${j}. ` +
            'The cache was written from a model that computed NaN or infinity; recompute it (caching now stops at such a record). No directions were written.',
        );
      }
    }
  }
  return new DirectionsError(`${cacheFile}: the direction at ${hook} is not finite (the means overflow). No directions were written.`);
}

function parseLabels(raw: string | undefined, file: string, n: number): (Subset | null)[] {
  if (!raw) throw new Error(`${file} records no labels: save hidden states from a labelled dataset to compute directions`);
  const labels = JSON.parse(raw) as (Subset | null)[];
  if (labels.length !== n) throw new Error(`${file}: ${labels.length} labels for ${n} rows`);
  return labels;
}

/**
 * Refuses directions whose statistics file beside them belongs to another commit: a crash
 * between the two renames of a commit, not yet finished by the next compute-directions.
 */
function checkPair(file: string, commit: string | undefined): void {
  if (!commit || !file.endsWith('.directions.safetensors')) return;
  const statsFile = file.replace(/\.safetensors$/, '.json');
  let other: unknown;
  try {
    other = (JSON.parse(fs.readFileSync(statsFile, 'utf8')) as { commit?: unknown }).commit;
  } catch {
    return; // no statistics beside it (copied alone): nothing to compare
  }
  if (other !== commit) {
    throw new DirectionsError(`${file} and ${statsFile} come from different runs of compute-directions (one was interrupted): run compute-directions again to rewrite both`);
  }
}

function hashText(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16);
}

export interface LoadedDirections {
  file: string;
  /** Unit direction per hook point. */
  directions: Map<string, Float32Array>;
  norms: Record<string, number>;
  metadata: Record<string, string>;
  /** Record ids the means were computed from: an evaluation uses them to hold these out. */
  trainIds: string[];
}

export function loadDirections(file: string): LoadedDirections {
  const st = openSafetensors(file);
  if (st.metadata.format !== 'layerlab-directions') throw new Error(`${file} is not a LayerLab directions file`);
  checkPair(file, st.metadata.commit);
  const directions = new Map<string, Float32Array>();
  for (const name of st.names) directions.set(name, st.read(name).data);
  return {
    file,
    directions,
    norms: JSON.parse(st.metadata.norms ?? '{}'),
    metadata: st.metadata,
    trainIds: JSON.parse(st.metadata.train_ids ?? '[]'),
  };
}
