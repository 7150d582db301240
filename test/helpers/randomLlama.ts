import { mulberry32 } from '../../models/common/prng';
import type { LlamaCheckpoint, LlamaConfig, Tensor } from '../../models/checkpoint';

/** An in-memory Llama-family checkpoint with random weights, for graph-vs-reference tests. */
export function randomLlama(overrides: Partial<LlamaConfig> = {}, seed = 1): LlamaCheckpoint {
  const c: LlamaConfig = {
    family: 'llama',
    modelType: 'llama',
    dModel: 32,
    nLayers: 3,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 8,
    dFF: 48,
    vocabSize: 50,
    maxSeqLen: 64,
    ropeTheta: 10000,
    ropeStyle: 'halves',
    rmsNormEps: 1e-5,
    tiedEmbeddings: true,
    qkvBias: false,
    bosTokenId: 1,
    eosTokenIds: [2],
    ...overrides,
  };
  const r = mulberry32(seed);
  const t = (dims: number[], std: number, mean = 0): Tensor => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = mean + std * (r() * 2 - 1) * Math.sqrt(3);
    return { dims, data };
  };
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const s = 1 / Math.sqrt(c.dModel);
  return {
    config: c,
    source: `random-llama-${seed}`,
    contentHash: `random${seed}${JSON.stringify(overrides)}`.replace(/[^a-z0-9]/gi, '').padEnd(24, '0'),
    weights: {
      embed: t([c.vocabSize, c.dModel], 1),
      layers: Array.from({ length: c.nLayers }, () => ({
        attnNorm: t([c.dModel], 0.1, 1),
        wq: t([q, c.dModel], s),
        wk: t([kv, c.dModel], s),
        wv: t([kv, c.dModel], s),
        ...(c.qkvBias ? { bq: t([q], 0.1), bk: t([kv], 0.1), bv: t([kv], 0.1) } : {}),
        wo: t([c.dModel, q], 1 / Math.sqrt(q)),
        ffnNorm: t([c.dModel], 0.1, 1),
        wGate: t([c.dFF, c.dModel], s),
        wUp: t([c.dFF, c.dModel], s),
        wDown: t([c.dModel, c.dFF], 1 / Math.sqrt(c.dFF)),
      })),
      finalNorm: t([c.dModel], 0.1, 1),
      ...(c.tiedEmbeddings ? {} : { lmHead: t([c.vocabSize, c.dModel], s) }),
    },
  };
}
