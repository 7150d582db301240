/**
 * Steer & Compare: the same prompt generated greedily without and with steering, the word diff
 * between the two texts (jsdiff), and the KL divergence between the two next-token distributions
 * along the unsteered continuation: both models are fed the same tokens (the prompt, then the
 * unsteered tokens so far), so each value says how much steering changes the prediction there.
 */
import { diffWordsWithSpace } from 'diff';
import type { ModelTokenizer } from '../../models/load';
import { generateGreedy, type Generation } from '../generate';
import type { EditPositions, HookEdit, InstrumentedModel } from '../model';
import type { DiffPart, TokenSpan } from '../protocol/probe';
import { tokenSpans } from './tokens';
import { logSoftmax } from './trace';

/** KL(p ‖ q) of two logits rows, in nats (float64). */
export function klDivergence(pLogits: ArrayLike<number>, qLogits: ArrayLike<number>): number {
  const lp = logSoftmax(pLogits);
  const lq = logSoftmax(qLogits);
  let kl = 0;
  for (let i = 0; i < lp.length; i++) {
    const p = Math.exp(lp[i]!);
    if (p > 0) kl += p * (lp[i]! - lq[i]!);
  }
  return Math.max(0, kl);
}

export function wordDiff(a: string, b: string): DiffPart[] {
  return diffWordsWithSpace(a, b).map((c) => ({ op: c.added ? 'added' : c.removed ? 'removed' : 'same', text: c.value }));
}

/**
 * Next-token logits at each step of `continuation` after `prompt`: row k predicts
 * continuation[k]. Edits with positions 'last' apply to the prompt's last token and to every
 * continuation token, as they do while generating (each decoding step's one token is the last).
 */
export async function continuationLogits(model: InstrumentedModel, prompt: number[], continuation: number[], edits: HookEdit[] | undefined, positions: EditPositions): Promise<Float32Array[]> {
  const V = model.spec.vocabSize;
  const first = await model.forward([prompt], undefined, { edits, editPositions: positions });
  const rows = [first.logits[0]!];
  if (continuation.length > 1) {
    const rest = await model.forward([continuation.slice(0, -1)], first.kv, { edits, editPositions: 'all', allLogits: true });
    const all = rest.logits[0]!;
    for (let k = 0; k < continuation.length - 1; k++) rows.push(all.subarray(k * V, (k + 1) * V));
  }
  return rows;
}

export interface Side {
  text: string;
  tokens: TokenSpan[];
  stopReason: string;
  ids: number[];
}

function side(tokenizer: ModelTokenizer, prompt: number[], g: Generation): Side {
  const { spans } = tokenSpans(tokenizer, [...prompt, ...g.ids]);
  const gen = spans.slice(prompt.length);
  const origin = gen[0]?.start ?? 0;
  // Offsets into the generated text (cut at a stop string: tokens past it end at its length).
  const tokens = gen.map((s) => ({ ...s, start: Math.min(s.start - origin, g.text.length), end: Math.min(s.end - origin, g.text.length) }));
  return { text: g.text, tokens, stopReason: g.stopReason, ids: g.ids };
}

export interface Comparison {
  base: Side;
  steered: Side;
  diff: DiffPart[];
  kl: number[];
}

export async function compareSteering(
  model: InstrumentedModel,
  tokenizer: ModelTokenizer,
  prompt: number[],
  o: { maxNewTokens: number; stopStrings: string[]; edits: HookEdit[]; positions: EditPositions; signal?: AbortSignal },
): Promise<Comparison> {
  const [baseGen] = await generateGreedy(model, tokenizer, [prompt], { maxNewTokens: o.maxNewTokens, stopStrings: o.stopStrings, signal: o.signal });
  const [steeredGen] = await generateGreedy(model, tokenizer, [prompt], { maxNewTokens: o.maxNewTokens, stopStrings: o.stopStrings, edits: o.edits, editPositions: o.positions, signal: o.signal });
  const base = side(tokenizer, prompt, baseGen!);
  const steered = side(tokenizer, prompt, steeredGen!);
  let kl: number[] = [];
  if (base.ids.length) {
    const p = await continuationLogits(model, prompt, base.ids, undefined, 'all');
    const q = await continuationLogits(model, prompt, base.ids, o.edits, o.positions);
    kl = p.map((row, k) => klDivergence(row, q[k]!));
  }
  return { base, steered, diff: wordDiff(base.text, steered.text), kl };
}
