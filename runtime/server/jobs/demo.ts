/**
 * `demo` job, the twin of `layerlab demo`: the whole pipeline on the built-in demo model and
 * dataset (written into the workspace's models and datasets folders, so the views show them),
 * ending in a sweep run file that "Run Demo" opens as a chart.
 */
import { parseCommandArgs } from '../../cli/args';
import { DEMO_OPTIONS } from '../../cli/demo';
import { demoPaths, runDemoPipeline, writeDemoInputs } from '../../demo';
import type { JobDefinition } from '../job';

export const demoJob: JobDefinition = {
  summary: 'the whole pipeline on the built-in demo model and data: cache → directions → sweep',
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.args, DEMO_OPTIONS);
    const p = demoPaths({
      modelsPath: values.models_path as string,
      datasetsPath: values.datasets_path as string,
      outputPath: values.output_path as string,
    });
    ctx.progress(0, 4, 'writing the demo model and dataset');
    writeDemoInputs(p);
    ctx.signal.throwIfAborted();
    const lease = await ctx.openModel({ model: p.modelDir, provider: values.provider, threads: values.threads });
    try {
      const r = await runDemoPipeline(lease.opened, p, {
        signal: ctx.signal,
        log: (m) => ctx.log('info', m),
        step: (i, n, m) => ctx.progress(i + 1, n + 1, m),
        out: ctx.io.out,
      });
      ctx.io.out(`run: ${r.runFile}`);
      // The run file first: "Run Demo" opens the first JSON result as a chart.
      return { files: [r.runFile, r.statsFile, r.cacheFile, p.modelDir, p.dataFile] };
    } finally {
      await lease.release();
    }
  },
};
