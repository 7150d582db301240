/**
 * LayerLab's main job on its built-in model organism, with no download: copy the organism (a
 * small Llama trained on reasoning and memorization questions, models/organism.ts) and write a
 * labelled dataset of its held-out test questions, cache every block's hidden states, compute
 * the reasoning-minus-memorization directions, then sweep interventions along them (with the
 * baseline and random-direction controls) into one run file that the chart opens, and say in a
 * few lines what the files show (runtime/demoSummary.ts). The same function backs `layerlab
 * demo` and "LayerLab: Run Demo".
 *
 * The random-weight demo model (models/demo.ts) is still what tests use to exercise features.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { demoJson, organismSplits, sha256Hex } from '../datasets';
import { copyOrganism, organismMismatches, readOrganismManifest } from '../models/organism';
import { computeDirectionsAsync } from './analysis/directions';
import { openCache } from './cache/inspect';
import { cacheFileFor, saveHiddenStates } from './cache/saveHiddenStates';
import { summariseDemo, type DemoSummary } from './demoSummary';
import { runSweep } from './evaluate';
import type { OpenedModel } from './openModel';
import { DEMO_MODEL_NAME, OUTPUT_SUBFOLDERS, WORKSPACE_DEFAULTS } from './protocol/workspace';

export const DEMO_DATA_NAME = 'demo-reason-mem';
/** Questions in the demo dataset: the first of the organism's test split (half of each kind). */
export const DEMO_RECORDS = 200;
/**
 * Half of them compute the directions, the other half (50 of each kind) measure accuracy: the
 * sweep only evaluates questions the direction never saw.
 */
export const DEMO_HOLDOUT = 0.5;
/**
 * The organism was trained on the paper's bare prompt, `Q: {question}\nA: ` followed by the
 * answer cue, so both the cache and the sweep use it.
 */
export const DEMO_TEMPLATE = 'bare';
/** Scales of x ← x + scale·(x·d̂)·d̂ swept at every block's output: −1 projects the direction out, 4 amplifies it fivefold. */
export const DEMO_SCALES = [-1, 4];

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

/** The exact bytes of the demo dataset. */
export function demoDatasetJson(): string {
  return demoJson(organismSplits({ train: 0, test: DEMO_RECORDS }).test);
}

/**
 * Copies the organism and writes the demo dataset, unless they are already there byte for byte
 * (so a workspace from an older LayerLab, whose demo folder held the random model, is updated).
 */
export function writeDemoInputs(p: DemoPaths): void {
  const manifest = readOrganismManifest();
  if (!fs.existsSync(p.modelDir) || organismMismatches(p.modelDir, manifest).length > 0) copyOrganism(p.modelDir);
  const json = demoDatasetJson();
  if (!fs.existsSync(p.dataFile) || fs.readFileSync(p.dataFile, 'utf8') !== json) {
    fs.mkdirSync(path.dirname(p.dataFile), { recursive: true });
    fs.writeFileSync(p.dataFile, json);
  }
}

export interface DemoResult {
  cacheFile: string;
  directionsFile: string;
  statsFile: string;
  runFile: string;
  /** The sweep's seed-style result lines. */
  lines: string[];
  /** What the run shows, as data and as plain-language lines (`summary.lines`). */
  summary: DemoSummary;
}

export interface DemoStepReport {
  (step: number, steps: number, message: string): void;
}

/**
 * A cache left under the demo's name by another model, dataset or prompt (an older demo) would
 * be refused by the cache writer; it is the demo's own output, so it is replaced.
 */
function dropStaleCache(file: string, dataFile: string, opened: OpenedModel, log: (m: string) => void): void {
  if (!fs.existsSync(file)) return;
  let stale: boolean;
  try {
    const meta = openCache(file).metadata;
    stale = meta.model_hash !== opened.checkpoint.contentHash || meta.data_hash !== sha256Hex(fs.readFileSync(dataFile)) ||
      meta.prompt_template === undefined || !meta.prompt_template.includes(`"${DEMO_TEMPLATE}"`);
  } catch {
    // Not a LayerLab cache at all. (An unfinished one lives in `<file>.partial/`, which the
    // cache writer resumes or explains.)
    stale = true;
  }
  if (!stale) return;
  log(`replacing the demo cache ${file}: it was written by another model, dataset or prompt`);
  const base = file.replace(/\.safetensors$/, '');
  for (const f of [file, `${base}.directions.safetensors`, `${base}.directions.json`]) fs.rmSync(f, { force: true });
}

export async function runDemoPipeline(
  opened: OpenedModel,
  p: DemoPaths,
  ctx: { signal?: AbortSignal; step: DemoStepReport; log: (m: string) => void; out?: (line: string) => void },
): Promise<DemoResult> {
  const steps = 3;
  ctx.step(0, steps, 'caching hidden states');
  dropStaleCache(cacheFileFor(p.cacheRoot, opened.checkpoint.path, DEMO_DATA_NAME), p.dataFile, opened, ctx.log);
  const cache = await saveHiddenStates(opened, {
    dataFile: p.dataFile,
    dataName: DEMO_DATA_NAME,
    outputPath: p.cacheRoot,
    seed: 0,
    batchSize: 8,
    positions: 'last',
    dtype: 'float32',
    hooks: ['post'],
    template: DEMO_TEMPLATE,
    signal: ctx.signal,
    log: ctx.log,
  });
  if (cache.alreadyComplete) ctx.log(`hidden states already cached: ${cache.file}`);
  else if (cache.resumedFrom > 0) ctx.log(`resumed the hidden-state cache after ${cache.resumedFrom} records`);
  ctx.signal?.throwIfAborted();
  ctx.step(1, steps, 'computing directions');
  const dirs = await computeDirectionsAsync(cache.file, { holdout: DEMO_HOLDOUT, seed: 0, signal: ctx.signal });
  ctx.step(2, steps, 'sweeping interventions');
  const sweep = await runSweep(
    {
      dataFile: p.dataFile,
      directionFile: dirs.directionsFile,
      split: 'holdout',
      sampleSize: DEMO_RECORDS,
      seed: 0,
      template: DEMO_TEMPLATE,
      scoring: 'loglik',
      batchSize: 8,
      withPostHook: true,
      scales: DEMO_SCALES,
      randomControls: 1,
      outputPath: p.runsRoot,
      argv: ['demo'],
    },
    { model: opened.model, tokenizer: opened.tokenizer, signal: ctx.signal, log: ctx.log, out: ctx.out },
  );
  const summary = summariseDemo(sweep.run, dirs.stats);
  ctx.step(3, steps, 'done');
  return { cacheFile: cache.file, directionsFile: dirs.directionsFile, statsFile: dirs.statsFile, runFile: sweep.file, lines: sweep.lines, summary };
}
