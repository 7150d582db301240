/**
 * The seed's first command: run the model over a dataset and keep each hook point's hidden
 * state (by default the output of every block at the last prompt token), one cache file per
 * dataset under `<output>/<model>/<data_name>.safetensors`.
 */
import * as path from 'node:path';
import { loadDataset, sampleRecords, type Dataset } from '../../datasets';
import { describeTemplate, formatLabelRule } from '../../datasets';
import { allHookNames, hookName, parseHookName } from '../../models/graph/spec';
import type { OpenedModel } from '../openModel';
import { chooseTemplate, promptEncoder } from '../prompting';
import { LAYERLAB_VERSION } from '../version';
import { collectGarbage } from '../memory';
import type { ReadPositions } from '../model';
import { writeHiddenStateCache, type CacheDtype, type CacheResult } from './writer';

export interface SaveHiddenStatesOptions {
  dataFile: string;
  /** Key of this dataset in the cache folder; default: the file name without extension. */
  dataName?: string;
  kind?: string;
  split?: string;
  labelRule?: string;
  outputPath: string;
  /** Use a seeded sample of this many records (all when absent). */
  sampleSize?: number;
  seed: number;
  batchSize: number;
  /** Hook names, or the keywords `post` (every block's output, the default), `pre`, `all`. */
  hooks?: string[];
  positions: ReadPositions;
  dtype: CacheDtype;
  template?: string;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  log?: (msg: string) => void;
}

export interface SaveHiddenStatesResult extends CacheResult {
  dataset: Dataset;
  hooks: string[];
}

/** Folder name of a model in the cache: the model folder's name, or a llama2.c file's stem. */
export function modelCacheName(modelPath: string): string {
  return path.basename(modelPath).replace(/\.bin$/, '');
}

export function cacheFileFor(outputPath: string, modelPath: string, dataName: string): string {
  return path.resolve(outputPath, modelCacheName(modelPath), `${dataName}.safetensors`);
}

/** Expands `post` / `pre` / `all` and checks explicit names against the model. */
export function resolveHooks(spec: string[] | undefined, nBlocks: number): string[] {
  const out: string[] = [];
  for (const item of spec?.length ? spec : ['post']) {
    if (item === 'post' || item === 'pre') {
      for (let l = 0; l < nBlocks; l++) out.push(hookName(l, item === 'post' ? 'hook_resid_post' : 'hook_resid_pre'));
    } else if (item === 'all') {
      out.push(...allHookNames(nBlocks));
    } else {
      parseHookName(item, nBlocks);
      out.push(item.trim());
    }
  }
  return [...new Set(out)];
}

export async function saveHiddenStates(opened: OpenedModel, opts: SaveHiddenStatesOptions): Promise<SaveHiddenStatesResult> {
  const log = opts.log ?? (() => {});
  const { model, tokenizer, checkpoint } = opened;
  const full = await loadDataset(opts.dataFile, { kind: opts.kind, split: opts.split, labelRule: opts.labelRule, name: opts.dataName });
  for (const w of full.warnings ?? []) log(`warning: ${w}`);
  const records = opts.sampleSize !== undefined && opts.sampleSize < full.records.length ? sampleRecords(full.records, opts.sampleSize, opts.seed) : full.records;
  const dataName = opts.dataName ?? path.basename(opts.dataFile).replace(/\.(jsonl?|parquet)$/, '');
  // Parsing and validating a large file leaves garbage that would otherwise set the peak.
  collectGarbage();
  const hooks = resolveHooks(opts.hooks, model.spec.nBlocks);
  const { template, why } = chooseTemplate(tokenizer, opts.template);
  log(`prompt template: ${describeTemplate(template).name} (${why})`);
  const encoder = promptEncoder(tokenizer, template, checkpoint.path);
  const file = cacheFileFor(opts.outputPath, checkpoint.path, dataName);

  const metadata: Record<string, string> = {
    layerlab_version: LAYERLAB_VERSION,
    model_path: checkpoint.path,
    model_hash: checkpoint.contentHash,
    model_type: model.spec.modelType,
    model_options: JSON.stringify(model.spec.options),
    model_weights: model.spec.precision,
    block_labels: JSON.stringify(model.spec.blocks.map((b) => b.label)),
    tokenizer: tokenizer.source,
    data_file: path.resolve(opts.dataFile),
    data_hash: full.contentHash,
    data_name: dataName,
    data_kind: full.kind,
    ...(full.split ? { data_split: full.split } : {}),
    label_rule: full.labelRule ? formatLabelRule(full.labelRule) : 'none',
    n_records: String(records.length),
    sample: opts.sampleSize !== undefined ? JSON.stringify({ size: opts.sampleSize, seed: opts.seed }) : 'all',
    prompt_template: JSON.stringify(describeTemplate(template)),
    labels: JSON.stringify(records.map((r) => r.label ?? null)),
    scores: JSON.stringify(records.map((r) => r.score ?? null)),
  };
  log(`caching ${hooks.length} hook points × ${records.length} records (${opts.positions} position${opts.positions === 'all' ? 's' : ''}, ${opts.dtype}) → ${file}`);
  const result = await writeHiddenStateCache(model, {
    file,
    hooks,
    positions: opts.positions,
    dtype: opts.dtype,
    batchSize: opts.batchSize,
    recordIds: records.map((r) => r.id),
    tokens: (i) => encoder.tokens(records[i]),
    metadata,
    signal: opts.signal,
    onProgress: opts.onProgress,
  });
  return { ...result, dataset: { ...full, records }, hooks };
}
