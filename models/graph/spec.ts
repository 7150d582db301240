/**
 * What a built instrumented model looks like from the outside: the contract between the graph
 * builders (models/) and the runtime. Stored as `<graph>.json` beside the graph.
 */
import type { WeightPrecision } from './weights';

/** Bump whenever the emitted graphs change, so cached graphs are rebuilt. */
export const BUILDER_VERSION = 5;

export type HookKind = 'hook_resid_pre' | 'hook_resid_post';
export const HOOK_KINDS: HookKind[] = ['hook_resid_pre', 'hook_resid_post'];

export interface BlockInfo {
  index: number;
  /** `layer` for plain decoders; `prelude`, `core`, `coda` for recurrent-depth models. */
  part: string;
  /** Human-readable position in the architecture, e.g. `layer 3`, `core block 0, recurrence 16`. */
  label: string;
}

export interface GraphSpec {
  builderVersion: number;
  family: string;
  modelType: string;
  source: string;
  contentHash: string;
  dModel: number;
  vocabSize: number;
  maxSeqLen: number;
  nBlocks: number;
  blocks: BlockInfo[];
  /** Attention layers with a KV cache: inputs `past.{i}.key|value`, outputs `present.{i}.key|value`. */
  kv: { count: number; nKvHeads: number; headDim: number };
  /**
   * The graph file (relative to the spec's folder). One graph serves reads and edits: the edit
   * inputs are always there, and all-zero edits leave every output bit-identical.
   */
  graph: string;
  /** The same graph with every hook point also readable at every position (see hookOutput). */
  graphAllPositions: string;
  /** The weights file beside it, shared by every graph built from the checkpoint at this precision. */
  weightsFile: string;
  /** Storage precision of the weights; hook reads and edits are fp32 whatever it is. */
  precision: WeightPrecision;
  /** Bytes of the model's parameters in this precision, each counted once. */
  weightsBytes: number;
  /** Size of the weights file (a tied head is stored a second time, see weights.ts). */
  weightsFileBytes: number;
  bosTokenId?: number;
  eosTokenIds: number[];
  /** Architecture-specific settings that change hook meaning (e.g. num_steps), recorded in caches. */
  options: Record<string, number | string | boolean>;
}

/** `blocks.{l}.{kind}`, TransformerLens naming. */
export function hookName(block: number, kind: HookKind): string {
  return `blocks.${block}.${kind}`;
}

/** Index of a hook point in the edit tensors: pre of block l is 2l, post is 2l+1. */
export function hookIndex(block: number, kind: HookKind): number {
  return 2 * block + (kind === 'hook_resid_post' ? 1 : 0);
}

export function allHookNames(nBlocks: number): string[] {
  const out: string[] = [];
  for (let l = 0; l < nBlocks; l++) for (const k of HOOK_KINDS) out.push(hookName(l, k));
  return out;
}

/** Parses `blocks.{l}.hook_resid_pre|post`; throws a message that says what is valid. */
export function parseHookName(name: string, nBlocks: number): { block: number; kind: HookKind } {
  const m = /^blocks\.(\d+)\.(hook_resid_pre|hook_resid_post)$/.exec(name.trim());
  if (!m) {
    throw new Error(`hook point '${name}' is not of the form blocks.<l>.hook_resid_pre or blocks.<l>.hook_resid_post`);
  }
  const block = Number(m[1]);
  if (block >= nBlocks) {
    throw new Error(`hook point '${name}' is out of range: this model has blocks 0..${nBlocks - 1}`);
  }
  return { block, kind: m[2] as HookKind };
}

/**
 * Names of the graph outputs that expose a hook point at selected positions. Every graph has the
 * `last` and `mean` outputs of every hook point; only the all-positions graph has `all` outputs:
 * ONNX Runtime keeps every graph output alive until a pass ends, fetched or not, so [B,S,d] per
 * hook point would hold the residual stream of every block at once (at 132 blocks more than the
 * KV cache itself).
 */
export const hookOutput = {
  /** Every position, [B, S, d] (all-positions graph only). */
  all: (hook: string) => hook,
  /** The last position, [B, d] (with left padding the last prompt token of every row). */
  last: (hook: string) => `${hook}.last`,
  /** The mean over this pass's real (non-padding) positions, [B, 1, d]. */
  mean: (hook: string) => `${hook}.mean`,
};

/** The inputs every graph takes besides the KV cache (`past.{i}.key|value`) and the edit inputs. */
export const GRAPH_INPUTS = {
  /** [B, S] token ids. */
  inputIds: 'input_ids',
  /** [B, S] position of each token (the runtime derives them from the mask). */
  positionIds: 'position_ids',
  /** [B, P + S] 1 for real tokens, 0 for left padding. */
  attentionMask: 'attention_mask',
  /** [1] how many trailing positions get logits (output `logits` is [B, n, V]). */
  logitsCount: 'logits_count',
} as const;

/** Names of the edit inputs (H = 2·nBlocks hook points). */
export const EDIT_INPUTS = {
  /** [H] projection scale per hook point. */
  scale: 'edit.scale',
  /** [H, d] unit direction per hook point. */
  direction: 'edit.direction',
  /** [H, d] additive vector per hook point (α·u already multiplied). */
  add: 'edit.add',
  /** [B, S] 1 where edits apply, 0 elsewhere. */
  mask: 'edit.mask',
  /**
   * [H, 2] per hook point (cos θ − 1, sin θ): rotate x by θ within the plane of x and d̂, towards
   * d̂ (θ < 0: away from it), keeping ‖x‖ (angular steering). All zero: no rotation. Only the
   * all-positions graph takes it (its per-position norms cost ONNX Runtime's set-up dearly).
   */
  rotate: 'edit.rotate',
} as const;

/**
 * Below this ratio of ‖x − (x·d̂)d̂‖² to ‖x‖² (sin² of the angle between x and d̂), x lies along
 * d̂ as far as float32 can tell: ‖x‖² − (x·d̂)² is then rounding noise (a few 1e-7 of ‖x‖²),
 * the plane of x and d̂ is undefined, and the rotation (EDIT_INPUTS.rotate) leaves x as it is.
 */
export const ROTATION_EPS = 1e-6;

/**
 * The lens: rows of hidden states fed in, the model's own final norm and unembedding applied to
 * them (the logit lens). Fed an empty [0, d] when unused, which costs nothing.
 */
export const LENS = {
  /** [N, d] hidden states (any hook point, any position). */
  input: 'lens.hidden',
  /** [N, V] logits of final norm + head applied to each row. */
  output: 'lens.logits',
} as const;
