import { computeDirections } from '../analysis/directions';
import { numArg, intArg, parseCommandArgs, UsageError, type OptionSpec } from './args';
import type { Command } from './command';
import { progressPrinter } from './progress';

const OPTIONS: OptionSpec = {
  holdout: { type: 'string', default: '0.2', help: 'fraction of records held out of the means for held-out statistics (0 for none)' },
  seed: { type: 'string', default: '0', help: 'seed of the held-out split' },
  hooks: { type: 'string', multiple: true, help: 'hook points (default: every hook point in the cache)' },
  json: { type: 'boolean', default: false, help: 'print the per-layer statistics as JSON' },
};

export const computeDirectionsCommand: Command = {
  name: 'compute-directions',
  summary: 'difference-of-means direction per hook point from a hidden-state cache, with separation statistics',
  options: OPTIONS,
  positionals: '<cache.safetensors>',
  async run(argv, io, signal) {
    const { values, positionals } = parseCommandArgs(argv, OPTIONS, { positionals: true });
    if (positionals.length !== 1) throw new UsageError('give exactly one cache file: layerlab compute-directions OUTPUT/<model>/<data_name>.safetensors');
    const holdout = numArg(values, 'holdout', 0.2);
    if (holdout < 0 || holdout >= 1) throw new UsageError(`--holdout must be in [0, 1), got ${holdout}`);
    const r = computeDirections(positionals[0], {
      holdout,
      seed: intArg(values, 'seed', 0),
      hooks: values.hooks as string[] | undefined,
      signal,
      onProgress: progressPrinter('compute-directions', io.log),
    });
    const files = { files: [r.directionsFile, r.statsFile] };
    if (values.json) {
      io.out(JSON.stringify(r.stats.layers, null, 2));
      return files;
    }
    const f = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '   —  ' : x.toFixed(3).padStart(6));
    io.out(['hook point                      norm    AUC   d      r     | held-out AUC   d      r']
      .concat(r.stats.layers.map((l) => `${l.hook.padEnd(30)} ${l.norm.toFixed(3).padStart(7)} ${f(l.train.auc)} ${f(l.train.cohensD)} ${f(l.train.pearsonR)} | ${f(l.heldOut?.auc)} ${f(l.heldOut?.cohensD)} ${f(l.heldOut?.pearsonR)}`))
      .concat([`directions: ${r.directionsFile}`, `statistics: ${r.statsFile}`])
      .join('\n'));
    return files;
  },
};
