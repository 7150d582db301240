/**
 * An instrumented model loaded in ONNX Runtime: batched forward passes that read any hook
 * point at chosen positions and edit any set of hook points, over a KV cache.
 */
import * as path from 'node:path';
import type { BuiltModel } from '../models/graph/build';
import { EDIT_INPUTS, hookIndex, hookOutput, parseHookName, type GraphSpec } from '../models/graph/spec';
import { OrtSession, type FeedValue, type OutputValue, type ProviderReport, type SessionOptions } from './ort/session';

/** Which positions of the current input a read returns. */
export type ReadPositions = 'last' | 'mean' | 'all';

export interface HookRead {
  hook: string;
  positions: ReadPositions;
}

/**
 * `x ← x + scale·(x·d̂)·d̂ + add` at one hook point. `direction` must be unit length (the
 * directions module writes them so); `add` is the additive steering vector α·u.
 */
export interface HookEdit {
  hook: string;
  scale?: number;
  direction?: Float32Array;
  add?: Float32Array;
}

/** Where edits apply in the current input: every position, or only the last one. */
export type EditPositions = 'all' | 'last';

export interface ForwardOptions {
  reads?: HookRead[];
  edits?: HookEdit[];
  editPositions?: EditPositions;
  /** Return logits for every position ([B,S,V]) instead of the last one only ([B,V]). */
  allLogits?: boolean;
  /**
   * Skip copying logits and the KV cache out of ONNX Runtime when the caller only wants hook
   * reads (caching hidden states): for large vocabularies the logits are the biggest output.
   */
  readsOnly?: boolean;
  /**
   * Run the edit graph even when every edit is zero. Without edits the plain graph runs until
   * the first edit opens the edit graph; tests force it to show zero edits change nothing.
   */
  forceEditGraph?: boolean;
}

/** Per-row KV cache state after a forward pass; feed it back to continue the sequences. */
export interface KvState {
  keys: OutputValue[];
  values: OutputValue[];
  /** [B][T] 1 for real tokens, 0 for left padding. */
  mask: number[][];
  /** Next position id per row. */
  nextPos: number[];
}

export interface ForwardResult {
  /**
   * Last-position logits per row ([B][V]) or, with allLogits, [B][S][V] flattened per row.
   * Empty with readsOnly (and kv then holds no keys or values).
   */
  logits: Float32Array[];
  /** hook name → per-row values: [d] for last/mean, [len·d] for all (padding removed). */
  reads: Map<string, Float32Array[]>;
  kv: KvState;
}

export class ModelInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelInputError';
  }
}

export class InstrumentedModel {
  /**
   * One ONNX Runtime session at a time, each holding its own copy of the weights: the plain
   * graph until the first edit, then the edit graph for good (zero edits there give results
   * bit-identical to the plain graph, tested), so a run with interventions never holds the
   * weights twice.
   */
  private plain?: OrtSession;
  private edit?: OrtSession;
  private openingEdit?: Promise<OrtSession>;
  private inFlight = 0;
  private releasePlainWhenIdle = false;

  private constructor(
    readonly dir: string,
    readonly spec: GraphSpec,
    plain: OrtSession,
    private readonly sessionOptions: SessionOptions,
  ) {
    this.plain = plain;
  }

  static async load(built: BuiltModel, opts: SessionOptions = {}): Promise<InstrumentedModel> {
    const plain = await OrtSession.create(path.join(built.dir, built.spec.graphs.plain), opts);
    return new InstrumentedModel(built.dir, built.spec, plain, opts);
  }

  get provider(): ProviderReport {
    return (this.edit ?? this.plain)!.provider;
  }

  /** Opens the edit graph on first use and lets the plain graph go. */
  private async editSession(): Promise<OrtSession> {
    if (this.edit) return this.edit;
    this.openingEdit ??= OrtSession.create(path.join(this.dir, this.spec.graphs.edit), this.sessionOptions).then((s) => {
      this.edit = s;
      this.releasePlainWhenIdle = true;
      return s;
    });
    return this.openingEdit;
  }

  private async releasePlainIfIdle(): Promise<void> {
    if (this.releasePlainWhenIdle && this.inFlight === 0 && this.plain) {
      const p = this.plain;
      this.plain = undefined;
      this.releasePlainWhenIdle = false;
      await p.release();
    }
  }

  async release(): Promise<void> {
    await this.plain?.release();
    this.plain = undefined;
    const edit = this.edit ?? (this.openingEdit ? await this.openingEdit : undefined);
    await edit?.release();
    this.edit = undefined;
  }

  /**
   * Runs new tokens for each row. Rows of different lengths are left-padded within this call
   * (the padding is masked out), also when continuing from `past`: a shared few-shot prefix can
   * be computed once and every question appended to it in one batch.
   */
  async forward(tokens: number[][], past?: KvState, opts: ForwardOptions = {}): Promise<ForwardResult> {
    const { spec } = this;
    const B = tokens.length;
    if (B === 0) throw new ModelInputError('forward needs at least one sequence');
    if (past && past.mask.length !== B) throw new ModelInputError(`KV state has ${past.mask.length} rows, got ${B}`);
    const lens = tokens.map((t) => t.length);
    if (lens.some((n) => n === 0)) throw new ModelInputError('every sequence needs at least one token (an empty prompt needs BOS)');
    for (const row of tokens) {
      for (const id of row) {
        if (!Number.isInteger(id) || id < 0 || id >= spec.vocabSize) {
          throw new ModelInputError(`token id ${id} is outside this model's vocabulary 0..${spec.vocabSize - 1}`);
        }
      }
    }
    const S = Math.max(...lens);
    const P = past ? past.mask[0].length : 0;
    const T = P + S;
    const maxUsed = Math.max(...tokens.map((t, b) => (past ? past.nextPos[b] : 0) + t.length));
    if (maxUsed > spec.maxSeqLen) {
      throw new ModelInputError(`sequence of ${maxUsed} tokens is longer than the model's context of ${spec.maxSeqLen}`);
    }

    const ids = new BigInt64Array(B * S);
    const posIds = new BigInt64Array(B * S);
    const mask: number[][] = [];
    for (let b = 0; b < B; b++) {
      const pad = S - lens[b];
      const start = past ? past.nextPos[b] : 0;
      for (let s = 0; s < S; s++) {
        const real = s >= pad;
        ids[b * S + s] = BigInt(real ? tokens[b][s - pad] : 0);
        posIds[b * S + s] = BigInt(real ? start + s - pad : 0);
      }
      mask.push([...(past ? past.mask[b] : []), ...Array.from({ length: S }, (_, s) => (s >= pad ? 1 : 0))]);
    }
    const maskData = new BigInt64Array(B * T);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) maskData[b * T + t] = BigInt(mask[b][t]);

    const feeds: Record<string, FeedValue> = {
      input_ids: { type: 'int64', data: ids, dims: [B, S] },
      position_ids: { type: 'int64', data: posIds, dims: [B, S] },
      attention_mask: { type: 'int64', data: maskData, dims: [B, T] },
    };
    const { nKvHeads, headDim, count } = spec.kv;
    for (let i = 0; i < count; i++) {
      feeds[`past.${i}.key`] = past
        ? { type: 'float32', data: past.keys[i].data, dims: past.keys[i].dims }
        : { type: 'float32', data: new Float32Array(0), dims: [B, nKvHeads, 0, headDim] };
      feeds[`past.${i}.value`] = past
        ? { type: 'float32', data: past.values[i].data, dims: past.values[i].dims }
        : { type: 'float32', data: new Float32Array(0), dims: [B, nKvHeads, 0, headDim] };
    }

    const edits = opts.edits ?? [];
    const activeEdits = edits.filter((e) => (e.scale ?? 0) !== 0 || (e.add && e.add.some((v) => v !== 0)));
    const session = activeEdits.length > 0 || opts.forceEditGraph === true || this.edit ? await this.editSession() : this.plain!;
    if (session === this.edit) Object.assign(feeds, this.editFeeds(edits, B, S, opts.editPositions ?? 'all'));

    const reads = opts.reads ?? [];
    const fetch = new Set<string>();
    if (!opts.readsOnly) {
      fetch.add('logits');
      for (let i = 0; i < count; i++) fetch.add(`present.${i}.key`).add(`present.${i}.value`);
    }
    for (const r of reads) {
      parseHookName(r.hook, spec.nBlocks);
      fetch.add(r.positions === 'last' ? hookOutput.last(r.hook) : hookOutput.all(r.hook));
    }

    this.inFlight++;
    let out;
    try {
      out = await session.run(feeds, [...fetch]);
    } finally {
      this.inFlight--;
    }
    await this.releasePlainIfIdle();

    const V = spec.vocabSize;
    const logits: Float32Array[] = [];
    for (let b = 0; b < B && !opts.readsOnly; b++) {
      const logitsAll = out.logits.data;
      if (opts.allLogits) {
        const pad = S - lens[b];
        logits.push(logitsAll.slice((b * S + pad) * V, (b + 1) * S * V));
      } else {
        logits.push(logitsAll.slice(((b + 1) * S - 1) * V, (b + 1) * S * V));
      }
    }

    const d = spec.dModel;
    const readMap = new Map<string, Float32Array[]>();
    for (const r of reads) {
      if (r.positions === 'last') {
        const v = out[hookOutput.last(r.hook)].data;
        readMap.set(r.hook, Array.from({ length: B }, (_, b) => v.slice(b * d, (b + 1) * d)));
        continue;
      }
      const v = out[hookOutput.all(r.hook)].data;
      const rows: Float32Array[] = [];
      for (let b = 0; b < B; b++) {
        const pad = S - lens[b];
        const rowVals = v.subarray((b * S + pad) * d, (b + 1) * S * d);
        if (r.positions === 'all') {
          rows.push(rowVals.slice());
        } else {
          // Mean over this call's real (non-padding) positions, accumulated in float64.
          const acc = new Float64Array(d);
          const n = lens[b];
          for (let s = 0; s < n; s++) for (let j = 0; j < d; j++) acc[j] += rowVals[s * d + j];
          rows.push(Float32Array.from(acc, (x) => x / n));
        }
      }
      readMap.set(r.hook, rows);
    }

    const kv: KvState = {
      keys: opts.readsOnly ? [] : Array.from({ length: count }, (_, i) => out[`present.${i}.key`]),
      values: opts.readsOnly ? [] : Array.from({ length: count }, (_, i) => out[`present.${i}.value`]),
      mask,
      nextPos: tokens.map((t, b) => (past ? past.nextPos[b] : 0) + t.length),
    };
    return { logits, reads: readMap, kv };
  }

  private editFeeds(edits: HookEdit[], B: number, S: number, positions: EditPositions): Record<string, FeedValue> {
    const { spec } = this;
    const d = spec.dModel;
    const H = 2 * spec.nBlocks;
    const scale = new Float32Array(H);
    const direction = new Float32Array(H * d);
    const add = new Float32Array(H * d);
    const seen = new Set<number>();
    for (const e of edits) {
      const { block, kind } = parseHookName(e.hook, spec.nBlocks);
      const h = hookIndex(block, kind);
      if (seen.has(h)) throw new ModelInputError(`hook point ${e.hook} is edited twice in one pass; combine the edits`);
      seen.add(h);
      const s = e.scale ?? 0;
      if (!Number.isFinite(s)) throw new ModelInputError(`edit at ${e.hook}: scale ${s} is not finite`);
      if (s !== 0) {
        if (!e.direction) throw new ModelInputError(`edit at ${e.hook}: a non-zero scale needs a direction`);
        checkVector(e.direction, d, `edit at ${e.hook}: direction`);
        direction.set(e.direction, h * d);
        scale[h] = s;
      }
      if (e.add) {
        checkVector(e.add, d, `edit at ${e.hook}: additive vector`);
        add.set(e.add, h * d);
      }
    }
    const mask = new Float32Array(B * S);
    for (let b = 0; b < B; b++) {
      if (positions === 'all') mask.fill(1, b * S, (b + 1) * S);
      else mask[(b + 1) * S - 1] = 1;
    }
    return {
      [EDIT_INPUTS.scale]: { type: 'float32', data: scale, dims: [H] },
      [EDIT_INPUTS.direction]: { type: 'float32', data: direction, dims: [H, d] },
      [EDIT_INPUTS.add]: { type: 'float32', data: add, dims: [H, d] },
      [EDIT_INPUTS.mask]: { type: 'float32', data: mask, dims: [B, S] },
    };
  }
}

/** The KV state of a subset of rows (in the given order), e.g. after some rows finished. */
export function selectRows(kv: KvState, rows: number[]): KvState {
  const pick = (t: OutputValue): OutputValue => {
    const [B, ...rest] = t.dims;
    const per = t.data.length / B;
    const data = new Float32Array(rows.length * per);
    rows.forEach((r, i) => data.set(t.data.subarray(r * per, (r + 1) * per), i * per));
    return { data, dims: [rows.length, ...rest] };
  };
  return {
    keys: kv.keys.map(pick),
    values: kv.values.map(pick),
    mask: rows.map((r) => kv.mask[r]),
    nextPos: rows.map((r) => kv.nextPos[r]),
  };
}

function checkVector(v: Float32Array, d: number, what: string): void {
  if (v.length !== d) throw new ModelInputError(`${what} has length ${v.length}, the model's d_model is ${d}`);
  if (v.some((x) => !Number.isFinite(x))) throw new ModelInputError(`${what} contains non-finite values`);
}
