/**
 * GGUF files (ggml's container: llama.cpp models, LoRA adapters, control vectors), read and
 * written as the format's specification lays them out (ggml docs/gguf.md), little-endian:
 *
 *   "GGUF" | u32 version (2 or 3) | u64 tensor count | u64 metadata count
 *   metadata: key (u64 length + UTF-8) | u32 value type | value
 *   tensor infos: name | u32 n_dims | u64 dims[n_dims] (innermost first) | u32 ggml type | u64 offset
 *   padding to `general.alignment` (default 32), then the data area; each offset is relative to
 *   it and aligned.
 *
 * Only what LayerLab needs: any metadata (kept as JS values), F32 / F16 tensors. Control-vector
 * conventions (tensor names, which hook a layer index is) live in runtime/steering/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, type AtomicWriteOptions } from './common/files';
import { f16ArrayToF32 } from './safetensors';

export const GGUF_MAGIC = 'GGUF';
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (gguf.md `gguf_metadata_value_type`). */
export const GGUF_TYPE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** ggml tensor types LayerLab reads (gguf.md `ggml_type`). */
export const GGML_TYPE = { F32: 0, F16: 1 } as const;

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** Dimensions innermost first, as stored (a 1-D vector of n is [n]). */
  dims: number[];
  type: number;
  /** Byte offset in the data area. */
  offset: number;
}

export interface GgufFile {
  file: string;
  version: number;
  metadata: Map<string, GgufValue>;
  /** The stored value type of each metadata key (e.g. to tell u32 from i32). */
  metadataTypes: Map<string, number>;
  tensors: GgufTensorInfo[];
  /** Tensor values as fp32 (F32 as stored, F16 converted). */
  read(name: string): Float32Array;
}

export class GgufError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'GgufError';
  }
}

class Reader {
  pos = 0;
  constructor(
    private readonly b: Buffer,
    private readonly file: string,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.b.length) throw new GgufError(this.file, `truncated: needs ${n} bytes at offset ${this.pos}, the file has ${this.b.length}`);
  }
  u8(): number {
    this.need(1);
    return this.b.readUInt8(this.pos++);
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.b.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  size(what: string): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError(this.file, `${what} ${v} is too large`);
    return Number(v);
  }
  string(): string {
    const n = this.size('string length');
    this.need(n);
    const s = this.b.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  value(type: number): GgufValue {
    const b = this.b;
    const at = (n: number) => {
      this.need(n);
      const p = this.pos;
      this.pos += n;
      return p;
    };
    switch (type) {
      case GGUF_TYPE.UINT8:
        return b.readUInt8(at(1));
      case GGUF_TYPE.INT8:
        return b.readInt8(at(1));
      case GGUF_TYPE.UINT16:
        return b.readUInt16LE(at(2));
      case GGUF_TYPE.INT16:
        return b.readInt16LE(at(2));
      case GGUF_TYPE.UINT32:
        return b.readUInt32LE(at(4));
      case GGUF_TYPE.INT32:
        return b.readInt32LE(at(4));
      case GGUF_TYPE.FLOAT32:
        return b.readFloatLE(at(4));
      case GGUF_TYPE.BOOL:
        return b.readUInt8(at(1)) !== 0;
      case GGUF_TYPE.STRING:
        return this.string();
      case GGUF_TYPE.ARRAY: {
        const elem = this.u32();
        const n = this.size('array length');
        const out: GgufValue[] = [];
        for (let i = 0; i < n; i++) out.push(this.value(elem));
        return out;
      }
      case GGUF_TYPE.UINT64:
        return b.readBigUInt64LE(at(8));
      case GGUF_TYPE.INT64:
        return b.readBigInt64LE(at(8));
      case GGUF_TYPE.FLOAT64:
        return b.readDoubleLE(at(8));
      default:
        throw new GgufError(this.file, `unknown metadata value type ${type} at offset ${this.pos - 4}`);
    }
  }
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Reads a GGUF file's metadata and tensor table; tensor values are read on demand. */
export function readGguf(file: string): GgufFile {
  const abs = path.resolve(file);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(abs);
  } catch (e) {
    throw new GgufError(abs, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (bytes.length < 4 || bytes.toString('latin1', 0, 4) !== GGUF_MAGIC) throw new GgufError(abs, 'not a GGUF file (it does not start with "GGUF")');
  const r = new Reader(bytes, abs);
  r.pos = 4;
  const version = r.u32();
  if (version !== 2 && version !== 3) throw new GgufError(abs, `GGUF version ${version} is not supported (2 and 3 are)`);
  const nTensors = r.size('tensor count');
  const nKv = r.size('metadata count');
  const metadata = new Map<string, GgufValue>();
  const metadataTypes = new Map<string, number>();
  for (let i = 0; i < nKv; i++) {
    const key = r.string();
    const type = r.u32();
    metadata.set(key, r.value(type));
    metadataTypes.set(key, type);
  }
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = r.string();
    const nDims = r.u32();
    if (nDims > 4) throw new GgufError(abs, `tensor ${name} has ${nDims} dimensions (at most 4)`);
    const dims = Array.from({ length: nDims }, () => r.size(`tensor ${name} dimension`));
    const type = r.u32();
    const offset = r.size(`tensor ${name} offset`);
    tensors.push({ name, dims, type, offset });
  }
  const alignmentValue = metadata.get('general.alignment');
  const alignment = typeof alignmentValue === 'number' && alignmentValue > 0 ? alignmentValue : GGUF_DEFAULT_ALIGNMENT;
  const dataStart = alignUp(r.pos, alignment);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  return {
    file: abs,
    version,
    metadata,
    metadataTypes,
    tensors,
    read(name: string): Float32Array {
      const t = byName.get(name);
      if (!t) throw new GgufError(abs, `has no tensor ${name}`);
      const n = t.dims.reduce((a, b) => a * b, 1);
      const width = t.type === GGML_TYPE.F32 ? 4 : t.type === GGML_TYPE.F16 ? 2 : 0;
      if (!width) throw new GgufError(abs, `tensor ${name} has ggml type ${t.type}; LayerLab reads F32 (0) and F16 (1)`);
      const start = dataStart + t.offset;
      if (start + n * width > bytes.length) throw new GgufError(abs, `tensor ${name} runs past the end of the file`);
      // Copied into a fresh buffer so the typed array is aligned whatever the offset.
      const raw = new Uint8Array(n * width);
      bytes.copy(raw, 0, start, start + n * width);
      return t.type === GGML_TYPE.F32 ? new Float32Array(raw.buffer) : f16ArrayToF32(new Uint16Array(raw.buffer));
    },
  };
}

/** A metadata entry to write: the value and its GGUF type (strings and numbers need one). */
export interface GgufMetadataEntry {
  key: string;
  type: (typeof GGUF_TYPE)['STRING' | 'UINT32' | 'INT32' | 'FLOAT32' | 'BOOL'];
  value: string | number | boolean;
}

function ggufString(s: string): Buffer {
  const body = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(body.length));
  return Buffer.concat([len, body]);
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

function u64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

function encodeValue(e: GgufMetadataEntry): Buffer {
  switch (e.type) {
    case GGUF_TYPE.STRING:
      return ggufString(String(e.value));
    case GGUF_TYPE.UINT32:
      return u32(Number(e.value));
    case GGUF_TYPE.INT32: {
      const b = Buffer.alloc(4);
      b.writeInt32LE(Number(e.value));
      return b;
    }
    case GGUF_TYPE.FLOAT32: {
      const b = Buffer.alloc(4);
      b.writeFloatLE(Number(e.value));
      return b;
    }
    case GGUF_TYPE.BOOL:
      return Buffer.from([e.value ? 1 : 0]);
  }
}

/** The bytes of a GGUF v3 file holding 1-D F32 tensors, in the given order. */
export function encodeGguf(metadata: GgufMetadataEntry[], tensors: { name: string; data: Float32Array }[]): Buffer {
  const parts: Buffer[] = [Buffer.from(GGUF_MAGIC, 'latin1'), u32(3), u64(tensors.length), u64(metadata.length)];
  for (const m of metadata) parts.push(ggufString(m.key), u32(m.type), encodeValue(m));
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(offset);
    parts.push(ggufString(t.name), u32(1), u64(t.data.length), u32(GGML_TYPE.F32), u64(offset));
    offset = alignUp(offset + t.data.byteLength, GGUF_DEFAULT_ALIGNMENT);
  }
  const header = Buffer.concat(parts);
  const dataStart = alignUp(header.length, GGUF_DEFAULT_ALIGNMENT);
  const out = Buffer.alloc(dataStart + offset);
  header.copy(out, 0);
  tensors.forEach((t, i) => {
    const at = dataStart + offsets[i]!;
    for (let j = 0; j < t.data.length; j++) out.writeFloatLE(t.data[j]!, at + 4 * j);
  });
  return out;
}

/** Writes a GGUF file atomically (a crash never leaves a torn file). */
export function writeGguf(file: string, metadata: GgufMetadataEntry[], tensors: { name: string; data: Float32Array }[], opts?: AtomicWriteOptions): void {
  writeFileAtomic(file, encodeGguf(metadata, tensors), opts);
}
