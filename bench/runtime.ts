/**
 * Runtime benchmarks (issue: instrumented model runtime), all on one generated mid-size model:
 *  (a) prefill tokens/s reading no hook point vs every hook point,
 *  (b) greedy decode tokens/s with the KV cache vs recomputing the prefix,
 *  (c) peak RSS vs the size of the weights (measured in a fresh child process).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../models/demo';
import { allHookNames } from '../models/graph/spec';
import { generateGreedy } from '../runtime/generate';
import { openModel } from '../runtime/openModel';
import { interleaved, table } from './util';

export const MID_MODEL = { seed: 7, dModel: 512, nLayers: 8, nHeads: 8, nKvHeads: 4, dFF: 1408, maxSeqLen: 2048 };

export function midModelDir(root: string): string {
  const dir = path.join(root, 'mid-model');
  if (!fs.existsSync(path.join(dir, 'config.json'))) writeDemoModel(dir, MID_MODEL);
  return dir;
}

export async function benchRuntime(root: string, quick: boolean): Promise<string> {
  const dir = midModelDir(root);
  const graphCacheDir = path.join(root, 'graphs');
  const opened = await openModel(dir, { provider: 'cpu', graphCacheDir });
  const { model } = opened;
  const out: string[] = [];
  const weightsMB = model.spec.weightsBytes / 1e6;
  out.push(`model: generated Llama, d_model ${model.spec.dModel}, ${model.spec.nBlocks} blocks, ${weightsMB.toFixed(1)} MB fp32 weights, provider ${model.provider.provider}`);

  // (a) prefill with and without reading hooks
  const S = 256;
  const prompt = Array.from({ length: S }, (_, i) => 3 + ((i * 37) % 256));
  const hooks = allHookNames(model.spec.nBlocks);
  const reps = quick ? 3 : 9;
  const pre = await interleaved(
    {
      none: () => model.forward([prompt]),
      allLast: () => model.forward([prompt], undefined, { reads: hooks.map((hook) => ({ hook, positions: 'last' })) }),
      allPositions: () => model.forward([prompt], undefined, { reads: hooks.map((hook) => ({ hook, positions: 'all' })) }),
    },
    reps,
  );
  out.push(`\n(a) prefill of ${S} tokens, batch 1, median of ${reps}:`);
  out.push(
    table([
      ['reads', 'tokens/s', 'overhead vs none'],
      ['no hook point', S / pre.none, '—'],
      [`all ${hooks.length} hook points, last position`, S / pre.allLast, `${((pre.allLast / pre.none - 1) * 100).toFixed(1)}%`],
      [`all ${hooks.length} hook points, every position`, S / pre.allPositions, `${((pre.allPositions / pre.none - 1) * 100).toFixed(1)}%`],
    ]),
  );

  // (b) decode with and without the KV cache
  const lens = quick ? [16, 64] : [16, 64, 256];
  const rows: (string | number)[][] = [['new tokens', 'KV cache tok/s', 'recompute tok/s', 'cache speed-up']];
  const start = prompt.slice(0, 16);
  for (const n of lens) {
    const t = await interleaved(
      {
        cache: () => generateGreedy(model, opened.tokenizer, [start], { maxNewTokens: n, stopAtEos: false }),
        recompute: () => generateGreedy(model, opened.tokenizer, [start], { maxNewTokens: n, stopAtEos: false, useKvCache: false }),
      },
      quick ? 1 : 3,
    );
    rows.push([n, n / t.cache, n / t.recompute, `${(t.recompute / t.cache).toFixed(1)}×`]);
  }
  out.push(`\n(b) greedy decoding after a 16-token prompt:`);
  out.push(table(rows));
  await model.release();

  // (c) peak RSS in a fresh process that loads the model and runs one prefill
  const probe = spawnSync(process.execPath, [process.argv[1], '--rss-probe', dir, graphCacheDir], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(`RSS probe failed: ${probe.stderr}`);
  const { baselineMB, peakMB } = JSON.parse(probe.stdout.trim().split('\n').pop()!);
  out.push(`\n(c) memory: weights ${weightsMB.toFixed(1)} MB; Node baseline RSS ${baselineMB.toFixed(0)} MB; ` +
    `peak RSS after loading and a ${S}-token prefill ${peakMB.toFixed(0)} MB ` +
    `(${((peakMB - baselineMB) / weightsMB).toFixed(2)}× the weights above baseline)`);
  return out.join('\n');
}

/** Child-process entry for (c). */
export async function rssProbe(dir: string, graphCacheDir: string): Promise<void> {
  const baselineMB = process.memoryUsage().rss / 1e6;
  const opened = await openModel(dir, { provider: 'cpu', graphCacheDir });
  await opened.model.forward([Array.from({ length: 256 }, (_, i) => 3 + (i % 200))]);
  const peakMB = (process.resourceUsage().maxRSS * 1024) / 1e6;
  process.stdout.write(JSON.stringify({ baselineMB, peakMB }) + '\n');
}
