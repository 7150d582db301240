/**
 * The argv each palette command sends with `layerlab/runJob`: exactly what the CLI twin
 * (`layerlab <job> …`) would be given, so a palette run can be repeated from a terminal (the
 * log shows the line). Flag names follow the seed's scripts (snake_case; the CLI also accepts
 * kebab-case). This file is the one place the extension knows them.
 */
import * as path from 'node:path';
import type { JobName, ProviderPreference } from '../runtime/protocol/requests';
import { OUTPUT_SUBFOLDERS } from '../runtime/protocol/workspace';

export interface ModelRunSettings {
  provider: ProviderPreference;
  threads: number;
}

export type HookChoice = 'post' | 'pre';

/** Defaults shared with the CLI twins (the seed's defaults). */
export const JOB_DEFAULTS = Object.freeze({
  scale: 0.1,
  hook: 'post' as HookChoice,
  maxNewTokens: 200,
});

export function modelArgs(model: string, s: ModelRunSettings): string[] {
  return ['--model', model, '--provider', s.provider, ...(s.threads > 0 ? ['--threads', String(s.threads)] : [])];
}

export interface SaveHiddenStatesInputs {
  model: string;
  dataFile: string;
  dataName: string;
  /** The output folder; the cache goes to its hidden-states sub-folder. */
  outputPath: string;
  batchSize: number;
}

export function saveHiddenStatesArgs(i: SaveHiddenStatesInputs, s: ModelRunSettings): string[] {
  return [
    ...modelArgs(i.model, s),
    '--data_file_path', i.dataFile,
    '--data_name', i.dataName,
    '--output_path', path.join(i.outputPath, OUTPUT_SUBFOLDERS.cache),
    '--data_batch_size', String(i.batchSize),
  ];
}

export interface ComputeDirectionsInputs {
  cacheFile: string;
}

/** The directions and their statistics are written beside the cache file. */
export function computeDirectionsArgs(i: ComputeDirectionsInputs): string[] {
  return [i.cacheFile];
}

export interface EvaluateInputs {
  model: string;
  dataFile: string;
  /** Cache file the directions come from. */
  cacheFile: string;
  layers: number[];
  hook: HookChoice;
  scale: number;
  batchSize: number;
  maxNewTokens: number;
  outputPath: string;
}

export function evaluateArgs(i: EvaluateInputs, s: ModelRunSettings): string[] {
  if (i.layers.length === 0) throw new RangeError('evaluate needs at least one layer');
  return [
    ...modelArgs(i.model, s),
    '--hidden_states_cache_path', i.cacheFile,
    '--data_file', i.dataFile,
    '--with_intervention',
    '--layer_indices', ...i.layers.map(String),
    i.hook === 'post' ? '--with_post_hook' : '--with_pre_hook',
    '--scale', String(i.scale),
    '--batch_size', String(i.batchSize),
    '--max_new_tokens', String(i.maxNewTokens),
    '--output_path', path.join(i.outputPath, OUTPUT_SUBFOLDERS.runs),
  ];
}

export type SweepInputs = Omit<EvaluateInputs, 'layers'>;

/** A sweep evaluates every layer in turn (one run file), so it takes no layer list. */
export function sweepArgs(i: SweepInputs, s: ModelRunSettings): string[] {
  return [
    ...modelArgs(i.model, s),
    '--hidden_states_cache_path', i.cacheFile,
    '--data_file', i.dataFile,
    i.hook === 'post' ? '--with_post_hook' : '--with_pre_hook',
    '--scales', String(i.scale),
    '--batch_size', String(i.batchSize),
    '--max_new_tokens', String(i.maxNewTokens),
    '--output_path', path.join(i.outputPath, OUTPUT_SUBFOLDERS.runs),
  ];
}

export interface DemoInputs {
  modelsPath: string;
  datasetsPath: string;
  outputPath: string;
}

/**
 * The demo writes its model into the models folder, its dataset into the datasets folder and
 * its cache, directions and sweep run under the output folder, so the views show all of it.
 */
export function demoArgs(i: DemoInputs, s: ModelRunSettings): string[] {
  return [
    '--models_path', i.modelsPath,
    '--datasets_path', i.datasetsPath,
    '--output_path', i.outputPath,
    '--provider', s.provider,
    ...(s.threads > 0 ? ['--threads', String(s.threads)] : []),
  ];
}

/** `layerlab <job> ARGS` as a shell line, for the log (so a palette run can be repeated). */
export function cliLine(job: JobName, args: string[]): string {
  return ['layerlab', job, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** A dataset's default name: its file name without extension (the seed's --data_name). */
export function defaultDataName(file: string): string {
  return path.basename(file).replace(/\.(jsonl|json|parquet)$/i, '');
}

/**
 * Parses a layer list as typed in an input box: `66`, `64 66 68`, `64,66`, `60-64`. Returns the
 * sorted unique layers, or an error message naming the problem (for the input box's validation).
 */
export function parseLayerList(text: string, nBlocks?: number): number[] | string {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0) return 'enter at least one layer, e.g. 12 or 10-14';
  const layers = new Set<number>();
  for (const p of parts) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (!m) return `'${p}' is not a layer number or range (like 12 or 10-14)`;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) return `range ${p} runs backwards`;
    for (let l = a; l <= b; l++) {
      if (nBlocks !== undefined && l >= nBlocks) return `layer ${l} does not exist: the model has blocks 0..${nBlocks - 1}`;
      layers.add(l);
    }
  }
  return [...layers].sort((x, y) => x - y);
}

/** The middle block, the seed's default choice (layer 66 of huginn's 132). */
export function middleLayer(nBlocks: number): number {
  return Math.floor(nBlocks / 2);
}

export function parseScale(text: string): number | string {
  const n = Number(text.trim());
  return text.trim() !== '' && Number.isFinite(n) ? n : `'${text}' is not a number`;
}
