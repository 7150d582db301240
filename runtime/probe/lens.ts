/**
 * The logit lens: the model's own final norm and unembedding applied to the residual stream at
 * each hook point and position (models/graph/spec.ts LENS: the same weights, precision and ops as
 * the model's head), giving each layer's "next token so far". At the last block's output this is
 * exactly the model's own next-token distribution.
 */
import type { ModelTokenizer } from '../../models/load';
import type { EditPositions, HookEdit, InstrumentedModel } from '../model';
import type { TopToken } from '../protocol/probe';
import { logSoftmax, topK } from './trace';

/** Lens rows per pass: bounds the [rows, V] logits held at once (≈ 128 MB of floats). */
const LENS_FLOATS_PER_PASS = 32 * 2 ** 20;

/** Logits of final norm + head for each row of `rows` ([n·d]), in passes of bounded size. */
export async function lensLogits(model: InstrumentedModel, rows: Float32Array): Promise<Float32Array> {
  const { dModel: d, vocabSize: V } = model.spec;
  const n = rows.length / d;
  const out = new Float32Array(n * V);
  const per = Math.max(1, Math.floor(LENS_FLOATS_PER_PASS / V));
  // Any one token serves as the pass's input: only the lens output is fetched.
  const token = [[model.spec.bosTokenId ?? 0]];
  for (let start = 0; start < n; start += per) {
    const end = Math.min(n, start + per);
    const r = await model.forward(token, undefined, { readsOnly: true, lensRows: rows.subarray(start * d, end * d) });
    out.set(r.lensLogits!, start * V);
  }
  return out;
}

/** The k most likely tokens of a logits row, with probabilities. */
export function topTokens(tokenizer: ModelTokenizer, logits: ArrayLike<number>, k: number): TopToken[] {
  const lp = logSoftmax(logits);
  return topK(lp, k).map((e) => ({ id: e.index, piece: tokenizer.tokenText(e.index), prob: Math.exp(e.value) }));
}

export interface LensGrid {
  /** cells[hook][position]: top-k of the lens. */
  cells: TopToken[][][];
  /** The model's own top-k per position. */
  output: TopToken[][];
  /** The lens logits [hook][position·V] and the model's [position·V], for tests and exports. */
  lens: Float32Array[];
  logits: Float32Array;
}

export async function logitLens(
  model: InstrumentedModel,
  tokenizer: ModelTokenizer,
  ids: number[],
  o: { hooks: string[]; topK: number; edits?: HookEdit[]; editPositions?: EditPositions },
): Promise<LensGrid> {
  const { vocabSize: V } = model.spec;
  const S = ids.length;
  const r = await model.forward([ids], undefined, { reads: o.hooks.map((hook) => ({ hook, positions: 'all' as const })), allLogits: true, edits: o.edits, editPositions: o.editPositions });
  const lens: Float32Array[] = [];
  for (const hook of o.hooks) lens.push(await lensLogits(model, r.reads.get(hook)![0]!));
  const k = Math.min(o.topK, V);
  const cells = lens.map((l) => Array.from({ length: S }, (_, p) => topTokens(tokenizer, l.subarray(p * V, (p + 1) * V), k)));
  const logits = r.logits[0]!;
  const output = Array.from({ length: S }, (_, p) => topTokens(tokenizer, logits.subarray(p * V, (p + 1) * V), k));
  return { cells, output, lens, logits };
}
