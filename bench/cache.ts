/**
 * Caching throughput (issue: hidden-state cache): records/s of save-hidden-states, every block's
 * output at the last prompt token, on the demo model and on the generated mid-size model,
 * batch 1 vs batch 8, measured side by side.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../models/demo';
import { writeDemoDataset } from '../datasets/demo';
import { openModel } from '../runtime/openModel';
import { saveHiddenStates } from '../runtime/cache/saveHiddenStates';
import { midModelDir } from './runtime';
import { table, timeIt } from './util';

export async function benchCache(root: string, quick: boolean): Promise<string> {
  const n = quick ? 32 : 192;
  const dataFile = path.join(root, `cache-bench-${n}.json`);
  writeDemoDataset(dataFile, { n, seed: 5 });
  const demoDir = path.join(root, 'demo-model');
  if (!fs.existsSync(path.join(demoDir, 'config.json'))) writeDemoModel(demoDir);
  const rows: (string | number)[][] = [['model', 'batch 1 rec/s', 'batch 8 rec/s', 'batch 8 / batch 1']];
  for (const [name, dir] of [['demo (d 64, 2 blocks)', demoDir], ['mid-size (d 512, 8 blocks)', midModelDir(root)]] as const) {
    const opened = await openModel(dir, { provider: 'cpu', graphCacheDir: path.join(root, 'graphs') });
    const rate: Record<number, number> = {};
    for (const batchSize of [1, 8, 1, 8]) {
      const out = fs.mkdtempSync(path.join(root, 'cache-out-'));
      const secs = await timeIt(() => saveHiddenStates(opened, { dataFile, outputPath: out, seed: 0, batchSize, positions: 'last', dtype: 'float32' }));
      rate[batchSize] = Math.max(rate[batchSize] ?? 0, n / secs); // best of two, interleaved
      fs.rmSync(out, { recursive: true, force: true });
    }
    rows.push([name, rate[1], rate[8], `${(rate[8] / rate[1]).toFixed(2)}×`]);
    await opened.model.release();
  }
  return [`${n} demo-dataset records (seed chat prompt, ~60-90 tokens each), every block output at the last token:`, table(rows)].join('\n');
}
