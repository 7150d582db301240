/**
 * The huginn-0125-shaped benchmark (issue 10): a generated checkpoint with huginn-0125's
 * dimensions (n_embd 5280, 55 heads, intermediate 17920, vocab 65536, 2 + 4 + 2 blocks, bf16
 * shards, 3.565 B parameters, 7.1 GB) opened at num_steps 32, for each weight precision in a fresh
 * process: the first open (conversion + load), the seed's command 1 on two records
 * (save-hidden-states: every block's output at the last prompt token), and one item of command 2
 * (the item's prompt with an intervention at blocks.66.hook_resid_post, scale 0.1 along the
 * difference of the two cached states, greedy decoding). Peak RSS is printed per phase and overall.
 *
 * It needs about 1.3 × the weights (14.3 GB at fp32, 3.9 GB at int8) plus the KV cache (5.6 MB
 * per token at 32 steps): run it on a quiet machine with ≥ 24 GB.
 *
 *   npm run build && node --expose-gc dist/bench.js --huginn-real [--weights fp32,int8] \
 *     [--root DIR] [--num-steps 32] [--max-new-tokens 8] [--dims '{"dModel":512,...}']
 *
 * `--dims` overrides dimensions (a small dry run: '{"dModel":512,"nHeads":8,"dFF":1536,"vocab":4096}').
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeHuginnShaped, type HuginnDims } from './checkpoints';
import { machine, table } from './util';
import { writeDemoDataset } from '../datasets/demo';
import { loadDataset } from '../datasets';
import type { WeightPrecision } from '../models/graph/weights';
import { openSafetensors } from '../models/safetensors';
import { generateGreedy } from '../runtime/generate';
import { openModel } from '../runtime/openModel';
import { saveHiddenStates, cacheFileFor } from '../runtime/cache/saveHiddenStates';
import { chooseTemplate, promptEncoder } from '../runtime/prompting';
import { warmUpRuntime } from '../runtime/ort/session';

interface ChildRequest {
  model: string;
  graphCacheDir: string;
  dataFile: string;
  outputPath: string;
  weights: WeightPrecision;
  numSteps: number;
  maxNewTokens: number;
}

interface ChildResult {
  weights: WeightPrecision;
  weightsGB: number;
  baselineGB: number;
  /** Phase → [seconds, peak RSS above the baseline in GB]. */
  phases: Record<string, [number, number]>;
  maxRssGB: number;
  generated: number[];
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

export async function benchHuginnReal(args: string[]): Promise<void> {
  if (args[0] === '--child') {
    process.stdout.write(JSON.stringify(await child(JSON.parse(args[1]) as ChildRequest)) + '\n');
    return;
  }
  const root = flag(args, '--root') ?? path.join(process.env.LAYERLAB_BENCH_DIR ?? path.join(os.tmpdir(), 'layerlab-bench'), 'huginn-real');
  const dims = JSON.parse(flag(args, '--dims') ?? '{}') as Partial<HuginnDims>;
  const precisions = (flag(args, '--weights') ?? 'fp32,int8').split(',') as WeightPrecision[];
  const numSteps = Number(flag(args, '--num-steps') ?? 32);
  const maxNewTokens = Number(flag(args, '--max-new-tokens') ?? 8);
  fs.mkdirSync(root, { recursive: true });
  console.log(`huginn-0125-shaped benchmark — ${new Date().toISOString().slice(0, 10)} — ${machine()}`);
  const t0 = Date.now();
  const model = writeHuginnShaped(path.join(root, Object.keys(dims).length ? `huginn-shaped-${JSON.stringify(dims).replace(/\W+/g, '')}` : 'huginn-0125-shaped'), dims);
  console.log(`checkpoint ${model} (written or reused in ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  const dataFile = path.join(root, 'two-records.json');
  writeDemoDataset(dataFile, { n: 2, seed: 0 });
  const results: ChildResult[] = [];
  for (const weights of precisions) {
    const req: ChildRequest = { model, graphCacheDir: path.join(root, 'graphs'), dataFile, outputPath: path.join(root, `hidden-${weights}`), weights, numSteps, maxNewTokens };
    const r = spawnSync(process.execPath, ['--expose-gc', process.argv[1], '--huginn-real', '--child', JSON.stringify(req)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
    if (r.status !== 0) {
      console.log(`${weights}: the child process failed (status ${r.status}, signal ${r.signal}${r.signal === 'SIGKILL' ? ': out of memory?' : ''})`);
      continue;
    }
    results.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult);
  }
  const phases = ['first open (convert + load)', 'save-hidden-states, 2 records', 'evaluate item, edit at block 66'];
  console.log(`\nnum_steps ${numSteps}; peak RSS above the process baseline per phase (GB, and × the weight bytes), then the process's peak RSS:`);
  console.log(
    table([
      ['weights', 'weight bytes', ...phases, 'process peak RSS'],
      ...results.map((r) => [
        r.weights,
        `${r.weightsGB.toFixed(2)} GB`,
        ...phases.map((p) => (r.phases[p] ? `${r.phases[p][1].toFixed(2)} GB (${(r.phases[p][1] / r.weightsGB).toFixed(2)}×), ${r.phases[p][0].toFixed(0)} s` : '—')),
        `${r.maxRssGB.toFixed(2)} GB`,
      ]),
    ]),
  );
}

function peakGB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 2 ** 20 : (process.resourceUsage().maxRSS * 1024) / 2 ** 30;
}

async function child(req: ChildRequest): Promise<ChildResult> {
  await warmUpRuntime();
  const baselineGB = process.memoryUsage().rss / 2 ** 30;
  const phases: ChildResult['phases'] = {};
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    const t0 = Date.now();
    const r = await fn();
    phases[name] = [(Date.now() - t0) / 1000, peakGB() - baselineGB];
    process.stderr.write(`${req.weights}: ${name}: ${phases[name][0].toFixed(0)} s, peak ${phases[name][1].toFixed(2)} GB above baseline\n`);
    return r;
  };
  const opened = await phase('first open (convert + load)', () =>
    openModel(req.model, { provider: 'cpu', graphCacheDir: req.graphCacheDir, weights: req.weights, modelOptions: { numSteps: req.numSteps } }),
  );
  const { model, tokenizer } = opened;
  await phase('save-hidden-states, 2 records', () =>
    saveHiddenStates(opened, { dataFile: req.dataFile, outputPath: req.outputPath, seed: 0, batchSize: 1, positions: 'last', dtype: 'float32' }),
  );
  const block = Math.min(66, model.spec.nBlocks - 1);
  const hook = `blocks.${block}.hook_resid_post`;
  const generated = await phase(`evaluate item, edit at block 66`, async () => {
    // The direction the seed would use: the difference of the two records' cached states, unit length.
    const cache = openSafetensors(cacheFileFor(req.outputPath, req.model, path.basename(req.dataFile, '.json'))).read(hook).data;
    const d = model.spec.dModel;
    const dir = Float32Array.from({ length: d }, (_, j) => cache[j] - cache[d + j]);
    const norm = Math.hypot(...dir) + 1e-8;
    const record = (await loadDataset(req.dataFile)).records[0];
    const ids = promptEncoder(tokenizer, chooseTemplate(tokenizer).template, req.model).tokens(record);
    const g = await generateGreedy(model, tokenizer, [ids], {
      maxNewTokens: req.maxNewTokens,
      stopAtEos: false,
      edits: [{ hook, scale: 0.1, direction: dir.map((x) => x / norm) }],
    });
    return g[0].ids;
  });
  const weightsGB = model.spec.weightsBytes / 2 ** 30;
  await model.release();
  return { weights: req.weights, weightsGB, baselineGB, phases, maxRssGB: (process.resourceUsage().maxRSS * 1024) / 2 ** 30, generated };
}
