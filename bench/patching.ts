/**
 * Layer-selection patching (runtime/thinking/patching.ts): positions × hook points patched per
 * second, exact patch and finite-difference estimate together (three passes per hook and chunk,
 * plus one clean pass per chunk), batched (every position of a behaviour in one pass) against one
 * position at a time, on the generated mid-size model and, when ../shared/data is there, on
 * stories260K. Chains are greedy generations of the model itself, so the KV caches are real.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateGreedy } from '../runtime/generate';
import { openModel } from '../runtime/openModel';
import type { Chain } from '../runtime/protocol/thinking';
import { categoryEffects, ChainKv, type PatchRow } from '../runtime/thinking/patching';
import { midModelDir } from './runtime';
import { interleaved, table } from './util';

const STORIES = path.resolve(__dirname, '..', '..', 'shared', 'data', 'stories260K', 'stories260K.bin');

async function benchOne(dir: string, label: string, root: string, quick: boolean): Promise<string[]> {
  const opened = await openModel(dir, { provider: 'cpu', graphCacheDir: path.join(root, 'graphs') });
  const { model, tokenizer } = opened;
  const nChains = 4;
  const genTokens = quick ? 64 : 192;
  const prompts = Array.from({ length: nChains }, (_, i) => tokenizer.encode(['Once upon a time', 'The dog ran', 'Lily was sad', 'Tom had a ball'][i]!, { addBos: true }));
  const gens = await generateGreedy(model, tokenizer, prompts, { maxNewTokens: genTokens, stopAtEos: false });
  const chains: Chain[] = gens.map((g, i) => ({ id: `c${i}`, task: `c${i}`, category: '', prompt: '', prompt_ids: prompts[i]!, ids: g.ids, text: '', offsets: g.ids.map(() => [0, 0]), stop_reason: g.stopReason }));
  // 8 positions per chain, spread over the generation (as spans are).
  const rows: PatchRow[] = chains.flatMap((c, i) => Array.from({ length: 8 }, (_, k) => {
    const pos = c.prompt_ids.length + Math.floor(((k + 0.5) * c.ids.length) / 8) - 1;
    return { chain: i, pos, next: [...c.prompt_ids, ...c.ids][pos + 1]! };
  }));
  const hooks = Array.from({ length: model.spec.nBlocks }, (_, l) => `blocks.${l}.hook_resid_post`);
  const vectors = hooks.map((_, h) => Float32Array.from({ length: model.spec.dModel }, (_, j) => Math.sin(h + j * 0.37)));
  const cache = new ChainKv(model, chains);
  for (let i = 0; i < nChains; i++) await cache.get(i); // clean caches once, as the job keeps them
  const run = (batchRows: number) => () => categoryEffects(model, chains, cache, rows, hooks, vectors, { metric: 'kl', coefficient: 1, fdStep: 0.05, batchRows, batchBytes: 1 << 30 });
  const reps = quick ? 1 : 3;
  const t = await interleaved({ batched: run(64), one: run(1) }, reps);
  const patches = rows.length * hooks.length;
  await model.release();
  return [
    `${label}: ${nChains} chains of ${genTokens} generated tokens, ${rows.length} positions × ${hooks.length} hook points, median of ${reps}:`,
    table([
      ['variant', 'passes', 'patches/s (positions × hooks)', 'speed-up'],
      ['batched (all positions in one pass)', 1 + 3 * hooks.length, patches / t.batched!, t.one! / t.batched!],
      ['one position at a time', rows.length * (1 + 3 * hooks.length), patches / t.one!, 1],
    ]),
  ];
}

export async function benchPatching(root: string, quick: boolean): Promise<string> {
  const out = await benchOne(midModelDir(root), 'generated Llama (d_model 512, 8 blocks)', root, quick);
  if (fs.existsSync(STORIES)) out.push('', ...(await benchOne(STORIES, 'stories260K', root, quick)));
  else out.push('', `stories260K: skipped (${STORIES} absent)`);
  return out.join('\n');
}
