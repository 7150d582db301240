/**
 * `npm run bench`: every benchmark, each printing variants measured side by side in this one
 * run on this machine. `--quick` does fewer repetitions and smaller models (to check the
 * benchmarks still run, not to judge speed); `--only real-size` (or runtime, evaluation, cache)
 * runs one section. `--huginn-real` is the huginn-0125-shaped benchmark (see bench/huginnReal.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { benchRuntime, rssProbe } from './runtime';
import { benchEvaluate } from './evaluate';
import { benchCache } from './cache';
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
  const quick = args.includes('--quick');
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  const want = (section: string) => !only || only === section;
  const root = process.env.LAYERLAB_BENCH_DIR ?? path.join(os.tmpdir(), 'layerlab-bench');
  fs.mkdirSync(root, { recursive: true });
  console.log(`LayerLab benchmarks — ${new Date().toISOString().slice(0, 10)} — ${machine()}`);
  if (want('runtime')) console.log(`\n## Runtime\n${await benchRuntime(root, quick)}`);
  if (want('evaluation')) console.log(`\n## Evaluation\n${await benchEvaluate(root, quick)}`);
  if (want('cache')) console.log(`\n## Hidden-state cache\n${await benchCache(root, quick)}`);
  if (want('real-size')) console.log(`\n## Real-size models\n${await benchRealSize(root, quick)}`);
}

run().catch((e) => {
  console.error(e?.stack ?? e);
  process.exitCode = 1;
});
