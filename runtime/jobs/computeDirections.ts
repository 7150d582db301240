import { computeDirections } from '../analysis/directions';
import type { JobHandler } from './context';

export const computeDirectionsHandler: JobHandler<'compute-directions'> = async (p, ctx) => {
  const r = computeDirections(p.cache, {
    holdout: p.holdout,
    seed: p.seed,
    hooks: p.hooks,
    signal: ctx.signal,
    onProgress: (done, total, hook) => ctx.progress(done, total, hook),
  });
  return { directionsFile: r.directionsFile, statsFile: r.statsFile, layers: r.stats.layers };
};
