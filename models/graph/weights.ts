/**
 * The weights file of a built model: every parameter of one checkpoint, converted once to one
 * storage precision and written tensor by tensor into `weights.bin`, with a manifest saying where
 * each stored tensor lives and how the graph must consume it. Every graph built from the
 * checkpoint at that precision (and every huginn num_steps / state_init variant) references this
 * one file as ONNX external data.
 *
 * Precisions (hook reads and edits stay fp32 whatever is chosen):
 * - `fp32`: every tensor as fp32; matrices transposed to [in, out] for MatMul.
 * - `fp16`: matrices and the embedding as fp16, multiplied in fp16 (GPU providers); norms and
 *   biases fp32.
 * - `int8`, `int4`: weight-only, block-wise symmetric quantization of every matrix (the head and the
 *   embedding table included) in ONNX Runtime's `MatMulNBits` layout: per output row, blocks of
 *   QUANT_BLOCK input values share one fp32 scale. The embedding rows are read with
 *   `GatherBlockQuantized` from the same layout. Norms and biases stay fp32.
 *
 * The head is always a tensor of its own, also when the checkpoint ties it to the embedding: ONNX
 * Runtime pre-packs a MatMul's weights into a private copy and then lets the file-backed original
 * go, unless another node (the embedding lookup) still reads it, which would keep the whole
 * embedding table resident next to the packed head. With separate tensors only the embedding rows
 * actually looked up are ever paged in. `parameterBytes` counts every parameter once (the tied
 * head's copy not counted), the honest denominator for memory ratios.
 */
import * as fs from 'node:fs';
import { f32ArrayToF16 } from '../safetensors';

import { WEIGHT_PRECISIONS, type WeightPrecision } from '../common/precision';

export { WEIGHT_PRECISIONS, type WeightPrecision };

/** Largest slice of a split matrix (see splitLinear): 16 MiB in fp32. */
export const SPLIT_VALUES = 4 * 2 ** 20;

/** Input values per quantization block (a power of two ≥ 16, as MatMulNBits requires). */
export const QUANT_BLOCK = 32;

/** Bump whenever what the writer stores changes, so stale weights files are rebuilt. */
export const WEIGHTS_VERSION = 1;

export type StoredDtype = 'float32' | 'float16' | 'uint8';
const DTYPE_BYTES: Record<StoredDtype, number> = { float32: 4, float16: 2, uint8: 1 };

/** One raw tensor in the weights file. */
export interface StoredTensor {
  dtype: StoredDtype;
  dims: number[];
  offset: number;
  length: number;
}

/**
 * How the graph consumes a matrix y = x·Wᵀ with W [out, in] (PyTorch layout).
 * - dense: tensor `name` [in, out] in fp32 or fp16 for MatMul.
 * - nbits: `name.q` uint8 [out, blocks, QUANT_BLOCK·bits/8] and `name.scales` fp32 [out·blocks].
 */
export type LinearFormat = { kind: 'dense'; dtype: 'float32' | 'float16'; in: number; out: number } | { kind: 'nbits'; bits: 4 | 8; blockSize: number; in: number; out: number };

/**
 * How the graph looks up embedding rows of a table E [rows, dim].
 * - dense: tensor `name` [rows, dim] (fp32 or fp16; fp16 rows are cast to fp32 after the lookup).
 * - nbits: `name.q` uint8 [rows, dim·bits/8] and `name.scales` fp32 [rows, blocks], for
 *   GatherBlockQuantized (the MatMulNBits layout seen as one row per token).
 */
export type EmbeddingFormat = { kind: 'dense'; dtype: 'float32' | 'float16'; rows: number; dim: number } | { kind: 'nbits'; bits: 4 | 8; blockSize: number; rows: number; dim: number };

export interface WeightsManifest {
  weightsVersion: number;
  precision: WeightPrecision;
  contentHash: string;
  /** Raw tensors (ONNX initializers) by name. */
  tensors: Record<string, StoredTensor>;
  linears: Record<string, LinearFormat>;
  /** A matrix stored as several linears over consecutive slices of its output rows (the head). */
  splitLinears: Record<string, string[]>;
  embeddings: Record<string, EmbeddingFormat>;
  /** fp32 vectors and tables (norm weights, biases), by name: the raw tensor of the same name. */
  vectors: string[];
  /** Bytes of every parameter once, in this precision (a tied head's copy not counted). */
  parameterBytes: number;
  /** Size of weights.bin. */
  fileBytes: number;
}

/** Progress of a conversion: parameters written so far out of all, and what is being written. */
export type ConversionProgress = (done: number, total: number, message: string) => void;

/**
 * Streams converted tensors into one file. The caller adds each tensor once, in a fixed order,
 * reading one checkpoint tensor at a time; `finish()` returns the manifest.
 */
export class WeightsWriter {
  private readonly fd: number;
  private offset = 0;
  private paramsDone = 0;
  private parameterBytes = 0;
  private readonly manifest: Omit<WeightsManifest, 'parameterBytes' | 'fileBytes'>;

  constructor(
    readonly filePath: string,
    readonly precision: WeightPrecision,
    contentHash: string,
    /** Values the recipe will add (each tensor's element count, copies included), for progress. */
    private readonly totalParams: number,
    private readonly onProgress: ConversionProgress = () => {},
  ) {
    this.fd = fs.openSync(filePath, 'w');
    this.manifest = { weightsVersion: WEIGHTS_VERSION, precision, contentHash, tensors: {}, linears: {}, splitLinears: {}, embeddings: {}, vectors: [] };
  }

  /** A norm weight, bias or table: always fp32, stored as given. */
  vector(name: string, dims: number[], data: Float32Array): void {
    this.raw(name, 'float32', dims, f32Bytes(data));
    this.manifest.vectors.push(name);
    this.count(name, data.length, 4 * data.length);
  }

  /**
   * A matrix W [out, in] (PyTorch layout) applied as x·Wᵀ. `duplicateOf` marks a copy of a
   * parameter already added (the tied head), so it is not counted twice in parameterBytes.
   */
  linear(name: string, w: { dims: number[]; data: Float32Array }, opts: { duplicateOf?: string } = {}): void {
    const [out, inDim] = w.dims;
    if (w.dims.length !== 2 || w.data.length !== out * inDim) throw new Error(`linear ${name}: expected a 2-D [out, in] matrix, got [${w.dims.join(', ')}]`);
    const before = this.offset;
    if (this.precision === 'fp32' || this.precision === 'fp16') {
      const dtype = this.precision === 'fp32' ? 'float32' : 'float16';
      this.rawStreamed(name, dtype, [inDim, out], (emit) => transposeRows(w.data, out, inDim, (row) => emit(dtype === 'float32' ? f32Bytes(row) : f16Bytes(row))));
      this.manifest.linears[name] = { kind: 'dense', dtype, in: inDim, out };
    } else {
      const bits = this.precision === 'int8' ? 8 : 4;
      const q = quantizeBlockwise(w.data, out, inDim, bits, QUANT_BLOCK);
      const blocks = q.scales.length / out;
      this.raw(`${name}.q`, 'uint8', [out, blocks, (QUANT_BLOCK * bits) / 8], q.data);
      this.raw(`${name}.scales`, 'float32', [out * blocks], f32Bytes(q.scales));
      this.manifest.linears[name] = { kind: 'nbits', bits, blockSize: QUANT_BLOCK, in: inDim, out };
    }
    this.count(name, w.data.length, this.offset - before, opts.duplicateOf);
  }

  /**
   * A matrix with many output rows (the head, [vocab, d]) stored as slices of at most
   * SPLIT_VALUES values each. ONNX Runtime pre-packs one weight at a time and frees the original
   * after; while it packs, the original and the packed copy are both resident, so the largest
   * single weight sets how far loading peaks above the weights (the whole head, 27% of
   * Qwen2-0.5B, before the split).
   */
  splitLinear(name: string, w: { dims: number[]; data: Float32Array }, opts: { duplicateOf?: string } = {}): void {
    const [out, inDim] = w.dims;
    const rowsPer = Math.max(1, Math.floor(SPLIT_VALUES / inDim));
    const parts: string[] = [];
    for (let r0 = 0, k = 0; r0 < out; r0 += rowsPer, k++) {
      const rows = Math.min(rowsPer, out - r0);
      const part = `${name}.${k}`;
      this.linear(part, { dims: [rows, inDim], data: w.data.subarray(r0 * inDim, (r0 + rows) * inDim) }, opts);
      parts.push(part);
    }
    this.manifest.splitLinears[name] = parts;
  }

  /** A lookup table E [rows, dim] (token embeddings). */
  embedding(name: string, e: { dims: number[]; data: Float32Array }): void {
    const [rows, dim] = e.dims;
    const before = this.offset;
    if (this.precision === 'fp32' || this.precision === 'fp16') {
      const dtype = this.precision === 'fp32' ? 'float32' : 'float16';
      this.raw(name, dtype, [rows, dim], dtype === 'float32' ? f32Bytes(e.data) : f16Bytes(e.data));
      this.manifest.embeddings[name] = { kind: 'dense', dtype, rows, dim };
    } else {
      const bits = this.precision === 'int8' ? 8 : 4;
      const q = quantizeBlockwise(e.data, rows, dim, bits, QUANT_BLOCK);
      const blocks = q.scales.length / rows;
      this.raw(`${name}.q`, 'uint8', [rows, (blocks * QUANT_BLOCK * bits) / 8], q.data);
      this.raw(`${name}.scales`, 'float32', [rows, blocks], f32Bytes(q.scales));
      this.manifest.embeddings[name] = { kind: 'nbits', bits, blockSize: QUANT_BLOCK, rows, dim };
    }
    this.count(name, e.data.length, this.offset - before);
  }

  /** Flushes and closes the file; the manifest to store beside it. */
  finish(): WeightsManifest {
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    return { ...this.manifest, parameterBytes: this.parameterBytes, fileBytes: this.offset };
  }

  /** Closes the file without a manifest (the build failed). */
  abandon(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }

  private count(name: string, params: number, bytes: number, duplicateOf?: string): void {
    if (!duplicateOf) this.parameterBytes += bytes;
    this.paramsDone += params;
    this.onProgress(Math.min(this.paramsDone, this.totalParams), this.totalParams, `converting ${name} to ${this.precision}${duplicateOf ? ` (a copy of ${duplicateOf})` : ''}`);
  }

  private raw(name: string, dtype: StoredDtype, dims: number[], bytes: Uint8Array): void {
    this.rawStreamed(name, dtype, dims, (emit) => emit(bytes));
  }

  /** Appends a tensor whose bytes arrive in pieces; 64-byte aligned so the runtime may map it. */
  private rawStreamed(name: string, dtype: StoredDtype, dims: number[], produce: (emit: (chunk: Uint8Array) => void) => void): void {
    if (this.manifest.tensors[name]) throw new Error(`weight ${name} written twice`);
    const pad = (64 - (this.offset % 64)) % 64;
    if (pad) {
      writeAll(this.fd, new Uint8Array(pad));
      this.offset += pad;
    }
    const start = this.offset;
    produce((chunk) => {
      writeAll(this.fd, chunk);
      this.offset += chunk.length;
    });
    const length = this.offset - start;
    const want = dims.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (length !== want) throw new Error(`weight ${name}: wrote ${length} bytes, [${dims.join(', ')}] ${dtype} needs ${want}`);
    this.manifest.tensors[name] = { dtype, dims: [...dims], offset: start, length };
  }
}

/**
 * Symmetric block quantization of M [rows, cols] along cols, in MatMulNBits' layout: for each row,
 * ceil(cols / block) blocks (the last zero-padded) of `block` values, each stored as
 * q = clamp(round(w / s), −2^(bits−1), 2^(bits−1) − 1) + 2^(bits−1) (so the default zero point
 * 2^(bits−1) of MatMulNBits and GatherBlockQuantized applies), 4-bit values two to a byte with the
 * even element in the low nibble. The scale is s = v / −2^(bits−1) for the block's value v of
 * largest magnitude, so v itself is exact (ONNX Runtime's own quantizer does the same).
 */
export function quantizeBlockwise(m: Float32Array, rows: number, cols: number, bits: 4 | 8, block: number): { data: Uint8Array; scales: Float32Array } {
  const blocks = Math.ceil(cols / block);
  const blob = (block * bits) / 8;
  const zp = 1 << (bits - 1);
  const maxQ = (1 << bits) - 1;
  const data = new Uint8Array(rows * blocks * blob);
  const scales = new Float32Array(rows * blocks);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const start = r * cols + b * block;
      const n = Math.min(block, cols - b * block);
      let v = 0;
      for (let k = 0; k < n; k++) if (Math.abs(m[start + k]) > Math.abs(v)) v = m[start + k];
      const s = Math.fround(v / -zp);
      scales[r * blocks + b] = s;
      const base = (r * blocks + b) * blob;
      for (let k = 0; k < block; k++) {
        const q = k < n && s !== 0 ? Math.min(maxQ, Math.max(0, Math.round(m[start + k] / s) + zp)) : zp;
        if (bits === 8) data[base + k] = q;
        else data[base + (k >> 1)] |= k & 1 ? q << 4 : q;
      }
    }
  }
  return { data, scales };
}

/** The values quantizeBlockwise's output stands for, [rows, cols] (what MatMulNBits multiplies by). */
export function dequantizeBlockwise(q: { data: Uint8Array; scales: Float32Array }, rows: number, cols: number, bits: 4 | 8, block: number): Float32Array {
  const blocks = Math.ceil(cols / block);
  const blob = (block * bits) / 8;
  const zp = 1 << (bits - 1);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const b = Math.floor(c / block);
      const k = c % block;
      const byte = q.data[(r * blocks + b) * blob + (bits === 8 ? k : k >> 1)];
      const v = bits === 8 ? byte : k & 1 ? byte >> 4 : byte & 15;
      out[r * cols + c] = (v - zp) * q.scales[r * blocks + b];
    }
  }
  return out;
}

/**
 * Emits the rows of Mᵀ for M [rows, cols]: `cols` rows of `rows` values, a few at a time, so a
 * transposed copy of a large matrix (the head) never exists in memory in full.
 */
function transposeRows(m: Float32Array, rows: number, cols: number, emit: (rowsOfT: Float32Array) => void): void {
  // Output rows per piece: about 4M values.
  const per = Math.max(1, Math.floor((1 << 22) / rows));
  for (let c0 = 0; c0 < cols; c0 += per) {
    const n = Math.min(per, cols - c0);
    const out = new Float32Array(n * rows);
    for (let r = 0; r < rows; r++) {
      const base = r * cols + c0;
      for (let j = 0; j < n; j++) out[j * rows + r] = m[base + j];
    }
    emit(out);
  }
}

function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function f16Bytes(a: Float32Array): Uint8Array {
  const h = f32ArrayToF16(a);
  return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, Math.min(1 << 30, bytes.length - done));
}

/** The manifest's file name beside weights.bin; written after weights.bin is complete. */
export const WEIGHTS_FILE = 'weights.bin';
export const MANIFEST_FILE = 'weights.json';

/** Reads a manifest, or undefined when absent, unreadable or not matching its weights file. */
export function readManifest(manifestPath: string, weightsPath: string): WeightsManifest | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as WeightsManifest;
    if (m.weightsVersion !== WEIGHTS_VERSION) return undefined;
    for (const key of ['tensors', 'linears', 'splitLinears', 'embeddings'] as const) if (typeof m[key] !== 'object' || m[key] === null) return undefined;
    if (fs.statSync(weightsPath).size !== m.fileBytes) return undefined;
    return m;
  } catch {
    return undefined;
  }
}

/** One tensor a recipe will write, known from the config alone (before any weight is read). */
export interface PlannedWeight {
  name: string;
  kind: 'linear' | 'embedding' | 'vector';
  /** PyTorch layout: [out, in] for linears, [rows, dim] for embeddings. */
  dims: number[];
  /** A copy of another planned tensor (the tied head): stored again, counted once. */
  duplicateOf?: string;
}

/** Bytes a plan takes at a precision: parameters once, and the file (copies included). */
export function estimateWeightBytes(plan: PlannedWeight[], precision: WeightPrecision): { parameterBytes: number; fileBytes: number } {
  let parameterBytes = 0;
  let fileBytes = 0;
  for (const t of plan) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    let bytes = 4 * n;
    if (t.kind !== 'vector') {
      if (precision === 'fp16') bytes = 2 * n;
      else if (precision === 'int8' || precision === 'int4') {
        const bits = precision === 'int8' ? 8 : 4;
        const [rows, cols] = t.dims;
        const blocks = Math.ceil(cols / QUANT_BLOCK);
        bytes = rows * blocks * ((QUANT_BLOCK * bits) / 8 + 4);
      }
    }
    fileBytes += bytes + 63;
    if (!t.duplicateOf) parameterBytes += bytes;
  }
  return { parameterBytes, fileBytes };
}

/** Why a plan cannot be stored at a precision, or undefined when it can (checked before writing). */
export function precisionProblem(plan: PlannedWeight[], precision: WeightPrecision): string | undefined {
  if (!WEIGHT_PRECISIONS.includes(precision)) return `unknown weight precision '${String(precision)}': choose ${WEIGHT_PRECISIONS.join(', ')}`;
  if (precision !== 'int8' && precision !== 'int4') return undefined;
  // GatherBlockQuantized reads rows of exactly `dim` values: no padded last block.
  const odd = plan.find((t) => t.kind === 'embedding' && t.dims[1] % QUANT_BLOCK !== 0);
  return odd ? `${precision} weights need d_model to be a multiple of ${QUANT_BLOCK} (this model's is ${odd.dims[1]}): choose fp32` : undefined;
}

/** Values a plan writes (copies included): the total of a conversion's progress. */
export function plannedValues(plan: PlannedWeight[]): number {
  return plan.reduce((a, t) => a + t.dims.reduce((x, y) => x * y, 1), 0);
}
