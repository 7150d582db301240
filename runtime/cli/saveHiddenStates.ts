import { intArg, parseCommandArgs, UsageError, type OptionSpec } from './args';
import type { Command } from './command';
import { MODEL_OPTIONS, modelPathFrom, openModelFrom } from './modelArgs';
import { progressPrinter } from './progress';
import { saveHiddenStates } from '../cache/saveHiddenStates';
import type { ReadPositions } from '../model';

const OPTIONS: OptionSpec = {
  ...MODEL_OPTIONS,
  data_file_path: { type: 'string', help: 'dataset file: JSON array, JSONL or parquet' },
  data_name: { type: 'string', help: 'key of this dataset in the cache (default: file name)' },
  output_path: { type: 'string', default: '.layerlab/hidden_states_cache', help: 'cache folder; files go to OUTPUT/<model>/<data_name>.safetensors' },
  data_sample_size: { type: 'string', help: 'cache a seeded sample of this many records (default: all)' },
  data_batch_size: { type: 'string', default: '4', help: 'records per forward pass' },
  seed: { type: 'string', default: '0', help: 'sampling seed' },
  hooks: { type: 'string', multiple: true, help: 'hook points: names like blocks.3.hook_resid_post, or post (default: every block output), pre, all' },
  positions: { type: 'string', default: 'last', help: 'last (last prompt token), mean (over the prompt) or all' },
  dtype: { type: 'string', default: 'float32', help: 'float32 or float16' },
  template: { type: 'string', help: 'prompt template: seed-chat, bare, or a text with {question} and {options} (default: seed-chat when the tokenizer has a chat template, else bare)' },
  kind: { type: 'string', help: 'dataset schema (default: detected from the fields)' },
  split: { type: 'string', help: 'named split of a JSON file with several (e.g. PopQA dev/test)' },
  label_rule: { type: 'string', help: 'e.g. "score>0.5" or "label:Reasoning=reasoning,Memorization=memorization" (default per schema)' },
};

export const saveHiddenStatesCommand: Command = {
  name: 'save-hidden-states',
  summary: "cache every layer's hidden states over a dataset (the seed's first command); resumable",
  options: OPTIONS,
  async run(argv, io, signal) {
    const { values } = parseCommandArgs(argv, OPTIONS);
    if (!values.data_file_path) throw new UsageError('--data_file_path is required (a JSON, JSONL or parquet dataset)');
    const positions = values.positions as string;
    if (!['last', 'mean', 'all'].includes(positions)) throw new UsageError(`--positions must be last, mean or all, got '${positions}'`);
    const dtype = values.dtype as string;
    if (!['float32', 'float16'].includes(dtype)) throw new UsageError(`--dtype must be float32 or float16, got '${dtype}'`);
    modelPathFrom(values);
    const opened = await openModelFrom(values, io.log);
    try {
      const r = await saveHiddenStates(opened, {
        dataFile: values.data_file_path as string,
        dataName: values.data_name as string | undefined,
        kind: values.kind as string | undefined,
        split: values.split as string | undefined,
        labelRule: values.label_rule as string | undefined,
        outputPath: values.output_path as string,
        sampleSize: values.data_sample_size !== undefined ? intArg(values, 'data_sample_size', 0, 1) : undefined,
        seed: intArg(values, 'seed', 0),
        batchSize: intArg(values, 'data_batch_size', 4, 1),
        hooks: values.hooks as string[] | undefined,
        positions: positions as ReadPositions,
        dtype: dtype as 'float32' | 'float16',
        template: values.template as string | undefined,
        signal,
        onProgress: progressPrinter('save-hidden-states', io.log),
        log: io.log,
      });
      if (r.alreadyComplete) io.log(`already complete, nothing to do: ${r.file}`);
      else if (r.resumedFrom > 0) io.log(`resumed after ${r.resumedFrom} records`);
      io.out(r.file);
      return { files: [r.file] };
    } finally {
      await opened.model.release();
    }
  },
};
