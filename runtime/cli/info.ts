import { allHookNames, type BlockInfo } from '../../models/graph/spec';
import { parseCommandArgs, type OptionSpec } from './args';
import type { Command } from './command';
import { MODEL_OPTIONS, openModelFrom } from './modelArgs';

const OPTIONS: OptionSpec = {
  ...MODEL_OPTIONS,
  json: { type: 'boolean', default: false, help: 'print the description as JSON' },
};

export const infoCommand: Command = {
  name: 'info',
  summary: 'architecture, blocks, hook points, d_model, vocabulary and execution provider of a model',
  options: OPTIONS,
  async run(argv, io) {
    const { values } = parseCommandArgs(argv, OPTIONS);
    const opened = await openModelFrom(values, io.log);
    try {
      const { spec } = opened.model;
      const info = {
        model: opened.checkpoint.path,
        format: opened.checkpoint.format,
        family: spec.family,
        model_type: spec.modelType,
        content_hash: spec.contentHash,
        d_model: spec.dModel,
        vocab_size: spec.vocabSize,
        max_seq_len: spec.maxSeqLen,
        n_blocks: spec.nBlocks,
        options: spec.options,
        layout: layoutOf(spec.blocks, spec.options),
        blocks: spec.blocks,
        hook_points: allHookNames(spec.nBlocks),
        weights_bytes: spec.weightsBytes,
        tokenizer: opened.tokenizer.source,
        tokenizer_vocab: opened.tokenizer.vocabSize,
        provider: opened.model.provider.provider,
        provider_note: opened.model.provider.note,
        graph_dir: opened.graphDir,
      };
      if (values.json) {
        io.out(JSON.stringify(info, null, 2));
        return;
      }
      const lines = [
        `model          ${info.model} (${info.format})`,
        `architecture   ${info.family} / ${info.model_type}`,
        `d_model        ${info.d_model}`,
        `vocab          ${info.vocab_size} (tokenizer ${info.tokenizer_vocab}: ${info.tokenizer})`,
        `context        ${info.max_seq_len}`,
        `blocks         ${info.n_blocks}${Object.keys(spec.options).length ? `  ${JSON.stringify(spec.options)}` : ''}`,
        // Recurrent-depth models: which unrolled blocks are prelude, core (per recurrence) and coda.
        ...(info.layout.length > 1 ? [`layout         ${info.layout.map((p) => p.text).join(' | ')}`] : []),
        `weights        ${(info.weights_bytes / 1e6).toFixed(2)} MB fp32`,
        `provider       ${info.provider}${info.provider_note ? ` (${info.provider_note})` : ''}`,
        `hook points    blocks.{0..${spec.nBlocks - 1}}.hook_resid_pre | hook_resid_post  (${info.hook_points.length} in all)`,
        'block map:',
        ...spec.blocks.map((b) => `  blocks.${b.index}  ${b.label}`),
      ];
      io.out(lines.join('\n'));
    } finally {
      await opened.model.release();
    }
  },
};

/**
 * Consecutive runs of blocks of one part, e.g. prelude blocks.0-1 | core blocks.2-129 (4 blocks ×
 * 32 recurrences) | coda blocks.130-131 for huginn-0125 at num_steps 32.
 */
function layoutOf(blocks: BlockInfo[], options: Record<string, unknown>): { part: string; first: number; last: number; text: string }[] {
  const runs: { part: string; first: number; last: number; text: string }[] = [];
  for (const b of blocks) {
    const run = runs[runs.length - 1];
    if (run && run.part === b.part) run.last = b.index;
    else runs.push({ part: b.part, first: b.index, last: b.index, text: '' });
  }
  const steps = typeof options.num_steps === 'number' ? options.num_steps : undefined;
  for (const r of runs) {
    const n = r.last - r.first + 1;
    const perStep = r.part === 'core' && steps ? ` (${n / steps} blocks × ${steps} recurrences)` : '';
    r.text = `${r.part} blocks.${r.first}${n > 1 ? `-${r.last}` : ''}${perStep}`;
  }
  return runs;
}
