/**
 * `npm run bench`: every benchmark, each printing variants measured side by side in this one
 * run on this machine. `--quick` does fewer repetitions and smaller models (to check the
 * benchmarks still run, not to judge speed); `--only SECTION` runs one (runtime, evaluation,
 * cache, real-size, shards, and the others listed below). `--huginn-real` is the
 * huginn-0125-shaped benchmark (see bench/huginnReal.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { benchRuntime, rssProbe } from './runtime';
import { benchEvaluate } from './evaluate';
import { benchCache } from './cache';
import { benchShards } from './shards';
import { benchPatching } from './patching';
import { machine } from './util';
import { benchRealSize } from './realSize';
import { runMemoryProbe, type MemoryProbeRequest } from './memoryProbe';
import { benchHuginnReal } from './huginnReal';

async function run(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--rss-probe') return rssProbe(args[1], args[2]);
  if (args[0] === '--memory-probe') {
    process.stdout.write(JSON.stringify(await runMemoryProbe(JSON.parse(args[1]) as MemoryProbeRequest)) + '\n');
    return;
  }
  if (args[0] === '--huginn-real') return benchHuginnReal(args.slice(1));
  if (args[0] === '--patching') {
    console.log(await benchPatching(process.env.LAYERLAB_BENCH_DIR ?? path.join(os.tmpdir(), 'layerlab-bench'), args.includes('--quick')));
    return;
  }
  const quick = args.includes('--quick');
  const root = process.env.LAYERLAB_BENCH_DIR ?? path.join(os.tmpdir(), 'layerlab-bench');
  fs.mkdirSync(root, { recursive: true });
  console.log(`LayerLab benchmarks — ${new Date().toISOString().slice(0, 10)} — ${machine()}`);
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  const sections: [string, string, () => Promise<string>][] = [
    ['runtime', 'Runtime', () => benchRuntime(root, quick)],
    ['evaluation', 'Evaluation', () => benchEvaluate(root, quick)],
    ['cache', 'Hidden-state cache', () => benchCache(root, quick)],
    ['real-size', 'Real-size models', () => benchRealSize(root, quick)],
    ['shards', 'Sharding: 1 process vs 2 parts at once', () => benchShards(root, quick)],
    ['patching', 'Layer-selection patching', () => benchPatching(root, quick)],
  ];
  if (only !== undefined && !sections.some(([k]) => k === only)) throw new Error(`--only takes ${sections.map(([k]) => k).join(', ')}, got '${only}'`);
  for (const [key, title, run] of sections) if (only === undefined || only === key) console.log(`\n## ${title}\n${await run()}`);
}

run().catch((e) => {
  console.error(e?.stack ?? e);
  process.exitCode = 1;
});
