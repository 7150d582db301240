/**
 * Evaluation benchmarks (issue 4): items/s for 5-shot MMLU-Pro prompts on a generated mid-size
 * model, measured side by side in one run:
 *  (a) the shared few-shot prefix's KV computed once per category and reused, vs every prompt
 *      run in full (target ≥ 3×), for loglik scoring (prefill only) and for short generation;
 *  (b) batch 1 vs batch 8;
 *  (c) loglik vs generate.
 * The questions and examples are MMLU-Pro's own (test split, validation split for the 5-shot
 * examples) when ../shared/data has them, else the built-in demo questions with their examples.
 * The model is random, so accuracy means nothing here; only speed is measured.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDataset, toMmluProRows, type QARecord } from '../datasets';
import { writeDemoModel } from '../models/demo';
import { openModel } from '../runtime/openModel';
import { runEvaluation } from '../runtime/evaluate';
import { sharedFile } from '../test/helpers/sharedData';
import { MID_MODEL } from './runtime';
import { table } from './util';

/**
 * The runtime benchmark's mid-size model (same weights) with a 4096-token context: with the demo
 * model's byte-level tokenizer a 5-shot MMLU-Pro prompt is 2,000–3,500 tokens.
 */
export function midModelLongDir(root: string): string {
  const dir = path.join(root, 'mid-model-4k');
  if (!fs.existsSync(path.join(dir, 'config.json'))) writeDemoModel(dir, { ...MID_MODEL, maxSeqLen: 4096 });
  return dir;
}

/** The first `perCategory` questions of each of `categories`, written as an MMLU-Pro-format file. */
async function mmluProSubset(root: string, categories: string[], perCategory: number): Promise<string | undefined> {
  const test = sharedFile('mmlu-pro/test-00000-of-00001.parquet');
  if (test.skip) return undefined;
  const file = path.join(root, `mmlu-pro-bench-${categories.length}x${perCategory}.json`);
  if (fs.existsSync(file)) return file;
  const ds = await loadDataset(test.path, { labelRule: 'reasoning' });
  const picked: QARecord[] = [];
  for (const c of categories) picked.push(...ds.records.filter((r) => r.category === c).slice(0, perCategory));
  // toMmluProRows needs a score; every record is labelled "reasoning" here (labels play no part in speed).
  fs.writeFileSync(file, JSON.stringify(toMmluProRows(picked.map((r) => ({ ...r, score: 0.9 }))).map((r, i) => ({ ...r, question_id: Number(picked[i]!.id) }))));
  return file;
}

export async function benchEvaluate(root: string, quick: boolean): Promise<string> {
  const dir = midModelLongDir(root);
  // One ONNX Runtime thread, and CPU seconds as the measure: the ratios then reflect the work
  // done, not how busy the machine was (ORT's spinning worker threads would count as CPU time).
  const opened = await openModel(dir, { provider: 'cpu', graphCacheDir: path.join(root, 'graphs'), threads: 1 });
  const out: string[] = [];
  // About 14 questions per category is what a 200-question MMLU-Pro evaluation has (14 categories).
  const categories = quick ? ['philosophy'] : ['math', 'philosophy'];
  const perCategory = quick ? 3 : 12;
  const gen = quick ? 4 : 16;
  const subset = await mmluProSubset(root, categories, perCategory);
  const validation = sharedFile('mmlu-pro/validation.json');
  const data = subset && !validation.skip
    ? { dataFile: subset, fewshotFile: validation.path }
    : { dataFile: 'demo' };
  const n = subset ? categories.length * perCategory : quick ? 6 : 24;
  const base = { ...data, withFewshotPrompts: true, split: 'overlap' as const, sampleSize: n, seed: 0, checkpointSeconds: 1e9 };
  out.push(`model: generated Llama (runtime bench weights), d_model ${opened.model.spec.dModel}, ${opened.model.spec.nBlocks} blocks, ` +
    `context ${opened.model.spec.maxSeqLen}, byte-level tokenizer, provider ${opened.model.provider.provider}`);
  out.push(subset
    ? `data: ${n} MMLU-Pro test questions (${perCategory} from each of ${categories.join(', ')}), 5-shot examples from the validation split`
    : `data: ${n} demo questions with the demo's own 5-shot examples (../shared/data/mmlu-pro absent)`);

  const g = `generate ${gen} tokens`;
  // Each reused variant runs right next to its full-prompt twin, so drift in machine load hits both alike.
  const runs: { name: string; scoring: 'loglik' | 'generate'; batch: number; reuse: boolean; maxNew: number }[] = [];
  for (const [scoring, label, maxNew] of [['loglik', 'loglik', 1], ['generate', g, gen]] as const) {
    for (const batch of [1, 8]) {
      for (const reuse of [true, false]) runs.push({ name: `${label}, batch ${batch}, ${reuse ? 'prefix KV reused' : 'full prompts'}`, scoring, batch, reuse, maxNew });
    }
  }
  const secs = new Map<string, number>();
  const wall = new Map<string, number>();
  let promptTokens = 0;
  // Warm-up: open the sessions and let V8 compile the paths, on two items.
  await runEvaluation({ ...base, sampleSize: 2, scoring: 'loglik', out: path.join(root, 'eval-warmup.json') }, { model: opened.model, tokenizer: opened.tokenizer });
  for (const r of runs) {
    const cpu0 = process.cpuUsage();
    const o = await runEvaluation(
      { ...base, scoring: r.scoring, batchSize: r.batch, noPrefixReuse: !r.reuse, maxNewTokens: r.maxNew, out: path.join(root, `eval-${r.scoring}-${r.batch}-${r.reuse}.json`) },
      { model: opened.model, tokenizer: opened.tokenizer },
    );
    const cpu = process.cpuUsage(cpu0);
    secs.set(r.name, (cpu.user + cpu.system) / 1e6);
    wall.set(r.name, o.run.timing.totalSeconds);
    const items = o.run.results[0]!.items;
    promptTokens = items.reduce((a, i) => a + (i.promptTokens ?? 0), 0) / items.length;
  }
  await opened.model.release();
  out.push(`mean prompt: ${promptTokens.toFixed(0)} tokens; one run of each variant, ${n} items; 1 ORT thread; ` +
    'items/s per CPU second of this process (wall seconds also shown: they depend on what else the machine runs)');

  const ips = (name: string) => n / secs.get(name)!;
  const rows: (string | number)[][] = [['variant', 'CPU s', 'wall s', 'items/s (CPU)', 'vs full prompts, same batch']];
  for (const r of runs) {
    const full = runs.find((x) => x.scoring === r.scoring && x.batch === r.batch && x.maxNew === r.maxNew && !x.reuse)!;
    rows.push([r.name, secs.get(r.name)!, wall.get(r.name)!, ips(r.name), r.reuse ? `${(secs.get(full.name)! / secs.get(r.name)!).toFixed(2)}×` : '—']);
  }
  out.push(`\n(a) shared-prefix KV reuse vs full prompts:\n${table(rows)}`);
  const b = (s: string, batch: number) => ips(`${s}, batch ${batch}, prefix KV reused`);
  out.push(`\n(b) batch 8 vs batch 1 (prefix reused; a batch never mixes categories): loglik ${(b('loglik', 8) / b('loglik', 1)).toFixed(2)}×, ` +
    `${g} ${(b(g, 8) / b(g, 1)).toFixed(2)}×`);
  out.push(`(c) loglik vs ${g} (prefix reused): batch 1 ${(b('loglik', 1) / b(g, 1)).toFixed(2)}×, batch 8 ${(b('loglik', 8) / b(g, 8)).toFixed(2)}×`);
  return out.join('\n');
}
