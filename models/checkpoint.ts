/**
 * The in-memory form every checkpoint reader produces and every graph builder consumes.
 *
 * Matrices keep PyTorch's layout, `[out, in]` row-major, whatever the file held, so a reader
 * only has to name tensors and convert dtypes; the graph builder owns transposition.
 */

/** A dense fp32 tensor, row-major. */
export interface Tensor {
  dims: number[];
  data: Float32Array;
}

/** How rotary embeddings pair up the dimensions of a head. */
export type RopeStyle =
  /** llama2.c / Meta / huginn: rotate (2i, 2i+1). */
  | 'adjacent'
  /** Hugging Face Llama/Mistral/Qwen2: rotate (i, i + head_dim/2). */
  | 'halves';

export interface LlamaConfig {
  family: 'llama';
  /** Where the checkpoint came from, e.g. `llama`, `mistral`, `qwen2`, `llama2c`. */
  modelType: string;
  dModel: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  dFF: number;
  vocabSize: number;
  /** Longest sequence (prompt + generated) the model supports. */
  maxSeqLen: number;
  ropeTheta: number;
  ropeStyle: RopeStyle;
  rmsNormEps: number;
  /** lm_head shares the token embedding matrix. */
  tiedEmbeddings: boolean;
  /** q/k/v projections carry biases (Qwen2). */
  qkvBias: boolean;
  bosTokenId?: number;
  eosTokenIds?: number[];
}

export interface LlamaLayerWeights {
  attnNorm: Tensor; // [d]
  wq: Tensor; // [nHeads*headDim, d]
  wk: Tensor; // [nKvHeads*headDim, d]
  wv: Tensor; // [nKvHeads*headDim, d]
  bq?: Tensor; // [nHeads*headDim]
  bk?: Tensor; // [nKvHeads*headDim]
  bv?: Tensor; // [nKvHeads*headDim]
  wo: Tensor; // [d, nHeads*headDim]
  ffnNorm: Tensor; // [d]
  /** gate_proj / llama2.c w1 */
  wGate: Tensor; // [dFF, d]
  /** up_proj / llama2.c w3 */
  wUp: Tensor; // [dFF, d]
  /** down_proj / llama2.c w2 */
  wDown: Tensor; // [d, dFF]
}

export interface LlamaWeights {
  embed: Tensor; // [vocab, d]
  layers: LlamaLayerWeights[];
  finalNorm: Tensor; // [d]
  /** Absent when tiedEmbeddings. */
  lmHead?: Tensor; // [vocab, d]
}

export interface LlamaCheckpoint {
  config: LlamaConfig;
  weights: LlamaWeights;
  /** Absolute path of the file or folder it was read from. */
  source: string;
  /** sha256 over the bytes that define the model (weights + config), hex. */
  contentHash: string;
}

/** Names of a Llama-family model's tensors, as keyed in LlamaWeights. */
export type LlamaTensorKey = 'embed' | 'finalNorm' | 'lmHead' | `layers.${number}.${keyof LlamaLayerWeights}`;

/**
 * Reads one tensor when asked (fp32, PyTorch layout), so that converting a checkpoint never holds
 * more than one tensor of it in memory.
 */
export type LlamaTensorReader = (key: LlamaTensorKey) => Tensor;

/** The tensor-at-a-time view of an in-memory checkpoint. */
export function llamaCheckpointReader(ckpt: LlamaCheckpoint): LlamaTensorReader {
  const w = ckpt.weights;
  return (key) => {
    if (key === 'embed') return w.embed;
    if (key === 'finalNorm') return w.finalNorm;
    if (key === 'lmHead') {
      if (!w.lmHead) throw new Error('checkpoint has no separate lm_head (tied embeddings)');
      return w.lmHead;
    }
    const m = /^layers\.(\d+)\.(\w+)$/.exec(key);
    const t = m ? (w.layers[Number(m[1])]?.[m[2] as keyof LlamaLayerWeights] as Tensor | undefined) : undefined;
    if (!t) throw new Error(`checkpoint has no tensor ${key}`);
    return t;
  };
}

/** What a reader can tell from headers alone: enough to find already-built graphs. */
export interface CheckpointProbe {
  config: LlamaConfig;
  source: string;
  contentHash: string;
}

/** Any error a reader raises about the user's files: it names the file and what to do. */
export class CheckpointError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'CheckpointError';
  }
}

/**
 * Refuses a tensor holding NaN or ±infinity, naming it. One such weight makes the model compute
 * NaN for every prompt, which would otherwise surface much later as NaN hidden states, NaN
 * directions or a "generation" of token 0. `dims` places the first bad value in the tensor.
 */
export function checkFiniteWeights(file: string, name: string, data: Float32Array, dims: readonly number[] = [data.length]): void {
  let first = -1;
  let count = 0;
  for (let i = 0; i < data.length; i++) {
    // v - v is 0 for finite v and NaN for NaN and ±Inf: one test for both.
    const v = data[i];
    if (v - v === 0) continue;
    if (first < 0) first = i;
    count++;
  }
  if (first < 0) return;
  const at: number[] = [];
  let rest = first;
  for (let k = dims.length - 1; k >= 0; k--) {
    at.unshift(rest % dims[k]);
    rest = Math.floor(rest / dims[k]);
  }
  throw new CheckpointError(
    file,
    `tensor ${name} holds ${count} non-finite value${count > 1 ? 's' : ''} (the first, ${data[first]}, at [${at.join(', ')}]): ` +
      'the model would compute NaN for every prompt. The file is corrupt, or training had diverged when it was saved; re-download or re-export it.',
  );
}

/** Checks shapes against the config so a builder never sees an inconsistent checkpoint. */
export function validateLlamaCheckpoint(ckpt: LlamaCheckpoint): void {
  const c = ckpt.config;
  const fail = (what: string) => {
    throw new CheckpointError(ckpt.source, what);
  };
  const expect = (name: string, t: Tensor | undefined, dims: number[]) => {
    if (!t) return fail(`missing tensor ${name}`);
    if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
      fail(`tensor ${name} has shape [${t.dims.join(', ')}], expected [${dims.join(', ')}] from the config`);
    }
    const n = dims.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) fail(`tensor ${name} holds ${t.data.length} values, expected ${n}`);
  };
  if (c.nHeads % c.nKvHeads !== 0) fail(`num_attention_heads ${c.nHeads} is not a multiple of num_key_value_heads ${c.nKvHeads}`);
  if (c.headDim % 2 !== 0) fail(`head_dim ${c.headDim} must be even for rotary embeddings`);
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const w = ckpt.weights;
  expect('embed', w.embed, [c.vocabSize, c.dModel]);
  if (w.layers.length !== c.nLayers) fail(`has ${w.layers.length} layers, config says ${c.nLayers}`);
  w.layers.forEach((l, i) => {
    expect(`layers.${i}.attnNorm`, l.attnNorm, [c.dModel]);
    expect(`layers.${i}.wq`, l.wq, [q, c.dModel]);
    expect(`layers.${i}.wk`, l.wk, [kv, c.dModel]);
    expect(`layers.${i}.wv`, l.wv, [kv, c.dModel]);
    if (c.qkvBias) {
      expect(`layers.${i}.bq`, l.bq, [q]);
      expect(`layers.${i}.bk`, l.bk, [kv]);
      expect(`layers.${i}.bv`, l.bv, [kv]);
    }
    expect(`layers.${i}.wo`, l.wo, [c.dModel, q]);
    expect(`layers.${i}.ffnNorm`, l.ffnNorm, [c.dModel]);
    expect(`layers.${i}.wGate`, l.wGate, [c.dFF, c.dModel]);
    expect(`layers.${i}.wUp`, l.wUp, [c.dFF, c.dModel]);
    expect(`layers.${i}.wDown`, l.wDown, [c.dModel, c.dFF]);
  });
  expect('finalNorm', w.finalNorm, [c.dModel]);
  if (!c.tiedEmbeddings) expect('lmHead', w.lmHead, [c.vocabSize, c.dModel]);
}

/** The tokenizer surface the runtime needs, whatever the file format. */
export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosIds: number[];
  /** Token ids for text; `addBos` prepends BOS when the tokenizer has one. */
  encode(text: string, opts?: { addBos?: boolean }): number[];
  decode(ids: number[]): string;
  /** The text of one token as it should be appended during streaming. */
  tokenText(id: number): string;
}
