/**
 * Reader for Andrej Karpathy's llama2.c fp32 checkpoints (`model.bin`).
 *
 * Two layouts exist, both little-endian fp32 with matrices stored [out, in]:
 *
 * - legacy ("version 0", `export.py legacy_export`): a 28-byte header of 7 int32
 *   (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len), then the tensors
 *   grouped by kind and stacked over layers, then two unused RoPE tables, then the classifier
 *   only when vocab_size is negative (the sign is the "unshared classifier" flag).
 * - version 1 (`export.py version1_export`): a 256-byte header starting with the uint32 magic
 *   0x616b3432 ("ak42"), int32 version = 1, the same 7 int32 (vocab_size always positive),
 *   a uint8 shared_classifier flag and zero padding; then the tensors in a different order
 *   (all norms first) and no RoPE tables.
 *
 * Version 2 (Q8_0 int8) is recognised only to reject it with a clear message.
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CheckpointError,
  checkFiniteWeights,
  validateLlamaCheckpoint,
  type CheckpointProbe,
  type LlamaCheckpoint,
  type LlamaConfig,
  type LlamaLayerWeights,
  type LlamaTensorReader,
  type Tensor,
} from '../checkpoint';
import { hashFiles, type HashProgress } from '../fingerprint';

const V1_MAGIC = 0x616b3432; // "ak42" read as a little-endian uint32
const LEGACY_HEADER_BYTES = 7 * 4;
const V1_HEADER_BYTES = 256;
/** File offset of the v1 shared_classifier byte: after magic, version and the 7 int32. */
const V1_FLAG_OFFSET = 4 + 4 + 7 * 4;

/** run.c's names of the tensor groups, for messages. */
const RUN_C_NAMES: Record<string, string> = {
  embed: 'token_embedding_table',
  rms_att: 'rms_att_weight',
  rms_ffn: 'rms_ffn_weight',
  rms_final: 'rms_final_weight',
  wq: 'wq',
  wk: 'wk',
  wv: 'wv',
  wo: 'wo',
  w1: 'w1',
  w2: 'w2',
  w3: 'w3',
  classifier: 'wcls',
};

/** The seven int32 every llama2.c header carries, after the legacy sign flag is removed. */
interface Llama2cHeader {
  layout: 'legacy' | 'v1';
  headerBytes: number;
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  sharedClassifier: boolean;
}

/**
 * Reads a llama2.c checkpoint (legacy or version 1 fp32) into the shared in-memory form.
 *
 * The file is streamed once from start to end: each tensor is read straight into its own
 * Float32Array (so peak memory is about the model size, not twice it, and alignment of the
 * file buffer never matters) while the same bytes feed the sha256 content hash.
 */
export function readLlama2cCheckpoint(file: string): LlamaCheckpoint {
  const source = path.resolve(file);
  if (os.endianness() !== 'LE') {
    // Tensor bytes are copied verbatim into Float32Arrays, which use the host's byte order.
    throw new CheckpointError(source, 'llama2c checkpoints are little-endian; this host is big-endian');
  }

  let fd: number;
  try {
    fd = fs.openSync(source, 'r');
  } catch (e) {
    throw new CheckpointError(source, `cannot open llama2.c checkpoint: ${describeFsError(e)}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      const what = st.isDirectory() ? 'is a directory' : 'is not a regular file';
      throw new CheckpointError(source, `${what}; expected a llama2.c model .bin file`);
    }
    const reader = new SequentialReader(fd, source, st.size);
    const header = readHeader(reader, source, st.size);
    checkSize(header, source, st.size);
    const ckpt = readTensors(reader, header, source);
    ckpt.contentHash = reader.digest();
    validateLlamaCheckpoint(ckpt);
    return ckpt;
  } finally {
    fs.closeSync(fd);
  }
}

/** Config and content hash from the header and file size alone (no weights read). */
export function probeLlama2cCheckpoint(file: string, onProgress?: HashProgress): CheckpointProbe {
  const source = path.resolve(file);
  let fd: number;
  try {
    fd = fs.openSync(source, 'r');
  } catch (e) {
    throw new CheckpointError(source, `cannot open llama2.c checkpoint: ${describeFsError(e)}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new CheckpointError(source, 'is not a regular file; expected a llama2.c model .bin file');
    const header = readHeader(new SequentialReader(fd, source, st.size), source, st.size);
    checkSize(header, source, st.size);
    return { config: configFromHeader(header), source, contentHash: hashFiles(Buffer.alloc(0), [source], onProgress) };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A tensor-at-a-time reader of a llama2.c checkpoint: each tensor is read with one positioned
 * read when asked (the file stacks each kind over layers, so layer l's slice sits at a fixed
 * offset), so converting it never holds the whole model in memory.
 */
export function llama2cTensorReader(file: string): LlamaTensorReader {
  const source = path.resolve(file);
  if (os.endianness() !== 'LE') throw new CheckpointError(source, 'llama2c checkpoints are little-endian; this host is big-endian');
  const fd = fs.openSync(source, 'r');
  let header: Llama2cHeader;
  try {
    const size = fs.fstatSync(fd).size;
    header = readHeader(new SequentialReader(fd, source, size), source, size);
    checkSize(header, source, size);
  } finally {
    fs.closeSync(fd);
  }
  const h = header;
  const groupOffset = new Map<string, number>();
  let offset = h.headerBytes;
  for (const t of tensorPlan(h)) {
    groupOffset.set(t.name, offset);
    offset += 4 * t.floats;
  }
  const kvDim = h.nKvHeads * (h.dim / h.nHeads);
  const perLayer: Record<keyof LlamaLayerWeights, [group: string, dims: number[]] | undefined> = {
    attnNorm: ['rms_att', [h.dim]],
    ffnNorm: ['rms_ffn', [h.dim]],
    wq: ['wq', [h.dim, h.dim]],
    wk: ['wk', [kvDim, h.dim]],
    wv: ['wv', [kvDim, h.dim]],
    wo: ['wo', [h.dim, h.dim]],
    wGate: ['w1', [h.hiddenDim, h.dim]],
    wDown: ['w2', [h.dim, h.hiddenDim]],
    wUp: ['w3', [h.hiddenDim, h.dim]],
    bq: undefined,
    bk: undefined,
    bv: undefined,
  };
  const readAt = (group: string, index: number, dims: number[]): Tensor => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const rfd = fs.openSync(source, 'r');
    try {
      const bytes = new Uint8Array(data.buffer);
      for (let done = 0; done < bytes.length; ) {
        const got = fs.readSync(rfd, bytes, done, Math.min(1 << 30, bytes.length - done), groupOffset.get(group)! + 4 * n * index + done);
        if (got === 0) throw new CheckpointError(source, 'unexpected end of file (the file changed while being read?)');
        done += got;
      }
    } finally {
      fs.closeSync(rfd);
    }
    return { dims, data };
  };
  return (key) => {
    if (key === 'embed') return readAt('embed', 0, [h.vocabSize, h.dim]);
    if (key === 'finalNorm') return readAt('rms_final', 0, [h.dim]);
    if (key === 'lmHead') {
      if (h.sharedClassifier) throw new Error('llama2c reader: this checkpoint shares its classifier with the embedding');
      return readAt('classifier', 0, [h.vocabSize, h.dim]);
    }
    const m = /^layers\.(\d+)\.(\w+)$/.exec(key);
    const entry = m ? perLayer[m[2] as keyof LlamaLayerWeights] : undefined;
    if (!m || !entry || Number(m[1]) >= h.nLayers) throw new Error(`llama2c reader: ${key} is not a tensor of this model`);
    return readAt(entry[0], Number(m[1]), entry[1]);
  };
}

function describeFsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return 'no such file';
  if (err?.code === 'EACCES') return 'permission denied';
  if (err?.code === 'EISDIR') return 'is a directory, expected a llama2.c model .bin';
  return err?.message ?? String(e);
}

function readHeader(reader: SequentialReader, source: string, fileSize: number): Llama2cHeader {
  if (fileSize < LEGACY_HEADER_BYTES) {
    throw new CheckpointError(
      source,
      `file is ${fileSize} bytes, shorter than the ${LEGACY_HEADER_BYTES}-byte llama2.c header; not a llama2.c checkpoint or truncated`,
    );
  }
  const first = reader.readBytes(4);
  const magic = new DataView(first.buffer, first.byteOffset, 4).getUint32(0, true);

  if (magic !== V1_MAGIC) {
    // Legacy: the first int32 was dim, so re-read it as part of the 7-int header.
    const rest = reader.readBytes(LEGACY_HEADER_BYTES - 4);
    const all = new Uint8Array(LEGACY_HEADER_BYTES);
    all.set(first, 0);
    all.set(rest, 4);
    const ints = readInt32s(all, 0, 7);
    const [dim, hiddenDim, nLayers, nHeads, nKvHeads, signedVocab, seqLen] = ints;
    const header: Llama2cHeader = {
      layout: 'legacy',
      headerBytes: LEGACY_HEADER_BYTES,
      dim,
      hiddenDim,
      nLayers,
      nHeads,
      nKvHeads,
      // Legacy files signal an unshared classifier by negating vocab_size (see run.c).
      vocabSize: Math.abs(signedVocab),
      seqLen,
      sharedClassifier: signedVocab > 0,
    };
    checkPlausible(header, ints, source);
    return header;
  }

  if (fileSize < V1_HEADER_BYTES) {
    throw new CheckpointError(
      source,
      `file starts with the llama2.c "ak42" magic but is only ${fileSize} bytes, shorter than the ${V1_HEADER_BYTES}-byte header; truncated`,
    );
  }
  // `rest` holds file bytes [4, 256).
  const rest = reader.readBytes(V1_HEADER_BYTES - 4);
  const version = readInt32s(rest, 0, 1)[0];
  if (version !== 1) {
    const hint =
      version === 2
        ? 'version 2 is the int8 (Q8_0) export, which LayerLab does not read; re-export with `export.py --version 1` (or 0)'
        : 'only version 1 (fp32) and the legacy headerless layout are supported';
    throw new CheckpointError(source, `unsupported llama2.c checkpoint version ${version}: ${hint}`);
  }
  const ints = readInt32s(rest, 4, 7);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen] = ints;
  const flag = rest[V1_FLAG_OFFSET - 4];
  if (flag !== 0 && flag !== 1) {
    throw new CheckpointError(source, `corrupt llama2.c v1 header: shared_classifier flag is ${flag}, expected 0 or 1`);
  }
  const header: Llama2cHeader = {
    layout: 'v1',
    headerBytes: V1_HEADER_BYTES,
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize,
    seqLen,
    sharedClassifier: flag === 1,
  };
  checkPlausible(header, ints, source);
  return header;
}

function readInt32s(bytes: Uint8Array, byteOffset: number, count: number): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: count }, (_, i) => view.getInt32(byteOffset + 4 * i, true));
}

/**
 * Rejects headers no real export could produce, before their sizes are used for anything, so
 * a random or foreign file fails with "corrupt header" rather than an odd size complaint.
 */
function checkPlausible(h: Llama2cHeader, raw: number[], source: string): void {
  const problems: string[] = [];
  const positive: [string, number][] = [
    ['dim', h.dim],
    ['hidden_dim', h.hiddenDim],
    ['n_layers', h.nLayers],
    ['n_heads', h.nHeads],
    ['n_kv_heads', h.nKvHeads],
    ['vocab_size', h.layout === 'v1' ? raw[5] : h.vocabSize],
    ['seq_len', h.seqLen],
  ];
  for (const [name, v] of positive) if (v <= 0) problems.push(`${name} is ${v}, must be positive`);
  if (problems.length === 0) {
    // Generous caps (far beyond any Llama) that still catch bytes that were never a header.
    if (h.dim > 1 << 16) problems.push(`dim ${h.dim} is implausibly large`);
    if (h.hiddenDim > 1 << 18) problems.push(`hidden_dim ${h.hiddenDim} is implausibly large`);
    if (h.nLayers > 1024) problems.push(`n_layers ${h.nLayers} is implausibly large`);
    if (h.vocabSize > 1 << 22) problems.push(`vocab_size ${h.vocabSize} is implausibly large`);
    if (h.seqLen > 1 << 24) problems.push(`seq_len ${h.seqLen} is implausibly large`);
    if (h.dim % h.nHeads !== 0) problems.push(`dim ${h.dim} is not divisible by n_heads ${h.nHeads}`);
    else if ((h.dim / h.nHeads) % 2 !== 0) problems.push(`head size ${h.dim / h.nHeads} must be even for rotary embeddings`);
    if (h.nKvHeads > h.nHeads || h.nHeads % h.nKvHeads !== 0) {
      problems.push(`n_heads ${h.nHeads} is not a multiple of n_kv_heads ${h.nKvHeads}`);
    }
  }
  if (problems.length > 0) {
    throw new CheckpointError(
      source,
      `corrupt or unsupported llama2.c ${h.layout} header (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len = ${raw.join(', ')}): ${problems.join('; ')}`,
    );
  }
}

/** Number of fp32 values in each tensor group, in the order the layout stores them. */
function tensorPlan(h: Llama2cHeader): { name: string; floats: number }[] {
  const headSize = h.dim / h.nHeads;
  const kvDim = h.nKvHeads * headSize;
  const L = h.nLayers;
  const norms = { attn: L * h.dim, ffn: L * h.dim, final: h.dim };
  const mats = {
    embed: h.vocabSize * h.dim,
    wq: L * h.dim * h.dim,
    wk: L * kvDim * h.dim,
    wv: L * kvDim * h.dim,
    wo: L * h.dim * h.dim,
    w1: L * h.hiddenDim * h.dim,
    w2: L * h.dim * h.hiddenDim,
    w3: L * h.hiddenDim * h.dim,
  };
  const classifier = h.sharedClassifier ? [] : [{ name: 'classifier', floats: h.vocabSize * h.dim }];
  if (h.layout === 'legacy') {
    return [
      { name: 'embed', floats: mats.embed },
      { name: 'rms_att', floats: norms.attn },
      { name: 'wq', floats: mats.wq },
      { name: 'wk', floats: mats.wk },
      { name: 'wv', floats: mats.wv },
      { name: 'wo', floats: mats.wo },
      { name: 'rms_ffn', floats: norms.ffn },
      { name: 'w1', floats: mats.w1 },
      { name: 'w2', floats: mats.w2 },
      { name: 'w3', floats: mats.w3 },
      { name: 'rms_final', floats: norms.final },
      // Precomputed RoPE cos/sin tables; the forward pass recomputes them, so they are skipped.
      { name: 'freq_cis_real', floats: (h.seqLen * headSize) / 2 },
      { name: 'freq_cis_imag', floats: (h.seqLen * headSize) / 2 },
      ...classifier,
    ];
  }
  return [
    { name: 'rms_att', floats: norms.attn },
    { name: 'rms_ffn', floats: norms.ffn },
    { name: 'rms_final', floats: norms.final },
    { name: 'embed', floats: mats.embed },
    { name: 'wq', floats: mats.wq },
    { name: 'wk', floats: mats.wk },
    { name: 'wv', floats: mats.wv },
    { name: 'wo', floats: mats.wo },
    { name: 'w1', floats: mats.w1 },
    { name: 'w2', floats: mats.w2 },
    { name: 'w3', floats: mats.w3 },
    ...classifier,
  ];
}

function checkSize(h: Llama2cHeader, source: string, fileSize: number): void {
  const expected = h.headerBytes + 4 * tensorPlan(h).reduce((a, t) => a + t.floats, 0);
  if (fileSize === expected) return;
  const shape = `dim ${h.dim}, hidden_dim ${h.hiddenDim}, n_layers ${h.nLayers}, n_heads ${h.nHeads}, n_kv_heads ${h.nKvHeads}, vocab_size ${h.vocabSize}, seq_len ${h.seqLen}, ${h.sharedClassifier ? 'shared' : 'separate'} classifier`;
  if (fileSize < expected) {
    throw new CheckpointError(
      source,
      `truncated llama2.c ${h.layout} checkpoint: the header (${shape}) implies ${expected} bytes but the file has ${fileSize} (${expected - fileSize} missing); re-download or re-export it`,
    );
  }
  throw new CheckpointError(
    source,
    `llama2.c ${h.layout} checkpoint has ${fileSize - expected} bytes more than the ${expected} its header (${shape}) implies; the header is corrupt or the file is in another format (int8 or a newer export version?)`,
  );
}

function configFromHeader(h: Llama2cHeader): LlamaConfig {
  return {
    family: 'llama',
    modelType: 'llama2c',
    dModel: h.dim,
    nLayers: h.nLayers,
    nHeads: h.nHeads,
    nKvHeads: h.nKvHeads,
    headDim: h.dim / h.nHeads,
    dFF: h.hiddenDim,
    vocabSize: h.vocabSize,
    maxSeqLen: h.seqLen,
    // llama2.c hard-codes these in model.py / run.c; the file does not store them.
    ropeTheta: 10000,
    ropeStyle: 'adjacent',
    rmsNormEps: 1e-5,
    tiedEmbeddings: h.sharedClassifier,
    qkvBias: false,
    bosTokenId: 1,
    eosTokenIds: [2],
  };
}

function readTensors(reader: SequentialReader, h: Llama2cHeader, source: string): LlamaCheckpoint {
  const headSize = h.dim / h.nHeads;
  const kvDim = h.nKvHeads * headSize;
  const L = h.nLayers;
  // Each group is stacked over layers; slice it into per-layer tensors without copying again.
  const perLayer = (data: Float32Array, dims: number[]): Tensor[] => {
    const n = dims.reduce((a, b) => a * b, 1);
    return Array.from({ length: L }, (_, l) => ({ dims, data: data.subarray(l * n, (l + 1) * n) }));
  };

  const groups = new Map<string, Float32Array>();
  for (const t of tensorPlan(h)) {
    if (t.name.startsWith('freq_cis')) {
      reader.skip(4 * t.floats);
      continue;
    }
    const data = reader.readFloat32(t.floats);
    // Per-layer groups are stacked, so the first index of a bad value is its layer.
    const stacked = !['embed', 'classifier', 'rms_final'].includes(t.name);
    checkFiniteWeights(source, `${RUN_C_NAMES[t.name]}${stacked ? ' [layer, index]' : ''}`, data, stacked ? [L, t.floats / L] : [t.floats]);
    groups.set(t.name, data);
  }
  const g = (name: string) => groups.get(name)!;

  const attnNorm = perLayer(g('rms_att'), [h.dim]);
  const ffnNorm = perLayer(g('rms_ffn'), [h.dim]);
  const wq = perLayer(g('wq'), [h.dim, h.dim]);
  const wk = perLayer(g('wk'), [kvDim, h.dim]);
  const wv = perLayer(g('wv'), [kvDim, h.dim]);
  const wo = perLayer(g('wo'), [h.dim, h.dim]);
  const w1 = perLayer(g('w1'), [h.hiddenDim, h.dim]);
  const w2 = perLayer(g('w2'), [h.dim, h.hiddenDim]);
  const w3 = perLayer(g('w3'), [h.hiddenDim, h.dim]);
  const layers: LlamaLayerWeights[] = Array.from({ length: L }, (_, l) => ({
    attnNorm: attnNorm[l],
    wq: wq[l],
    wk: wk[l],
    wv: wv[l],
    wo: wo[l],
    ffnNorm: ffnNorm[l],
    wGate: w1[l],
    wDown: w2[l],
    wUp: w3[l],
  }));

  const config = configFromHeader(h);
  return {
    config,
    weights: {
      embed: { dims: [h.vocabSize, h.dim], data: g('embed') },
      layers,
      finalNorm: { dims: [h.dim], data: g('rms_final') },
      ...(h.sharedClassifier ? {} : { lmHead: { dims: [h.vocabSize, h.dim], data: g('classifier') } }),
    },
    source,
    contentHash: '', // filled in by the caller once every byte has been hashed
  };
}

/** Reads a file front to back exactly once, hashing every byte it passes. */
class SequentialReader {
  private pos = 0;
  private readonly hash: Hash = createHash('sha256');
  /** Reused for skipped regions so skipping never allocates the region's size. */
  private scratch: Uint8Array | undefined;

  constructor(
    private readonly fd: number,
    private readonly source: string,
    private readonly size: number,
  ) {}

  readBytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    this.fill(out);
    return out;
  }

  /** A fresh, 4-byte-aligned Float32Array filled from the next 4*n bytes. */
  readFloat32(n: number): Float32Array {
    const out = new Float32Array(n);
    this.fill(new Uint8Array(out.buffer));
    return out;
  }

  skip(n: number): void {
    this.scratch ??= new Uint8Array(1 << 20);
    while (n > 0) {
      const chunk = this.scratch.subarray(0, Math.min(n, this.scratch.length));
      this.fill(chunk);
      n -= chunk.length;
    }
  }

  /** Hex sha256 of the whole file; reads (and hashes) whatever has not been read yet. */
  digest(): string {
    if (this.pos < this.size) this.skip(this.size - this.pos);
    return this.hash.digest('hex');
  }

  private fill(dst: Uint8Array): void {
    // readSync is capped near 2 GiB per call, so large tensors are read in pieces.
    const maxChunk = 1 << 30;
    let done = 0;
    while (done < dst.length) {
      const want = Math.min(dst.length - done, maxChunk);
      const got = fs.readSync(this.fd, dst, done, want, this.pos);
      if (got === 0) {
        // Only possible if the file shrank after its size was checked.
        throw new CheckpointError(this.source, `unexpected end of file at byte ${this.pos} (the file changed while being read?)`);
      }
      done += got;
      this.pos += got;
    }
    this.hash.update(dst);
  }
}
