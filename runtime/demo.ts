/**
 * LayerLab's main job on its built-in demo model and data, with no download: write the demo
 * model and a labelled dataset, cache every block's hidden states, compute the directions,
 * then sweep interventions along them (with the baseline and random-direction controls) into
 * one run file that the chart opens. The same function backs `layerlab demo` and "LayerLab:
 * Run Demo".
 *
 * The demo model's weights are random: the numbers exercise the pipeline, not a finding.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoDataset } from '../datasets/demo';
import { writeDemoModel } from '../models/demo';
import { computeDirectionsAsync } from './analysis/directions';
import { saveHiddenStates } from './cache/saveHiddenStates';
import { runSweep } from './evaluate';
import type { OpenedModel } from './openModel';
import { DEMO_MODEL_NAME, OUTPUT_SUBFOLDERS, WORKSPACE_DEFAULTS } from './protocol/workspace';

export const DEMO_DATA_NAME = 'demo-reason-mem';
/** Records in the demo dataset: enough for a 25% held-out split of ~50 items. */
export const DEMO_RECORDS = 200;

export interface DemoPaths {
  modelDir: string;
  dataFile: string;
  cacheRoot: string;
  runsRoot: string;
}

export function demoPaths(o: { modelsPath?: string; datasetsPath?: string; outputPath?: string } = {}): DemoPaths {
  const output = o.outputPath ?? WORKSPACE_DEFAULTS.outputPath;
  return {
    modelDir: path.resolve(o.modelsPath ?? WORKSPACE_DEFAULTS.modelsPath, DEMO_MODEL_NAME),
    dataFile: path.resolve(o.datasetsPath ?? WORKSPACE_DEFAULTS.datasetsPath, `${DEMO_DATA_NAME}.json`),
    cacheRoot: path.resolve(output, OUTPUT_SUBFOLDERS.cache),
    runsRoot: path.resolve(output, OUTPUT_SUBFOLDERS.runs),
  };
}

/** Writes the demo model and dataset (deterministic: rewriting changes no byte). */
export function writeDemoInputs(p: DemoPaths): void {
  if (!fs.existsSync(path.join(p.modelDir, 'config.json'))) writeDemoModel(p.modelDir);
  if (!fs.existsSync(p.dataFile)) {
    fs.mkdirSync(path.dirname(p.dataFile), { recursive: true });
    writeDemoDataset(p.dataFile, { n: DEMO_RECORDS, seed: 0 });
  }
}

export interface DemoResult {
  cacheFile: string;
  directionsFile: string;
  statsFile: string;
  runFile: string;
  lines: string[];
}

export interface DemoStepReport {
  (step: number, steps: number, message: string): void;
}

export async function runDemoPipeline(
  opened: OpenedModel,
  p: DemoPaths,
  ctx: { signal?: AbortSignal; step: DemoStepReport; log: (m: string) => void; out?: (line: string) => void },
): Promise<DemoResult> {
  const steps = 3;
  ctx.step(0, steps, 'caching hidden states');
  const cache = await saveHiddenStates(opened, {
    dataFile: p.dataFile,
    dataName: DEMO_DATA_NAME,
    outputPath: p.cacheRoot,
    seed: 0,
    batchSize: 8,
    positions: 'last',
    dtype: 'float32',
    hooks: ['all'],
    signal: ctx.signal,
    log: ctx.log,
  });
  if (cache.alreadyComplete) ctx.log(`hidden states already cached: ${cache.file}`);
  else if (cache.resumedFrom > 0) ctx.log(`resumed the hidden-state cache after ${cache.resumedFrom} records`);
  ctx.signal?.throwIfAborted();
  ctx.step(1, steps, 'computing directions');
  const dirs = await computeDirectionsAsync(cache.file, { holdout: 0.25, seed: 0, signal: ctx.signal });
  ctx.step(2, steps, 'sweeping interventions');
  // Log-probability scoring: an untrained model almost never writes "the answer is (X)", so
  // generation would score everything as unparsed; option log-probabilities still vary by layer.
  const sweep = await runSweep(
    {
      dataFile: p.dataFile,
      directionFile: dirs.directionsFile,
      split: 'holdout',
      sampleSize: DEMO_RECORDS,
      seed: 0,
      scoring: 'loglik',
      batchSize: 8,
      withPreHook: true,
      withPostHook: true,
      scales: [-4, 4],
      randomControls: 1,
      outputPath: p.runsRoot,
      argv: ['demo'],
    },
    { model: opened.model, tokenizer: opened.tokenizer, signal: ctx.signal, log: ctx.log, out: ctx.out },
  );
  ctx.step(3, steps, 'done');
  return { cacheFile: cache.file, directionsFile: dirs.directionsFile, statsFile: dirs.statsFile, runFile: sweep.file, lines: sweep.lines };
}
