/**
 * The whole pipeline on the built-in demo model and dataset, written into the workspace's
 * models and datasets folders (so the views show them), ending in a sweep run file.
 */
import { demoPaths, runDemoPipeline, writeDemoInputs } from '../demo';
import type { JobHandler } from './context';

export const demoHandler: JobHandler<'demo'> = async (p, ctx) => {
  const paths = demoPaths(p);
  ctx.progress(0, 4, 'writing the demo model and dataset');
  writeDemoInputs(paths);
  ctx.log('info', `demo model (the model organism): ${paths.modelDir}; demo questions: ${paths.dataFile}`);
  ctx.signal.throwIfAborted();
  const opened = await ctx.openModel({ model: paths.modelDir, provider: p.provider, threads: p.threads });
  const r = await runDemoPipeline(opened, paths, {
    signal: ctx.signal,
    log: (m) => ctx.log('info', m),
    step: (i, n, m) => ctx.progress(i + 1, n + 1, m),
  });
  return {
    modelDir: paths.modelDir,
    dataFile: paths.dataFile,
    cacheFile: r.cacheFile,
    directionsFile: r.directionsFile,
    statsFile: r.statsFile,
    runFile: r.runFile,
    lines: r.lines,
    findings: r.summary.lines,
  };
};
