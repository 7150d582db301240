/**
 * Step 1 of training the organism (see scripts/organism/README.md): writes the task splits and
 * the exact training texts, rendered by LayerLab's own prompt code (the bare template plus the
 * answer cue), so that train.py only has to turn bytes into token ids and the organism sees in
 * training exactly the prompt that `layerlab evaluate --template bare --scoring loglik` gives it.
 *
 *   node --import tsx scripts/organism/prepare.ts CONFIG WORK_DIR MODEL_DIR
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDataset, renderPrompt, writeOrganismDataset, type OrganismTaskOptions } from '../../datasets';
import { writeOrganismTokenizer } from '../../models/organism';
import { ANSWER_CUE } from '../../runtime/evaluate/prompts';

async function main(): Promise<void> {
  const [configFile, work, modelDir] = process.argv.slice(2);
  if (!configFile || !work || !modelDir) throw new Error('usage: prepare.ts CONFIG WORK_DIR MODEL_DIR');
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { tasks: OrganismTaskOptions; model: { max_seq_len: number } };
  const files = writeOrganismDataset(work, config.tasks);
  for (const split of ['train', 'test'] as const) {
    const ds = await loadDataset(files[split]);
    const lines = ds.records.map((r) => JSON.stringify({ id: r.id, subset: r.label, category: r.category, text: renderPrompt({ kind: 'bare' }, r) + ANSWER_CUE, answer: r.answer }));
    fs.writeFileSync(path.join(work, `${split}.jsonl`), lines.join('\n') + '\n');
  }
  writeOrganismTokenizer(modelDir, config.model.max_seq_len);
  console.log(`prepare: ${files.train}, ${files.validation}, ${files.test}; training texts in ${work}; tokenizer in ${modelDir}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
