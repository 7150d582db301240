/**
 * Prompts for evaluation: the exact text of each question's prompt, the part of it shared by a
 * whole category (the few-shot examples, plus the chat header when the template has one), and
 * their token ids, with the check that makes reusing the shared part's KV cache safe.
 *
 * Why a token-level check: the KV cache of a prefix is only valid when the prompt's tokens start
 * with exactly the prefix's tokens. Tokenizing "examples" and "examples + question" separately
 * can differ at the boundary (a BPE merge across it), so each prompt is tokenized whole and the
 * shared tokens are compared with its beginning; a prompt where they differ is run in full.
 */
import { createHash } from 'node:crypto';
import {
  factualRecallPrompt,
  gsm8kFewShot,
  mmluProQuery,
  popqaPrompt,
  renderPrompt,
  scoreModeOf,
  validateUserTemplate,
  LETTERS,
  SEED_SYSTEM_PROMPT,
  type Dataset,
  type FewShotPrompt,
  type MmluProFewShot,
  type QARecord,
  type Subset,
} from '../../datasets';
import type { ModelTokenizer } from '../../models/load';
import { EvaluateError, type Scoring } from './options';

/** How the prompt text is wrapped. */
export type EvalTemplate =
  /** The seed's command 2: the tokenizer's chat template, system prompt, user message = few-shot examples + question. */
  | { kind: 'seed-chat'; system: string }
  /** The same text with no chat wrapper (base models; what evaluation harnesses do). */
  | { kind: 'plain' }
  /** The paper's own code: `Q: {question}\nA: `, no options, no examples. */
  | { kind: 'bare' }
  /** A user text with {question}, {options}, {answer}; few-shot examples go before it. */
  | { kind: 'user'; template: string };

/**
 * The answer cue loglik scoring appends: the few-shot examples answer "A: The answer is (X).", so
 * after it the next token is the option letter. A prompt that already ends with it is left as is.
 */
export const ANSWER_CUE = 'The answer is (';

/** Stop string added for few-shot prompts: a model that answered goes on to invent the next "Q:". */
export const FEWSHOT_STOP = '\n\nQ:';

export function hasChatTemplate(tok: ModelTokenizer): boolean {
  if (typeof tok.applyChatTemplate !== 'function') return false;
  // HF tokenizers always have the method; it only works when the folder ships a template.
  return 'chatTemplate' in tok ? Boolean((tok as { chatTemplate?: string }).chatTemplate) : true;
}

/** `auto` is seed-chat when the tokenizer has a chat template (the seed's prompt), else plain. */
export function resolveTemplate(spec: string, tok: ModelTokenizer, system?: string): EvalTemplate {
  switch (spec) {
    case 'auto':
      return hasChatTemplate(tok) ? { kind: 'seed-chat', system: system ?? SEED_SYSTEM_PROMPT } : { kind: 'plain' };
    case 'seed-chat':
      if (!hasChatTemplate(tok)) {
        throw new EvaluateError(`--template seed-chat needs a chat template, but the tokenizer (${tok.source}) has none; use --template plain (or auto) for base models`);
      }
      return { kind: 'seed-chat', system: system ?? SEED_SYSTEM_PROMPT };
    case 'plain':
      return { kind: 'plain' };
    case 'bare':
      return { kind: 'bare' };
    default: {
      if (!spec.includes('{')) {
        throw new EvaluateError(`unknown --template "${spec}": use auto, seed-chat, plain, bare, or a text with {question} (and optionally {options})`);
      }
      const template = spec.replace(/\\([nt\\])/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
      try {
        validateUserTemplate(template);
      } catch (e) {
        throw new EvaluateError(`--template: ${(e as Error).message}`);
      }
      return { kind: 'user', template };
    }
  }
}

export function templateName(t: EvalTemplate): string {
  return t.kind === 'user' ? t.template : t.kind;
}

export interface PromptContext {
  dataset: Dataset;
  template: EvalTemplate;
  tokenizer: ModelTokenizer;
  fewshot: boolean;
  cot: boolean;
  /** MMLU-Pro few-shot examples (multiple-choice data with --with_fewshot_prompts). */
  mmluFewShot?: MmluProFewShot;
  scoring: Scoring;
}

/** Prompt text split into the part shared by a group and the question's own part. */
export interface PromptText {
  /** The whole prompt. */
  text: string;
  /** Its beginning shared by every question of `group` ('' when nothing is shared). */
  shared: string;
  /** The few-shot category (or '' when the prompt has no examples). */
  group: string;
}

/** The unwrapped prompt: few-shot prefix and question, per dataset kind. */
export function fewShotParts(r: QARecord, ctx: Pick<PromptContext, 'dataset' | 'template' | 'fewshot' | 'cot' | 'mmluFewShot'>): FewShotPrompt & { group: string } {
  const t = ctx.template;
  if (t.kind === 'bare') {
    if (ctx.fewshot) throw new EvaluateError('--template bare is the paper code\'s prompt without examples; drop --with_fewshot_prompts or choose another template');
    return { prefix: '', query: `Q: ${r.question}\nA: `, group: '' };
  }
  const mode = scoreModeOf(r);
  let p: FewShotPrompt;
  let group = '';
  if (mode === 'choice') {
    if (ctx.fewshot) {
      if (!ctx.mmluFewShot) throw new Error('internal: multiple-choice few-shot prompts need the MMLU-Pro examples');
      try {
        group = ctx.mmluFewShot.categoryOf(r);
        p = ctx.mmluFewShot.render(r);
      } catch (e) {
        throw new EvaluateError(`${ctx.dataset.file}: record ${r.id}: ${(e as Error).message}`);
      }
    } else {
      // The seed adds "Let's think step by step." only together with few-shot examples.
      p = { prefix: '', query: mmluProQuery(r, false) };
    }
  } else if (ctx.dataset.kind === 'gsm8k' || mode === 'number') {
    p = ctx.fewshot ? gsm8kFewShot(r) : gsm8kFewShot(r, { examples: [], header: '' });
    if (ctx.fewshot) group = 'gsm8k';
  } else if (ctx.dataset.kind === 'factual-recall') {
    p = factualRecallPrompt(r);
  } else {
    p = popqaPrompt(r);
  }
  if (t.kind === 'user') p = { prefix: p.prefix, query: renderPrompt({ kind: 'user', template: t.template }, r) };
  return { ...p, group };
}

/** The exact prompt text of a record, and the part of it its group shares. */
export function promptText(r: QARecord, ctx: PromptContext): PromptText {
  const { prefix, query, group } = fewShotParts(r, ctx);
  const t = ctx.template;
  if (t.kind !== 'seed-chat') return { text: prefix + query, shared: prefix, group };
  const content = prefix + query;
  const apply = ctx.tokenizer.applyChatTemplate!;
  const text = apply([{ role: 'system', content: t.system }, { role: 'user', content }], { addGenerationPrompt: true });
  // The shared part is everything up to the end of the examples inside the rendered chat. A
  // template that rewrites the message (trims it, say) makes it unfindable: then nothing is shared.
  const at = text.indexOf(content);
  return { text, shared: prefix && at >= 0 ? text.slice(0, at + prefix.length) : '', group };
}

export interface PreparedItem {
  /** Position in the selection (dataset order). */
  index: number;
  record: QARecord & { label: Subset };
  group: string;
  /** The prompt as the model sees it (loglik: without the answer cue). */
  promptText: string;
  promptHash: string;
  /** Prepended to generated text before answer extraction (the cue, when the prompt ends with it). */
  scorePrefix: string;
  /**
   * generate: the prompt's token ids. loglik: the ids every option's continuation shares (the
   * prompt, the cue, and whatever of the letter's context the tokenizer keeps apart).
   */
  tokens: number[];
  /** loglik: per option letter, the token ids after `tokens` (usually one: the letter). */
  options?: { letter: string; cont: number[] }[];
  /** Key of the group's shared prefix in PreparedPrompts.prefixes, or null. */
  prefixKey: string | null;
  /**
   * Tokens of `tokens` that are exactly the group's shared prefix (verified token by token); 0
   * when the prompt shares nothing or failed the check and must run in full.
   */
  sharedLen: number;
}

export interface SharedPrefix {
  key: string;
  label: string;
  tokens: number[];
}

export interface PreparedPrompts {
  items: PreparedItem[];
  prefixes: Map<string, SharedPrefix>;
  /** Prompts whose tokens did not start with their group's shared tokens (run in full). */
  prefixFallbacks: string[];
  /** Whether chat-template text was tokenized without adding BOS (the template writes it). */
  addBos: boolean;
}

export function hashText(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16);
}

/** Tokenizes every prompt once; reused by every intervention of a run or sweep. */
export function preparePrompts(records: (QARecord & { label: Subset })[], ctx: PromptContext): PreparedPrompts {
  const tok = ctx.tokenizer;
  // A chat template writes BOS itself (when the model has one); plain text gets it from encode.
  const addBos = ctx.template.kind !== 'seed-chat';
  const prefixes = new Map<string, SharedPrefix>();
  const fallbacks: string[] = [];
  const items: PreparedItem[] = records.map((record, index) => {
    const p = promptText(record, ctx);
    let tokens: number[];
    let options: PreparedItem['options'];
    let scorePrefix = '';
    if (ctx.scoring === 'loglik') {
      if (scoreModeOf(record) !== 'choice') {
        throw new EvaluateError(`--scoring loglik compares option letters, but record ${record.id} of ${ctx.dataset.file} has no options; use --scoring generate`);
      }
      const ctxText = p.text.endsWith(ANSWER_CUE) ? p.text : p.text + ANSWER_CUE;
      const seqs = record.options.map((_, i) => tok.encode(ctxText + LETTERS[i], { addBos }));
      const common = commonPrefixLength(seqs);
      tokens = seqs[0].slice(0, common);
      options = seqs.map((s, i) => ({ letter: LETTERS[i]!, cont: s.slice(common) }));
      if (tokens.length === 0 || options.some((o) => o.cont.length === 0)) {
        throw new EvaluateError(`record ${record.id}: the option letters cannot be told apart after tokenization (the tokenizer maps two letters to the same ids)`);
      }
    } else {
      tokens = tok.encode(p.text, { addBos });
      if (tokens.length === 0) throw new EvaluateError(`record ${record.id}: the prompt tokenizes to nothing and the tokenizer has no BOS to start it`);
      if (p.text.endsWith(ANSWER_CUE)) scorePrefix = ANSWER_CUE;
    }
    let prefixKey: string | null = null;
    let sharedLen = 0;
    if (p.shared !== '') {
      prefixKey = hashText(p.shared);
      let sp = prefixes.get(prefixKey);
      if (!sp) {
        sp = { key: prefixKey, label: p.group, tokens: tok.encode(p.shared, { addBos }) };
        prefixes.set(prefixKey, sp);
      }
      // At least one token of the prompt must follow the prefix: its logits are what we need.
      if (sp.tokens.length > 0 && sp.tokens.length < tokens.length && startsWith(tokens, sp.tokens)) {
        sharedLen = sp.tokens.length;
      } else {
        fallbacks.push(record.id);
      }
    }
    return {
      index, record, group: p.group, promptText: p.text, promptHash: hashText(p.text), scorePrefix, tokens,
      ...(options ? { options } : {}), prefixKey, sharedLen,
    };
  });
  return { items, prefixes, prefixFallbacks: fallbacks, addBos };
}

export function startsWith(a: readonly number[], prefix: readonly number[]): boolean {
  if (prefix.length > a.length) return false;
  for (let i = 0; i < prefix.length; i++) if (a[i] !== prefix[i]) return false;
  return true;
}

/** Length of the longest common prefix of every sequence. */
export function commonPrefixLength(seqs: readonly (readonly number[])[]): number {
  if (seqs.length === 0) return 0;
  let n = Math.min(...seqs.map((s) => s.length));
  for (const s of seqs) {
    let i = 0;
    while (i < n && s[i] === seqs[0][i]) i++;
    n = i;
  }
  return n;
}

/**
 * Batches that never mix groups (a batch shares one prefix KV), in the order groups first appear,
 * prompts that share the prefix before those that fall back to a full run. Within each, prompts
 * go longest first (as the seed's later versions sorted them): a batch is left-padded to its
 * longest prompt, and MMLU-Pro questions range from a line to a page, so neighbours in length
 * waste the least compute on padding. The sort is stable and the composition does not depend on
 * whether the prefix KV is then reused, so runs with and without reuse batch alike.
 */
export function planBatches(items: readonly PreparedItem[], batchSize: number): PreparedItem[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new EvaluateError(`--batch_size must be a positive integer, got ${batchSize}`);
  const groups = new Map<string, { shared: PreparedItem[]; full: PreparedItem[] }>();
  for (const it of items) {
    const key = it.prefixKey ?? '';
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { shared: [], full: [] }));
    (it.sharedLen > 0 ? g.shared : g.full).push(it);
  }
  const out: PreparedItem[][] = [];
  const byLength = (a: PreparedItem, b: PreparedItem) => b.tokens.length - a.tokens.length;
  for (const g of groups.values()) {
    for (const list of [g.shared.sort(byLength), g.full.sort(byLength)]) for (let i = 0; i < list.length; i += batchSize) out.push(list.slice(i, i + batchSize));
  }
  return out;
}
