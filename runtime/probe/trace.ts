/**
 * Tracing: run prompts (steered or not) and keep every asked hook point's values at the asked
 * positions, and the logits; write them as one safetensors file (`layerlab trace`) with the
 * same provenance as a hidden-state cache, the token ids, pieces and offsets of every prompt.
 *
 * Trace file layout (safetensors, loads with `safetensors.numpy.load_file`):
 *   <hook point>       [rows, d_model] F32   one row per token (positions all: the tokens of
 *                                            prompt 0, then prompt 1, …) or per prompt
 *   logits             [logit rows, vocab] F32   (--logits last: one row per prompt; all: per token)
 *   top_k.ids          [logit rows, k] I32   (--top_k k) the k most likely next tokens
 *   top_k.logprobs     [logit rows, k] F32   their log-probabilities
 *   metadata: format = layerlab-trace, positions, logits, row_offsets (positions all: where each
 *   prompt's rows start), record_ids, tokens (per prompt: the decoded text and [id, piece, start,
 *   end] per token), the model provenance of caches, the prompt source and, when steered, the
 *   steering applied.
 */
import * as path from 'node:path';
import { openSafetensors, writeSafetensors, type SafetensorsIntTensorInput, type SafetensorsTensorInput } from '../../models/safetensors';
import { CancelledError } from '../generate';
import type { EditPositions, HookEdit, InstrumentedModel, ReadPositions } from '../model';
import type { ModelTokenizer } from '../../models/load';
import { UsageError } from '../protocol/argv';
import type { TokenizedText } from '../protocol/probe';
import { tokenSpans } from './tokens';

export const TRACE_FORMAT = 'layerlab-trace';

export interface TraceOptions {
  hooks: string[];
  positions: ReadPositions;
  logits: 'none' | 'last' | 'all';
  batchSize: number;
  edits?: HookEdit[];
  editPositions?: EditPositions;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface TracedPrompt {
  /** hook → [d] (last, mean) or [len·d] (all). */
  reads: Map<string, Float32Array>;
  /** [V] (last) or [len·V] (all). */
  logits?: Float32Array;
}

/** Runs the prompts in batches (left-padded, masked) and keeps what was asked for. */
export async function tracePrompts(model: InstrumentedModel, prompts: number[][], o: TraceOptions): Promise<TracedPrompt[]> {
  const out: TracedPrompt[] = [];
  for (let start = 0; start < prompts.length; start += o.batchSize) {
    if (o.signal?.aborted) throw new CancelledError();
    const batch = prompts.slice(start, start + o.batchSize);
    const r = await model.forward(batch, undefined, {
      reads: o.hooks.map((hook) => ({ hook, positions: o.positions })),
      allLogits: o.logits === 'all',
      readsOnly: o.logits === 'none',
      edits: o.edits,
      editPositions: o.editPositions,
    });
    batch.forEach((_, b) => {
      const reads = new Map<string, Float32Array>();
      for (const hook of o.hooks) reads.set(hook, r.reads.get(hook)![b]!);
      out.push({ reads, ...(o.logits !== 'none' ? { logits: r.logits[b]! } : {}) });
    });
    o.onProgress?.(Math.min(start + o.batchSize, prompts.length), prompts.length);
  }
  return out;
}

/** Log-softmax in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits as ArrayLike<number>, (v) => v - lse);
}

/** The k largest entries (index, value), largest first; ties go to the lower index. */
export function topK(values: ArrayLike<number>, k: number): { index: number; value: number }[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b]! - values[a]! || a - b);
  return idx.slice(0, k).map((index) => ({ index, value: values[index]! }));
}

export interface TraceFileInput {
  file: string;
  hooks: string[];
  positions: ReadPositions;
  logits: 'none' | 'last' | 'all';
  topK: number;
  dModel: number;
  vocabSize: number;
  prompts: { id: string; ids: number[] }[];
  traced: TracedPrompt[];
  tokenizer: ModelTokenizer;
  metadata: Record<string, string>;
}

/** The decoded text and token spans of each prompt (what the trace file records). */
export function tokenizedPrompts(tokenizer: ModelTokenizer, prompts: { ids: number[] }[]): TokenizedText[] {
  return prompts.map((p) => {
    const { text, spans } = tokenSpans(tokenizer, p.ids);
    return { text, tokens: spans };
  });
}

/** Writes a trace file (atomically); returns its row counts. */
export function writeTraceFile(t: TraceFileInput): { rows: number; logitRows: number } {
  const { dModel: d, vocabSize: V } = t;
  const lens = t.prompts.map((p) => p.ids.length);
  const rowsOf = (i: number) => (t.positions === 'all' ? lens[i]! : 1);
  const rows = t.prompts.reduce((a, _, i) => a + rowsOf(i), 0);
  const tensors: (SafetensorsTensorInput | SafetensorsIntTensorInput)[] = [];
  for (const hook of t.hooks) {
    const data = new Float32Array(rows * d);
    let at = 0;
    t.traced.forEach((tp) => {
      const v = tp.reads.get(hook)!;
      data.set(v, at);
      at += v.length;
    });
    tensors.push({ name: hook, dtype: 'F32', shape: [rows, d], data });
  }
  let logitRows = 0;
  if (t.logits !== 'none') {
    logitRows = t.logits === 'all' ? lens.reduce((a, b) => a + b, 0) : t.prompts.length;
    const data = new Float32Array(logitRows * V);
    let at = 0;
    for (const tp of t.traced) {
      data.set(tp.logits!, at);
      at += tp.logits!.length;
    }
    tensors.push({ name: 'logits', dtype: 'F32', shape: [logitRows, V], data });
    if (t.topK > 0) {
      const k = Math.min(t.topK, V);
      const ids = new Int32Array(logitRows * k);
      const lps = new Float32Array(logitRows * k);
      for (let r = 0; r < logitRows; r++) {
        const lp = logSoftmax(data.subarray(r * V, (r + 1) * V));
        topK(lp, k).forEach((e, j) => {
          ids[r * k + j] = e.index;
          lps[r * k + j] = e.value;
        });
      }
      tensors.push({ name: 'top_k.ids', dtype: 'I32', shape: [logitRows, k], data: ids });
      tensors.push({ name: 'top_k.logprobs', dtype: 'F32', shape: [logitRows, k], data: lps });
    }
  }
  const offsets = [0];
  t.prompts.forEach((_, i) => offsets.push(offsets[i]! + rowsOf(i)));
  const tokens = tokenizedPrompts(t.tokenizer, t.prompts).map((p) => ({ text: p.text, tokens: p.tokens.map((s) => [s.id, s.piece, s.start, s.end]) }));
  writeSafetensors(path.resolve(t.file), tensors, {
    ...t.metadata,
    format: TRACE_FORMAT,
    positions: t.positions,
    logits: t.logits,
    ...(t.topK > 0 && t.logits !== 'none' ? { top_k: String(Math.min(t.topK, V)) } : {}),
    rows: String(rows),
    row_offsets: JSON.stringify(offsets),
    record_ids: JSON.stringify(t.prompts.map((p) => p.id)),
    tokens: JSON.stringify(tokens),
    dtype: 'float32',
  });
  return { rows, logitRows };
}

/**
 * The mean row at each hook of trace files (over every row they hold: tokens with positions all,
 * prompts with last or mean), summed in float64.
 */
export function meanOfTraceFiles(files: string[], hooks: string[], flag: string): Map<string, { sum: Float64Array; n: number }> {
  const out = new Map<string, { sum: Float64Array; n: number }>();
  for (const file of files) {
    const st = openSafetensors(file);
    if (st.metadata.format !== TRACE_FORMAT && st.metadata.format !== 'layerlab-hidden-states') {
      throw new UsageError(`${flag} ${file}: not a LayerLab trace or hidden-state cache (its format is ${st.metadata.format ?? 'not recorded'})`);
    }
    for (const hook of hooks) {
      if (!st.names.includes(hook)) throw new UsageError(`${flag} ${file} has no ${hook}; trace the prompts with --hooks ${hook} (or all)`);
      const t = st.read(hook);
      const [n, d] = t.dims as [number, number];
      const acc = out.get(hook) ?? { sum: new Float64Array(d), n: 0 };
      if (acc.sum.length !== d) throw new UsageError(`${flag}: ${file} has d_model ${d}, another file ${acc.sum.length}`);
      for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) acc.sum[j] += t.data[r * d + j]!;
      acc.n += n;
      out.set(hook, acc);
    }
  }
  return out;
}
