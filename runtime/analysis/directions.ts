/**
 * Difference-of-means directions per hook point, as in the paper: mean(reasoning) −
 * mean(memorization) accumulated in float64, normalised to d̂ = d / (‖d‖ + 1e-8), with the raw
 * norm kept. Statistics say how well each layer's direction separates the two groups, on the
 * records it was computed from and on a held-out split it never saw.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { splitHoldout } from '../../datasets/sample';
import type { Subset } from '../../datasets/records';
import { openSafetensors, writeSafetensors } from '../../models/safetensors';
import { parseHookName } from '../../models/graph/spec';
import { openCache } from '../cache/inspect';
import type { DirectionLayerStats, DirectionStatsFile, SeparationStats } from '../protocol/results';
import { auc, cohensD, pearson } from './stats';
import { CancelledError } from '../generate';

export interface DirectionsOptions {
  /** Fraction of records (stratified by label) kept out of the mean, for held-out statistics. */
  holdout: number;
  seed: number;
  hooks?: string[];
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, hook: string) => void;
}

export interface DirectionsResult {
  directionsFile: string;
  statsFile: string;
  stats: DirectionStatsFile;
}

/** `<cache>.directions.safetensors` and `<cache>.directions.json` beside the cache. */
export function directionPaths(cacheFile: string): { directions: string; stats: string } {
  const base = cacheFile.replace(/\.safetensors$/, '');
  return { directions: `${base}.directions.safetensors`, stats: `${base}.directions.json` };
}

export function computeDirections(cacheFile: string, opts: DirectionsOptions): DirectionsResult {
  const cache = openCache(cacheFile);
  if (cache.metadata.positions === 'all') {
    throw new Error(`${cacheFile} holds every position of every prompt; directions need one row per record (save with --positions last or mean)`);
  }
  const labels = parseLabels(cache.metadata.labels, cacheFile, cache.recordIds.length);
  const scores = cache.metadata.scores ? (JSON.parse(cache.metadata.scores) as (number | null)[]) : undefined;
  const records = cache.recordIds.map((id, i) => ({ id, index: i, label: labels[i] ?? undefined }));
  const labelled = records.filter((r) => r.label !== undefined) as { id: string; index: number; label: Subset }[];
  const nR = labelled.filter((r) => r.label === 'reasoning').length;
  const nM = labelled.length - nR;
  if (nR === 0 || nM === 0) {
    throw new Error(`${cacheFile}: directions need both labels, found ${nR} reasoning and ${nM} memorization records (check the dataset's label rule)`);
  }
  const { train, test } = opts.holdout > 0 ? splitHoldout(labelled, opts.holdout, opts.seed) : { train: labelled, test: [] };

  const hooks = opts.hooks ?? cache.hooks;
  for (const h of hooks) {
    if (!cache.hooks.includes(h)) throw new Error(`${cacheFile} has no hook point ${h} (it has ${cache.hooks.join(', ')})`);
  }
  const d = cache.dModel;
  const tensors: { name: string; dtype: 'F32'; shape: number[]; data: Float32Array }[] = [];
  const layers: DirectionLayerStats[] = [];
  const projections: DirectionStatsFile['projections'] = {};
  const norms: Record<string, number> = {};
  hooks.forEach((hook, hi) => {
    if (opts.signal?.aborted) throw new CancelledError();
    const rows = cache.read(hook);
    const sumR = new Float64Array(d);
    const sumM = new Float64Array(d);
    let cR = 0;
    let cM = 0;
    for (const r of train) {
      const sum = r.label === 'reasoning' ? sumR : sumM;
      const off = r.index * d;
      for (let j = 0; j < d; j++) sum[j] += rows[off + j];
      if (r.label === 'reasoning') cR++;
      else cM++;
    }
    const diff = new Float64Array(d);
    let sq = 0;
    for (let j = 0; j < d; j++) {
      diff[j] = sumR[j] / cR - sumM[j] / cM;
      sq += diff[j] * diff[j];
    }
    const norm = Math.sqrt(sq);
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
    layers.push({ hook, block, norm, nReasoning: cR, nMemorization: cM, train: stat(train), ...(test.length ? { heldOut: stat(test) } : {}) });
    projections[hook] = [
      ...train.map((r) => ({ id: r.id, subset: r.label, split: 'train' as const, value: project(r.index) })),
      ...test.map((r) => ({ id: r.id, subset: r.label, split: 'heldout' as const, value: project(r.index) })),
    ];
    opts.onProgress?.(hi + 1, hooks.length, hook);
  });

  const paths = directionPaths(cacheFile);
  writeSafetensors(paths.directions, tensors, {
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
  });
  const stats: DirectionStatsFile = {
    format: 'layerlab-directions',
    version: 1,
    cache: { path: cacheFile, dataName: cache.metadata.data_name ?? '' },
    holdout: { fraction: opts.holdout, seed: opts.seed },
    layers,
    projections,
  };
  const tmp = `${paths.stats}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(stats, null, 1));
  fs.renameSync(tmp, paths.stats);
  return { directionsFile: paths.directions, statsFile: paths.stats, stats };
}

function parseLabels(raw: string | undefined, file: string, n: number): (Subset | null)[] {
  if (!raw) throw new Error(`${file} records no labels: save hidden states from a labelled dataset to compute directions`);
  const labels = JSON.parse(raw) as (Subset | null)[];
  if (labels.length !== n) throw new Error(`${file}: ${labels.length} labels for ${n} rows`);
  return labels;
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
