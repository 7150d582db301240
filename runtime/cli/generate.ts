import { generateGreedy } from '../generate';
import { intArg, parseCommandArgs, type OptionSpec } from './args';
import type { Command } from './command';
import { MODEL_OPTIONS, openModelFrom } from './modelArgs';

const OPTIONS: OptionSpec = {
  ...MODEL_OPTIONS,
  prompt: { type: 'string', default: '', help: 'prompt text (empty: generate from BOS alone)' },
  max_new_tokens: { type: 'string', default: '64', help: 'tokens to generate at most' },
  stop: { type: 'string', multiple: true, help: 'stop strings' },
  no_bos: { type: 'boolean', default: false, help: 'do not prepend BOS to the prompt' },
  json: { type: 'boolean', default: false, help: 'print {"ids": [prompt and generated ids], "text": generated text}' },
};

export const generateCommand: Command = {
  name: 'generate',
  summary: 'greedy generation from a prompt',
  options: OPTIONS,
  async run(argv, io) {
    const { values } = parseCommandArgs(argv, OPTIONS);
    const opened = await openModelFrom(values, io.log);
    try {
      const tok = opened.tokenizer;
      const promptIds = tok.encode(values.prompt as string, { addBos: !values.no_bos });
      const [gen] = await generateGreedy(opened.model, tok, [promptIds], {
        maxNewTokens: intArg(values, 'max_new_tokens', 64),
        stopStrings: (values.stop as string[] | undefined) ?? tok.stopStrings,
      });
      if (values.json) io.out(JSON.stringify({ ids: [...promptIds, ...gen.ids], text: gen.text, stop_reason: gen.stopReason }));
      else io.out(gen.text);
    } finally {
      await opened.model.release();
    }
  },
};
