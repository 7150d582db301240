import { saveHiddenStates } from '../cache/saveHiddenStates';
import type { JobHandler } from './context';

export const saveHiddenStatesHandler: JobHandler<'save-hidden-states'> = async (p, ctx) => {
  const opened = await ctx.openModel(p);
  const r = await saveHiddenStates(opened, {
    dataFile: p.dataFilePath,
    dataName: p.dataName,
    kind: p.kind,
    split: p.split,
    labelRule: p.labelRule,
    outputPath: p.outputPath,
    sampleSize: p.dataSampleSize,
    seed: p.seed,
    batchSize: p.dataBatchSize,
    hooks: p.hooks,
    positions: p.positions,
    dtype: p.dtype,
    template: p.template === 'auto' ? undefined : p.template,
    encoding: p.encoding,
    onLongPrompt: p.onLongPrompt,
    signal: ctx.signal,
    onProgress: (done, total) => ctx.progress(done, total, 'records'),
    log: (m) => ctx.log('info', m),
  });
  if (r.alreadyComplete) ctx.log('info', `already complete, nothing to do: ${r.file}`);
  else if (r.resumedFrom > 0) ctx.log('info', `resumed after ${r.resumedFrom} records`);
  if (r.skipped.length) ctx.log('warn', `${r.skipped.length} record(s) left out for prompts longer than the context (--on_long_prompt skip): ${r.skipped.slice(0, 10).map((x) => x.id).join(', ')}${r.skipped.length > 10 ? ', …' : ''}`);
  if (r.truncated.length) ctx.log('warn', `${r.truncated.length} prompt(s) cut to their last tokens (--on_long_prompt truncate-left)`);
  return {
    cacheFile: r.file,
    records: r.rows,
    hooks: r.hooks,
    resumedFrom: r.resumedFrom,
    alreadyComplete: r.alreadyComplete,
    skipped: r.skipped.map(({ index, id, tokens }) => ({ index, id, tokens })),
    truncated: r.truncated.map(({ index, id, tokens }) => ({ index, id, tokens })),
  };
};
