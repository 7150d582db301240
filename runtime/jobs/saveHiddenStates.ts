import { saveHiddenStates } from '../cache/saveHiddenStates';
import { parseShard } from '../protocol/shards';
import { partFileFor } from '../shards/paths';
import type { JobHandler } from './context';
import { finishPart } from './shards';

export const saveHiddenStatesHandler: JobHandler<'save-hidden-states'> = async (p, ctx) => {
  // --shard i/N: this process caches part i into its own file in the job's parts folder.
  const shard = p.shard !== undefined ? parseShard(p.shard) : undefined;
  const part = shard ? { shard, partFile: partFileFor('save-hidden-states', p, shard) } : undefined;
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
    shard: part,
  });
  if (r.alreadyComplete) ctx.log('info', `already complete, nothing to do: ${r.part?.file ?? r.file}`);
  else if (r.resumedFrom > 0) ctx.log('info', `resumed after ${r.resumedFrom} records`);
  if (r.skipped.length) ctx.log('warn', `${r.skipped.length} record(s) left out for prompts longer than the context (--on_long_prompt skip): ${r.skipped.slice(0, 10).map((x) => x.id).join(', ')}${r.skipped.length > 10 ? ', …' : ''}`);
  if (r.truncated.length) ctx.log('warn', `${r.truncated.length} prompt(s) cut to their last tokens (--on_long_prompt truncate-left)`);
  const outcome = part ? finishPart(part.partFile, part.shard, '.safetensors', ctx) : undefined;
  return {
    // A part names the merged cache once there is one, else its own file.
    cacheFile: outcome ? (outcome.merged ?? part!.partFile) : r.file,
    records: r.rows,
    hooks: r.hooks,
    resumedFrom: r.resumedFrom,
    alreadyComplete: r.alreadyComplete,
    skipped: r.skipped.map(({ index, id, tokens }) => ({ index, id, tokens })),
    truncated: r.truncated.map(({ index, id, tokens }) => ({ index, id, tokens })),
    ...(outcome ? { shard: withoutAuto(outcome) } : {}),
  };
};

export function withoutAuto<T extends { auto: unknown }>(o: T): Omit<T, 'auto'> {
  const { auto: _a, ...rest } = o;
  return rest;
}
