import { computeDirectionsAsync } from '../analysis/directions';
import type { JobHandler } from './context';

export const computeDirectionsHandler: JobHandler<'compute-directions'> = async (p, ctx) => {
  // The cancellable twin: Ctrl-C or Cancel stops it between hook points, leaving the previous files.
  const r = await computeDirectionsAsync(p.cache, {
    holdout: p.holdout,
    seed: p.seed,
    hooks: p.hooks,
    minPerLabel: p.minPerLabel,
    signal: ctx.signal,
    onProgress: (done, total, hook) => ctx.progress(done, total, hook),
  });
  return { directionsFile: r.directionsFile, statsFile: r.statsFile, layers: r.stats.layers };
};
