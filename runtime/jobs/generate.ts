import * as fs from 'node:fs';
import { generateGreedy } from '../generate';
import { UsageError } from '../protocol/argv';
import { planSteering } from '../steering/plan';
import type { JobContext, JobHandler } from './context';

/** The prompt text of a job: --prompt, or --prompt_file (a UTF-8 file, or - for standard input). */
export async function promptOf(p: { prompt?: string; promptFile?: string }, ctx: JobContext): Promise<string> {
  if (p.promptFile === undefined) return p.prompt ?? '';
  if (p.promptFile === '-') {
    if (!ctx.readStdin) throw new UsageError('--prompt_file - (standard input) works only on the command line; give a file');
    return ctx.readStdin();
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(fs.readFileSync(p.promptFile));
  } catch (e) {
    if (e instanceof TypeError) throw new UsageError(`--prompt_file ${p.promptFile} is not UTF-8 text`);
    throw new UsageError(`--prompt_file ${p.promptFile}: ${(e as Error).message}`);
  }
}

export const generateHandler: JobHandler<'generate'> = async (p, ctx) => {
  const prompt = await promptOf(p, ctx);
  const opened = await ctx.openModel(p);
  const tok = opened.tokenizer;
  const promptIds = tok.encode(prompt, { addBos: !p.noBos });
  const steering = await planSteering(opened, p, { normPrompts: [promptIds], signal: ctx.signal });
  ctx.progress(0, 1, `generating up to ${p.maxNewTokens} tokens`);
  const [gen] = await generateGreedy(opened.model, tok, [promptIds], {
    maxNewTokens: p.maxNewTokens,
    stopStrings: p.stop ?? tok.stopStrings,
    edits: steering?.edits,
    editPositions: steering?.positions,
    signal: ctx.signal,
  });
  ctx.progress(1, 1, gen!.stopReason);
  return {
    ids: [...promptIds, ...gen!.ids],
    text: gen!.text,
    stopReason: gen!.stopReason,
    promptTokens: promptIds.length,
    newTokens: gen!.ids.length,
    ...(steering ? { steering: steering.applied } : {}),
  };
};
