/**
 * The prompts of a probing job (trace, logit-lens, projection, steer-compare): `--prompt TEXT`,
 * `--prompt_file F`, `--ids 1,2,3`, or (trace) `--data_file F`, a dataset or plain-text file
 * (`.txt` one prompt per line, `{"text": …}` JSON/JSONL) whose records go through the prompt
 * template, as caching does. Returns the token ids and the provenance to record.
 */
import * as path from 'node:path';
import { describeTemplate, loadDataset, type TextEncoding } from '../../datasets';
import type { ModelTokenizer } from '../../models/load';
import type { JobContext } from '../jobs/context';
import { promptOf } from '../jobs/generate';
import { UsageError } from '../protocol/argv';
import { chooseTemplate, promptEncoder } from '../prompting';

export interface ProbePrompt {
  id: string;
  ids: number[];
}

export interface PromptSource {
  prompt?: string;
  promptFile?: string;
  ids?: number[];
  noBos: boolean;
  dataFile?: string;
  template?: string;
  kind?: string;
  encoding?: TextEncoding;
}

export interface ProbePrompts {
  prompts: ProbePrompt[];
  /** What to record about where the prompts came from (header metadata of a trace). */
  provenance: Record<string, string>;
}

export async function probePrompts(p: PromptSource, ctx: Pick<JobContext, 'readStdin' | 'log'>, tokenizer: ModelTokenizer, modelPath: string): Promise<ProbePrompts> {
  if (p.ids) {
    const bad = p.ids.find((id) => id >= tokenizer.vocabSize);
    if (bad !== undefined) throw new UsageError(`--ids: ${bad} is outside the vocabulary 0..${tokenizer.vocabSize - 1}`);
    return { prompts: [{ id: 'ids', ids: [...p.ids] }], provenance: { prompt_source: 'ids' } };
  }
  if (p.dataFile !== undefined) {
    const data = await loadDataset(p.dataFile, { kind: p.kind, encoding: p.encoding, labelRule: null });
    for (const w of data.warnings ?? []) ctx.log('warn', w);
    const { template, why } = chooseTemplate(tokenizer, p.template, data.kind);
    ctx.log('info', `prompt template: ${describeTemplate(template).name} (${why})`);
    const encoder = promptEncoder(tokenizer, template, modelPath);
    return {
      prompts: data.records.map((r) => ({ id: r.id, ids: encoder.tokens(r) })),
      provenance: {
        prompt_source: 'data_file',
        data_file: path.resolve(p.dataFile),
        data_hash: data.contentHash,
        data_kind: data.kind,
        prompt_template: JSON.stringify(describeTemplate(template)),
      },
    };
  }
  if (p.prompt === undefined && p.promptFile === undefined) throw new UsageError('a prompt is required: --prompt TEXT, --prompt_file F or --ids 1,2,3');
  const text = await promptOf(p, { readStdin: ctx.readStdin } as JobContext);
  const ids = tokenizer.encode(text, { addBos: !p.noBos });
  if (ids.length === 0) throw new UsageError('the prompt is empty and --no_bos leaves no token to run');
  return { prompts: [{ id: 'prompt', ids }], provenance: { prompt_source: p.promptFile !== undefined ? 'prompt_file' : 'prompt', prompt_text: text, add_bos: String(!p.noBos) } };
}
