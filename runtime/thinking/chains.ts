/**
 * Reasoning chains: greedy generations over a task set, stored with their token ids and each
 * token's character offsets so that a span of text (an annotation) maps to token positions
 * without re-tokenizing — re-tokenizing a generation rarely gives back the ids the model wrote.
 *
 * The prompt is the model's chat template with one user turn and the generation prompt (a
 * thinking model's template opens `<think>` there), or, for a model without one, the task text
 * after BOS. Decoding keeps thinking tags: `<think>`/`</think>` are ordinary added tokens in
 * thinking models' tokenizers, so they decode into the text like any other.
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { Task } from '../../datasets/tasks';
import { DatasetError } from '../../datasets/jsonl';
import { withFsErrors } from '../../models/common/files';
import type { ModelTokenizer } from '../../models/load';
import { decodeAfter, generateGreedy, type Generation } from '../generate';
import type { EditPositions, HookEdit, InstrumentedModel } from '../model';
import { chainsProvenanceSchema, codePointAt16, codePointIndex, parseChains, type Chain, type ChainsProvenance } from '../protocol/thinking';

export type ChainTemplate = 'chat' | 'plain';

/** `auto`: the chat template when the tokenizer has one, else plain. */
export function chooseChainTemplate(tokenizer: ModelTokenizer, asked: 'auto' | ChainTemplate): ChainTemplate {
  const hasChat = typeof tokenizer.applyChatTemplate === 'function' && !!(tokenizer as { chatTemplate?: string }).chatTemplate;
  if (asked === 'chat' && !hasChat) throw new Error(`--template chat: the tokenizer of this model (${tokenizer.source}) has no chat template; use --template plain`);
  return asked === 'auto' ? (hasChat ? 'chat' : 'plain') : asked;
}

/** The prompt of a task as text and ids (the chat text holds its own BOS). */
export function taskPrompt(tokenizer: ModelTokenizer, task: Pick<Task, 'prompt'>, template: ChainTemplate): { text: string; ids: number[] } {
  if (template === 'chat') {
    const text = tokenizer.applyChatTemplate!([{ role: 'user', content: task.prompt }], { addGenerationPrompt: true });
    return { text, ids: tokenizer.encode(text, { addBos: false }) };
  }
  return { text: task.prompt, ids: tokenizer.encode(task.prompt, { addBos: true }) };
}

/**
 * `[start, end)` code points of `text` for each generated id: token i ends where the text of the
 * first i+1 ids stops agreeing with `text`. A token holding part of a multi-byte character decodes
 * to U+FFFD, which disagrees, so it ends where it started (empty) and the token completing the
 * character covers it; ids past a stop string, and an EOS (decoded as nothing), are empty at the end.
 */
export function tokenOffsets(tokenizer: ModelTokenizer, promptIds: number[], ids: number[], text: string): [number, number][] {
  const idx = codePointIndex(text);
  const out: [number, number][] = [];
  let prev = 0;
  for (let i = 0; i < ids.length; i++) {
    const t = decodeAfter(tokenizer, promptIds, ids.slice(0, i + 1));
    let k = 0;
    const n = Math.min(t.length, text.length);
    while (k < n && t.charCodeAt(k) === text.charCodeAt(k)) k++;
    const end = Math.max(prev, codePointAt16(idx, k));
    out.push([prev, end]);
    prev = end;
  }
  if (out.length) out[out.length - 1]![1] = idx.length - 1;
  return out;
}

export interface GenerateChainsOptions {
  template: ChainTemplate;
  maxNewTokens: number;
  stop: string[];
  batchSize: number;
  edits?: HookEdit[];
  editPositions?: EditPositions;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Generates one chain per task (its id is the task's), in task order. */
export async function generateChains(model: InstrumentedModel, tokenizer: ModelTokenizer, tasks: readonly Task[], opts: GenerateChainsOptions): Promise<Chain[]> {
  const prompts = tasks.map((t) => taskPrompt(tokenizer, t, opts.template));
  const tooLong = prompts.map((p, i) => ({ i, n: p.ids.length })).filter((p) => p.n >= model.spec.maxSeqLen);
  if (tooLong.length) {
    throw new Error(`${tooLong.length} task prompt(s) fill the model's context of ${model.spec.maxSeqLen} tokens (${tooLong.slice(0, 3).map((p) => `${tasks[p.i]!.id}: ${p.n}`).join(', ')}); shorten them`);
  }
  const chains: Chain[] = [];
  opts.onProgress?.(0, tasks.length);
  for (let b = 0; b < tasks.length; b += opts.batchSize) {
    const batch = prompts.slice(b, b + opts.batchSize);
    const gens: Generation[] = await generateGreedy(model, tokenizer, batch.map((p) => p.ids), {
      maxNewTokens: opts.maxNewTokens,
      stopStrings: opts.stop,
      edits: opts.edits,
      editPositions: opts.editPositions,
      signal: opts.signal,
    });
    gens.forEach((g, k) => {
      const task = tasks[b + k]!;
      const p = batch[k]!;
      chains.push({
        id: task.id,
        task: task.id,
        category: task.category,
        prompt: p.text,
        prompt_ids: p.ids,
        ids: g.ids,
        text: g.text,
        offsets: tokenOffsets(tokenizer, p.ids, g.ids, g.text),
        stop_reason: g.stopReason,
      });
    });
    opts.onProgress?.(Math.min(tasks.length, b + opts.batchSize), tasks.length);
  }
  return chains;
}

export function chainsJsonl(chains: readonly Chain[]): string {
  return chains.map((c) => JSON.stringify(c)).join('\n') + '\n';
}

export function sha256(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

export interface LoadedChains {
  file: string;
  /** sha256 of the file's bytes. */
  hash: string;
  chains: Chain[];
  /** 1-based line of each chain. */
  lines: number[];
  /** The provenance beside it, when there is one (chains from other tools may have none). */
  provenance?: ChainsProvenance;
}

/** Reads and checks a chains file (structure; see verifyChainTokens for the tokenizer check). */
export function readChains(file: string, provenanceFile?: string): LoadedChains {
  const bytes = withFsErrors({ path: file, operation: 'read the chains file' }, () => fs.readFileSync(file));
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DatasetError({ file }, 'is not UTF-8 text', 'A chains file is UTF-8 JSONL as layerlab generate-chains writes it.');
  }
  const { chains, lines } = parseChains(text, file);
  const hash = sha256(bytes);
  let provenance: ChainsProvenance | undefined;
  if (provenanceFile && fs.existsSync(provenanceFile)) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(provenanceFile, 'utf8'));
    } catch (e) {
      throw new DatasetError({ file: provenanceFile }, `is not valid JSON (${(e as Error).message})`, 'Regenerate the chains, or delete the provenance file.');
    }
    const r = chainsProvenanceSchema.safeParse(raw);
    if (!r.success) throw new DatasetError({ file: provenanceFile, field: r.error.issues[0]!.path.join('.') }, `is not a chains provenance file (${r.error.issues[0]!.message})`, 'Regenerate the chains.');
    if (r.data.chains_hash !== hash) {
      throw new DatasetError({ file: provenanceFile }, `describes other chains than ${file} holds now (the chains file changed after it was written)`, 'Regenerate the chains, or delete the provenance file if the edit was on purpose.');
    }
    provenance = r.data;
  }
  return { file, hash, chains, lines, provenance };
}

/**
 * Checks that each chain's ids are this tokenizer's text and offsets: the ids decode to text that
 * begins with the stored text, and the offsets are the ones tokenOffsets computes. Names the file,
 * line and first token that disagrees.
 */
export function verifyChainTokens(loaded: LoadedChains, tokenizer: ModelTokenizer): void {
  loaded.chains.forEach((c, i) => {
    const line = loaded.lines[i]!;
    const decoded = decodeAfter(tokenizer, c.prompt_ids, c.ids);
    if (!decoded.startsWith(c.text)) {
      let k = 0;
      while (k < c.text.length && decoded[k] === c.text[k]) k++;
      throw new DatasetError({ file: loaded.file, line, field: 'text' },
        `chain ${c.id}: the text is not what its ids decode to with this tokenizer (they differ from UTF-16 index ${k}: ${JSON.stringify(c.text.slice(k, k + 20))} vs ${JSON.stringify(decoded.slice(k, k + 20))})`,
        'Use the model (and tokenizer) the chains were generated with, or regenerate them.');
    }
    const want = tokenOffsets(tokenizer, c.prompt_ids, c.ids, c.text);
    const bad = want.findIndex((o, t) => o[0] !== c.offsets[t]![0] || o[1] !== c.offsets[t]![1]);
    if (bad >= 0) {
      throw new DatasetError({ file: loaded.file, line, field: 'offsets' },
        `chain ${c.id}: token ${bad} (id ${c.ids[bad]}) is stored at characters [${c.offsets[bad]!.join(', ')}), but its text is at [${want[bad]!.join(', ')})`,
        'The offsets do not match the text; regenerate the chains (offsets are code points of the generated text).');
    }
  });
}
