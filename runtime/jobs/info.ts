import { inspectCaches } from '../cache/inspect';
import { checkModel, formatCheckReport } from '../check/checkModel';
import type { JobHandler } from './context';
import { modelInfoOf, modelOptionsOf, modelPathOf } from './models';

/** Opens the model (through the lease: "Select Model" in the editor) and describes it. */
export const infoHandler: JobHandler<'info'> = async (p, ctx) => modelInfoOf(await ctx.openModel(p));

export const inspectCacheHandler: JobHandler<'inspect-cache'> = async (p) => ({ caches: inspectCaches(p.target) });

/**
 * The graph against the independent reference forward (and other precisions against fp32). It
 * opens the graphs it compares itself, so the face's held model is released first: one model's
 * weights in memory at a time.
 */
export const checkModelHandler: JobHandler<'check-model'> = async (p, ctx) => {
  await ctx.releaseModel();
  const options = modelOptionsOf(p);
  const report = await checkModel(
    {
      model: modelPathOf(p),
      tokenizer: p.tokenizer,
      weights: p.weights,
      provider: p.provider,
      threads: p.threads,
      ...(Object.keys(options).length ? { modelOptions: options } : {}),
      maxTokens: p.maxTokens,
    },
    { signal: ctx.signal, onProgress: (done, total, message) => ctx.progress(done, total, message), log: (m) => ctx.log('info', m) },
  );
  return { ...report, markdown: formatCheckReport(report) };
};
