/**
 * `generate` job: the palette twin of `layerlab generate`, with the same flags and defaults (it
 * parses argv with the CLI command's own option spec), plus cancellation between tokens.
 */
import { intArg, parseCommandArgs } from '../../cli/args';
import { generateCommand } from '../../cli/generate';
import { generateGreedy } from '../../generate';
import type { JobDefinition } from '../job';

export const generateJob: JobDefinition = {
  summary: generateCommand.summary,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.args, generateCommand.options);
    const maxNewTokens = intArg(values, 'max_new_tokens', 64);
    const lease = await ctx.openModel(values);
    try {
      const tok = lease.opened.tokenizer;
      const promptIds = tok.encode(values.prompt as string, { addBos: !values.no_bos });
      ctx.progress(0, 1, `generating up to ${maxNewTokens} tokens`);
      const [gen] = await generateGreedy(lease.opened.model, tok, [promptIds], {
        maxNewTokens,
        stopStrings: (values.stop as string[] | undefined) ?? tok.stopStrings,
        signal: ctx.signal,
      });
      ctx.progress(1, 1, gen.stopReason);
      ctx.io.out(values.json ? JSON.stringify({ ids: [...promptIds, ...gen.ids], text: gen.text, stop_reason: gen.stopReason }) : gen.text);
    } finally {
      await lease.release();
    }
  },
};
