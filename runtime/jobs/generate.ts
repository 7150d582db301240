import { generateGreedy } from '../generate';
import type { JobHandler } from './context';

export const generateHandler: JobHandler<'generate'> = async (p, ctx) => {
  const opened = await ctx.openModel(p);
  const tok = opened.tokenizer;
  const promptIds = tok.encode(p.prompt, { addBos: !p.noBos });
  ctx.progress(0, 1, `generating up to ${p.maxNewTokens} tokens`);
  const [gen] = await generateGreedy(opened.model, tok, [promptIds], {
    maxNewTokens: p.maxNewTokens,
    stopStrings: p.stop ?? tok.stopStrings,
    signal: ctx.signal,
  });
  ctx.progress(1, 1, gen!.stopReason);
  return { ids: [...promptIds, ...gen!.ids], text: gen!.text, stopReason: gen!.stopReason, promptTokens: promptIds.length, newTokens: gen!.ids.length };
};
