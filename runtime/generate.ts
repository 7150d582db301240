/**
 * Greedy generation over an InstrumentedModel: batched prefill with left padding, then one
 * token per step through the KV cache, with stop strings, EOS, a token budget and edits applied
 * at every position of the prefill and at every decoding step.
 */
import type { Tokenizer } from '../models/checkpoint';
import { ModelInputError, selectRows, type EditPositions, type HookEdit, type InstrumentedModel, type KvState } from './model';

export interface GenerateOptions {
  maxNewTokens: number;
  /** Generation of a row stops at the first occurrence of any of these; the text is cut there. */
  stopStrings?: string[];
  /** Stop a row at the tokenizer's end-of-sequence ids (default true). */
  stopAtEos?: boolean;
  edits?: HookEdit[];
  editPositions?: EditPositions;
  /**
   * false recomputes the whole sequence every step instead of using the KV cache. Only useful
   * to measure what the cache saves and to check it changes nothing.
   */
  useKvCache?: boolean;
  /**
   * A context already run for every row (one KV row per prompt), e.g. a few-shot prefix computed
   * once and replicated with selectRows: each prompt then holds only the tokens after it. It must
   * have been computed with the same edits, since edits apply at the prefix's positions too.
   * Needs the KV cache (useKvCache true).
   */
  past?: KvState;
  /** No effect (kept so existing callers compile): see ForwardOptions.forceEditGraph. */
  forceEditGraph?: boolean;
  signal?: AbortSignal;
}

export type StopReason = 'eos' | 'stop-string' | 'max-new-tokens' | 'context-full';

export interface Generation {
  /** Generated token ids (the prompt excluded; EOS included when it stopped the row). */
  ids: number[];
  /** Decoded generated text, cut before the stop string when one stopped it. */
  text: string;
  stopReason: StopReason;
}

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

/** The model computed NaN or infinity where a number was needed (a bad weight, an overflow). */
export class NonFiniteOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteOutputError';
  }
}

/** argmax, refusing NaN or infinite logits: their argmax is meaningless (always token 0 for NaN). */
export function finiteArgmax(v: Float32Array, what: string): number {
  for (let i = 0; i < v.length; i++) {
    if (v[i] - v[i] !== 0) {
      throw new NonFiniteOutputError(`the model computed a non-finite logit (${v[i]} for token ${i}) for ${what}; check the checkpoint's weights and the prompt`);
    }
  }
  return argmax(v);
}

export function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

export async function generateGreedy(
  model: InstrumentedModel,
  tokenizer: Tokenizer,
  prompts: number[][],
  opts: GenerateOptions,
): Promise<Generation[]> {
  const maxCtx = model.spec.maxSeqLen;
  const past = opts.past;
  if (past && past.mask.length !== prompts.length) {
    throw new ModelInputError(`the shared context has ${past.mask.length} rows for ${prompts.length} prompts`);
  }
  if (past && opts.useKvCache === false) throw new ModelInputError('a shared context (past) needs the KV cache');
  // Tokens before each prompt that are already in `past`.
  const before = (b: number) => (past ? past.nextPos[b] : 0);
  for (const [i, p] of prompts.entries()) {
    if (p.length === 0) throw new ModelInputError(`prompt ${i} is empty: start it with BOS`);
    if (before(i) + p.length > maxCtx) {
      throw new ModelInputError(`prompt ${i} has ${before(i) + p.length} tokens, longer than the model's context of ${maxCtx}`);
    }
  }
  const stopAtEos = opts.stopAtEos ?? true;
  const eos = new Set(tokenizer.eosIds);
  const stops = (opts.stopStrings ?? []).filter((s) => s.length > 0);
  const useCache = opts.useKvCache ?? true;
  const fwd = { edits: opts.edits, editPositions: opts.editPositions, forceEditGraph: opts.forceEditGraph };

  const out: Generation[] = prompts.map(() => ({ ids: [], text: '', stopReason: 'max-new-tokens' as StopReason }));
  // Rows still generating, as indices into `prompts`; finished rows leave the batch (and the
  // KV cache) so they cost nothing and never run past the context.
  let active = prompts.map((_, b) => b);
  let kv: KvState | undefined;
  let next: number[] = [];

  for (let step = 0; step < opts.maxNewTokens && active.length > 0; step++) {
    if (opts.signal?.aborted) throw new CancelledError();
    const r =
      step === 0 || !useCache
        ? await model.forward(active.map((b) => [...prompts[b], ...out[b].ids]), step === 0 ? past : undefined, fwd)
        : await model.forward(next.map((t) => [t]), kv, fwd);
    const stillActive: number[] = [];
    const keep: number[] = [];
    next = [];
    active.forEach((b, row) => {
      const tok = finiteArgmax(r.logits[row], `prompt ${b}, new token ${step + 1}`);
      const g = out[b];
      g.ids.push(tok);
      if (stopAtEos && eos.has(tok)) {
        g.stopReason = 'eos';
        g.text = decodeAfter(tokenizer, prompts[b], g.ids.slice(0, -1));
        return;
      }
      g.text = decodeAfter(tokenizer, prompts[b], g.ids);
      const cut = firstStop(g.text, stops);
      if (cut >= 0) {
        g.text = g.text.slice(0, cut);
        g.stopReason = 'stop-string';
        return;
      }
      if (before(b) + prompts[b].length + g.ids.length >= maxCtx) {
        g.stopReason = 'context-full';
        return;
      }
      stillActive.push(b);
      keep.push(row);
      next.push(tok);
    });
    kv = keep.length === active.length ? r.kv : selectRows(r.kv, keep);
    active = stillActive;
  }
  return out;
}

/**
 * The text the new ids add after the prompt. Decoding them with a few prompt tokens before
 * them and removing the prompt part keeps what depends on context right: llama2.c drops the
 * space after BOS, and byte-level tokens can complete a character begun in the prompt.
 */
export function decodeAfter(tokenizer: Tokenizer, prompt: number[], ids: number[]): string {
  const context = prompt.slice(-8);
  const before = tokenizer.decode(context);
  const all = tokenizer.decode([...context, ...ids]);
  return all.startsWith(before) ? all.slice(before.length) : tokenizer.decode(ids);
}

function firstStop(text: string, stops: string[]): number {
  let cut = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (cut < 0 || i < cut)) cut = i;
  }
  return cut;
}
