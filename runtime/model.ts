/**
 * An instrumented model loaded in ONNX Runtime: batched forward passes that read any hook
 * point at chosen positions and edit any set of hook points, over a KV cache.
 */
import * as path from 'node:path';
import type { BuiltModel } from '../models/graph/build';
import { EDIT_INPUTS, GRAPH_INPUTS, hookIndex, hookName, hookOutput, LENS, parseHookName, type GraphSpec } from '../models/graph/spec';
import { OrtSession, type FeedValue, type OutputValue, type ProviderReport, type SessionOptions } from './ort/session';

/** Which positions of the current input a read returns. */
export type ReadPositions = 'last' | 'mean' | 'all';

export interface HookRead {
  hook: string;
  positions: ReadPositions;
}

/**
 * `x ← x + scale·(x·d̂)·d̂ + add + rot_θ(x)` at one hook point, every term from the unedited x.
 * `direction` must be unit length (the directions module writes them so); `add` is the additive
 * steering vector α·u; `rotate` is an angle θ in radians: x turned by θ within the plane of x and
 * d̂, towards d̂, keeping ‖x‖ (models/graph/layers.ts hookPoint has the formula; the steering
 * methods of runtime/protocol/steering.ts reduce to these terms).
 */
export interface HookEdit {
  hook: string;
  scale?: number;
  direction?: Float32Array;
  add?: Float32Array;
  rotate?: number;
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
   * No effect (kept so existing callers compile): there is one graph, and every pass feeds it
   * the edits, all-zero when none are given, which leaves every output bit-identical.
   */
  forceEditGraph?: boolean;
  /**
   * Hidden-state rows [N·d] to put through the model's final norm and head in this pass (the
   * logit lens, see LENS in models/graph/spec.ts); their logits come back as `lensLogits`.
   */
  lensRows?: Float32Array;
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
  /** [N·V] logits of the lens rows (only when lensRows were given). */
  lensLogits?: Float32Array;
}

export class ModelInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelInputError';
  }
}

export class InstrumentedModel {
  /**
   * One ONNX Runtime session at a time, over a graph that takes edits as inputs, so the weights
   * are held once with or without interventions. It starts on the graph whose hook outputs are
   * the last position and the mean; the first read at every position swaps it for the graph that
   * also has those (see hookOutput): the first session is released before the second opens.
   */
  private session?: OrtSession;
  private report?: ProviderReport;
  private switching?: Promise<void>;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  /** All-zero edit inputs, allocated once: what a pass without edits feeds. */
  private zeroEdits?: { scale: Float32Array; vectors: Float32Array; rotate: Float32Array };

  private constructor(
    readonly dir: string,
    readonly spec: GraphSpec,
    session: OrtSession,
    private readonly sessionOptions: SessionOptions,
  ) {
    this.session = session;
    this.report = session.provider;
  }

  /**
   * Loads the built graph, or `graphFile`: another form of it over the same weights and spec
   * (tests load other forms, see writeGraphForm).
   */
  static async load(built: BuiltModel, opts: SessionOptions = {}, graphFile = path.join(built.dir, built.spec.graph)): Promise<InstrumentedModel> {
    const session = await OrtSession.create(graphFile, opts);
    return new InstrumentedModel(built.dir, built.spec, session, opts);
  }

  get provider(): ProviderReport {
    if (!this.report) throw new ModelInputError('this model was released; open it again');
    return this.report;
  }

  async release(): Promise<void> {
    while (this.switching) await this.switching;
    const s = this.session;
    this.session = undefined;
    this.report = undefined;
    this.zeroEdits = undefined;
    await s?.release();
  }

  private live(): OrtSession {
    if (!this.session) throw new ModelInputError('this model was released; open it again');
    return this.session;
  }

  /** The session to run a pass on, after swapping in the all-positions graph if the pass needs it. */
  private async sessionFor(allPositions: boolean): Promise<OrtSession> {
    while (this.switching) await this.switching;
    const current = this.live();
    if (!allPositions || current.outputNames.includes(hookOutput.all(hookName(0, 'hook_resid_pre')))) return current;
    this.switching = (async () => {
      // Passes already running on the current session finish first; none start meanwhile.
      while (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      this.session = undefined;
      await current.release();
      this.session = await OrtSession.create(path.join(this.dir, this.spec.graphAllPositions), this.sessionOptions);
      this.report = this.session.provider;
    })().finally(() => {
      this.switching = undefined;
    });
    await this.switching;
    return this.live();
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

    const logitPositions = opts.allLogits ? S : 1;
    const feeds: Record<string, FeedValue> = {
      [GRAPH_INPUTS.inputIds]: { type: 'int64', data: ids, dims: [B, S] },
      [GRAPH_INPUTS.positionIds]: { type: 'int64', data: posIds, dims: [B, S] },
      [GRAPH_INPUTS.attentionMask]: { type: 'int64', data: maskData, dims: [B, T] },
      [GRAPH_INPUTS.logitsCount]: { type: 'int64', data: BigInt64Array.of(BigInt(logitPositions)), dims: [1] },
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

    const reads = opts.reads ?? [];
    const fetch = new Set<string>();
    if (!opts.readsOnly) {
      fetch.add('logits');
      for (let i = 0; i < count; i++) fetch.add(`present.${i}.key`).add(`present.${i}.value`);
    }
    for (const r of reads) {
      parseHookName(r.hook, spec.nBlocks);
      fetch.add(hookOutput[r.positions](r.hook));
    }
    const lensRows = opts.lensRows ?? new Float32Array(0);
    if (lensRows.length % spec.dModel !== 0) throw new ModelInputError(`lens rows hold ${lensRows.length} values, not a multiple of d_model ${spec.dModel}`);
    if (opts.lensRows) fetch.add(LENS.output);
    // ONNX Runtime needs at least one output; the smallest one serves.
    if (fetch.size === 0) fetch.add(hookOutput.last(hookName(0, 'hook_resid_pre')));

    // A rotation (angular steering) is in the all-positions graph only (models/graph/layers.ts).
    const rotates = (opts.edits ?? []).some((e) => (e.rotate ?? 0) !== 0);
    const session = await this.sessionFor(rotates || reads.some((r) => r.positions === 'all'));
    if (session.inputNames.includes(EDIT_INPUTS.scale)) Object.assign(feeds, this.editFeeds(opts.edits ?? [], B, S, opts.editPositions ?? 'all', session.inputNames.includes(EDIT_INPUTS.rotate)));
    else if (opts.edits?.length) throw new ModelInputError('this graph was built without edit inputs');
    if (session.inputNames.includes(LENS.input)) feeds[LENS.input] = { type: 'float32', data: lensRows, dims: [lensRows.length / spec.dModel, spec.dModel] };
    else if (opts.lensRows) throw new ModelInputError('this graph was built without the lens input');
    this.inFlight++;
    let out: Record<string, OutputValue>;
    try {
      out = await session.run(feeds, [...fetch]);
    } finally {
      if (--this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }

    // logits is [B, logitPositions, V]: the last position only, or every position.
    const V = spec.vocabSize;
    const logits: Float32Array[] = [];
    for (let b = 0; b < B && !opts.readsOnly; b++) {
      const logitsAll = out.logits.data;
      const pad = opts.allLogits ? S - lens[b] : 0;
      logits.push(logitsAll.slice((b * logitPositions + pad) * V, (b + 1) * logitPositions * V));
    }

    const d = spec.dModel;
    const readMap = new Map<string, Float32Array[]>();
    for (const r of reads) {
      const v = out[hookOutput[r.positions](r.hook)].data;
      if (r.positions !== 'all') {
        // [B, d] or [B, 1, d]: one row per sequence (the mean is over this call's real positions).
        readMap.set(r.hook, Array.from({ length: B }, (_, b) => v.slice(b * d, (b + 1) * d)));
        continue;
      }
      readMap.set(
        r.hook,
        Array.from({ length: B }, (_, b) => v.slice((b * S + S - lens[b]) * d, (b + 1) * S * d)),
      );
    }

    const kv: KvState = {
      keys: opts.readsOnly ? [] : Array.from({ length: count }, (_, i) => out[`present.${i}.key`]),
      values: opts.readsOnly ? [] : Array.from({ length: count }, (_, i) => out[`present.${i}.value`]),
      mask,
      nextPos: tokens.map((t, b) => (past ? past.nextPos[b] : 0) + t.length),
    };
    return { logits, reads: readMap, kv, ...(opts.lensRows ? { lensLogits: out[LENS.output].data } : {}) };
  }

  private editFeeds(edits: HookEdit[], B: number, S: number, positions: EditPositions, withRotation: boolean): Record<string, FeedValue> {
    const { spec } = this;
    const d = spec.dModel;
    const H = 2 * spec.nBlocks;
    this.zeroEdits ??= { scale: new Float32Array(H), vectors: new Float32Array(H * d), rotate: new Float32Array(H * 2) };
    const zero = this.zeroEdits;
    const anyScale = edits.some((e) => (e.scale ?? 0) !== 0);
    const anyDirection = edits.some((e) => e.direction !== undefined);
    const anyAdd = edits.some((e) => e.add !== undefined);
    const anyRotate = edits.some((e) => (e.rotate ?? 0) !== 0);
    const scale = anyScale ? new Float32Array(H) : zero.scale;
    const direction = anyDirection ? new Float32Array(H * d) : zero.vectors;
    const add = anyAdd ? new Float32Array(H * d) : zero.vectors;
    const rotate = anyRotate ? new Float32Array(H * 2) : zero.rotate;
    const seen = new Set<number>();
    for (const e of edits) {
      const { block, kind } = parseHookName(e.hook, spec.nBlocks);
      const h = hookIndex(block, kind);
      if (seen.has(h)) throw new ModelInputError(`hook point ${e.hook} is edited twice in one pass; combine the edits`);
      seen.add(h);
      const s = e.scale ?? 0;
      if (!Number.isFinite(s)) throw new ModelInputError(`edit at ${e.hook}: scale ${s} is not finite`);
      if (s !== 0 && !e.direction) throw new ModelInputError(`edit at ${e.hook}: a non-zero scale needs a direction`);
      const theta = e.rotate ?? 0;
      if (!Number.isFinite(theta)) throw new ModelInputError(`edit at ${e.hook}: rotation ${theta} is not finite`);
      if (theta !== 0 && !e.direction) throw new ModelInputError(`edit at ${e.hook}: a rotation needs a direction`);
      if (theta !== 0 && !withRotation) throw new ModelInputError('this graph was built without the rotation input');
      if (theta !== 0) {
        // (cos θ − 1, sin θ), the first as −2·sin²(θ/2), which keeps its digits for small θ.
        rotate[2 * h] = -2 * Math.sin(theta / 2) ** 2;
        rotate[2 * h + 1] = Math.sin(theta);
      }
      if (e.direction) {
        // Fed also with scale 0: the graph then multiplies it by 0, which must change nothing.
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
      ...(withRotation ? { [EDIT_INPUTS.rotate]: { type: 'float32' as const, data: rotate, dims: [H, 2] } } : {}),
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
