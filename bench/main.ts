/**
 * `npm run bench`: every benchmark, each printing variants measured side by side in this one
 * run on this machine. `--quick` does fewer repetitions (used by the test suite to check the
 * benchmarks still run, not to judge speed).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { benchRuntime, rssProbe } from './runtime';
import { benchEvaluate } from './evaluate';
import { benchCache } from './cache';
import { benchPatching } from './patching';
import { machine } from './util';

async function run(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--rss-probe') return rssProbe(args[1], args[2]);
  if (args[0] === '--patching') {
    console.log(await benchPatching(process.env.LAYERLAB_BENCH_DIR ?? path.join(os.tmpdir(), 'layerlab-bench'), args.includes('--quick')));
    return;
  }
  const quick = args.includes('--quick');
  const root = process.env.LAYERLAB_BENCH_DIR ?? path.join(os.tmpdir(), 'layerlab-bench');
  fs.mkdirSync(root, { recursive: true });
  console.log(`LayerLab benchmarks — ${new Date().toISOString().slice(0, 10)} — ${machine()}`);
  console.log(`\n## Runtime\n${await benchRuntime(root, quick)}`);
  console.log(`\n## Evaluation\n${await benchEvaluate(root, quick)}`);
  console.log(`\n## Hidden-state cache\n${await benchCache(root, quick)}`);
  console.log(`\n## Layer-selection patching\n${await benchPatching(root, quick)}`);
}

run().catch((e) => {
  console.error(e?.stack ?? e);
  process.exitCode = 1;
});
