/**
 * `demo` job: writes the built-in demo model into the models folder (so the Models view shows
 * it and every other command can use it), loads it and generates from a few fixed prompts into
 * `<output>/demo/generations.json`. It needs no download and no dataset, so "Run Demo" works on
 * a fresh install. The full demo pipeline (cache → directions → evaluate → chart) replaces the
 * generation step once those jobs exist; the flags below stay.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../../../models/demo';
import { intArg, parseCommandArgs, type OptionSpec } from '../../cli/args';
import { MODEL_OPTIONS } from '../../cli/modelArgs';
import { generateGreedy } from '../../generate';
import { DEMO_MODEL_NAME, OUTPUT_SUBFOLDERS, WORKSPACE_DEFAULTS } from '../../protocol/workspace';
import type { JobDefinition } from '../job';

export const DEMO_OPTIONS: OptionSpec = {
  models_path: { type: 'string', default: WORKSPACE_DEFAULTS.modelsPath, help: `folder the demo model is written into (as ${DEMO_MODEL_NAME}/)` },
  output_path: { type: 'string', default: WORKSPACE_DEFAULTS.outputPath, help: `output folder (results go to ${OUTPUT_SUBFOLDERS.demo}/)` },
  prompts: { type: 'string', default: '4', help: 'number of demo prompts to generate from' },
  max_new_tokens: { type: 'string', default: '24', help: 'tokens to generate per prompt at most' },
  provider: MODEL_OPTIONS.provider,
  threads: MODEL_OPTIONS.threads,
};

const DEMO_PROMPTS = [
  'Q: What is 2 + 2?\nA:',
  'Q: Which planet is known as the red planet?\nA:',
  'Q: If all bloops are razzies and all razzies are lazzies, are all bloops lazzies?\nA:',
  'Q: What is the capital of France?\nA:',
  'Q: A train leaves at 3 pm and travels for 2 hours. When does it arrive?\nA:',
  'Q: Who wrote "Pride and Prejudice"?\nA:',
];

export interface DemoGenerationsFile {
  format: 'layerlab-demo-generations';
  version: 1;
  createdAt: string;
  model: { path: string; contentHash: string };
  provider: string;
  maxNewTokens: number;
  generations: { prompt: string; text: string; stopReason: string }[];
}

export const demoJob: JobDefinition = {
  summary: 'write the built-in demo model and generate from it',
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.args, DEMO_OPTIONS);
    const nPrompts = intArg(values, 'prompts', 4, 1);
    const maxNewTokens = intArg(values, 'max_new_tokens', 24, 1);
    const modelDir = path.resolve(values.models_path as string, DEMO_MODEL_NAME);
    const outDir = path.resolve(values.output_path as string, OUTPUT_SUBFOLDERS.demo);
    const total = 2 + nPrompts;

    ctx.progress(0, total, 'writing the demo model');
    // Deterministic: rewriting gives byte-identical files, so a second run changes nothing.
    writeDemoModel(modelDir);
    ctx.log('info', `demo model written to ${modelDir}`);
    ctx.signal.throwIfAborted();

    ctx.progress(1, total, 'loading the demo model');
    const lease = await ctx.openModel({ model: modelDir, provider: values.provider, threads: values.threads });
    try {
      const { model, tokenizer } = lease.opened;
      const generations: DemoGenerationsFile['generations'] = [];
      for (let i = 0; i < nPrompts; i++) {
        ctx.signal.throwIfAborted();
        ctx.progress(2 + i, total, `generating ${i + 1}/${nPrompts}`);
        const prompt = DEMO_PROMPTS[i % DEMO_PROMPTS.length];
        const [gen] = await generateGreedy(model, tokenizer, [tokenizer.encode(prompt, { addBos: true })], {
          maxNewTokens,
          stopStrings: ['\nQ:'],
          signal: ctx.signal,
        });
        generations.push({ prompt, text: gen.text, stopReason: gen.stopReason });
      }
      ctx.progress(total, total, 'done');

      const file: DemoGenerationsFile = {
        format: 'layerlab-demo-generations',
        version: 1,
        createdAt: new Date().toISOString(),
        model: { path: modelDir, contentHash: model.spec.contentHash },
        provider: model.provider.provider,
        maxNewTokens,
        generations,
      };
      fs.mkdirSync(outDir, { recursive: true });
      const outFile = path.join(outDir, 'generations.json');
      // Write then rename, so a watcher never reads a half-written file.
      fs.writeFileSync(outFile + '.tmp', JSON.stringify(file, null, 2) + '\n');
      fs.renameSync(outFile + '.tmp', outFile);
      ctx.io.out(
        [
          `demo model: ${modelDir} (${model.spec.nBlocks} blocks, d_model ${model.spec.dModel}, provider ${model.provider.provider})`,
          `${generations.length} generations: ${outFile}`,
        ].join('\n'),
      );
      return { files: [outFile, modelDir] };
    } finally {
      await lease.release();
    }
  },
};
