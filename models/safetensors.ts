/**
 * Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
 *
 *   [8 bytes: header length N, little-endian u64][N bytes: JSON header][data area]
 *
 * The header maps tensor names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative
 * to the start of the data area) plus an optional `__metadata__` string→string map.
 *
 * Hand-written because it is the product's own interchange format (hidden-state caches, directions)
 * and because checkpoints can be far larger than memory: the reader parses only the header up front
 * and reads each tensor's bytes on demand with positioned reads.
 *
 * Validation follows the reference Rust implementation: every tensor's byte range must match its
 * shape and dtype, and the ranges must tile the data area exactly (no overlaps, no holes).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CheckpointError, type Tensor } from './checkpoint';
import { writeAllSync, writeFileAtomic, type AtomicWriteOptions } from './common/files';

/** Bytes per element of every dtype the format defines with whole-byte elements. */
const DTYPE_SIZES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  C64: 8,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_SIZES;

/** Dtypes `read()` converts to fp32. */
const READABLE_DTYPES: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16', 'F64'];

/** Headers beyond this are certainly corrupt; the reference implementation uses the same cap. */
const MAX_HEADER_BYTES = 100_000_000;

/** Largest single positioned read; keeps each call under the 2 GiB limit of fs.readSync. */
const READ_CHUNK_BYTES = 1 << 30;

/** Copy buffer when assembling a file from per-tensor files: large enough to stream at disk speed. */
const COPY_CHUNK_BYTES = 16 << 20;

export interface SafetensorsTensorInfo {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte range relative to the start of the data area. */
  dataOffsets: [number, number];
}

export interface SafetensorsFile {
  /** Absolute path. */
  readonly file: string;
  /** Tensor entries of the header, `__metadata__` excluded. */
  readonly header: Readonly<Record<string, SafetensorsTensorInfo>>;
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensor names in header order. */
  readonly names: readonly string[];
  /** Absolute file offset where the data area starts (8 + header length). */
  readonly dataStart: number;
  /** The tensor converted to fp32 (from F32, F16, BF16 or F64). */
  read(name: string): Tensor;
  /** The tensor's bytes exactly as stored (little-endian). */
  readRaw(name: string): Buffer;
}

/** Dtypes LayerLab writes (from fp32 data). */
export type WritableDtype = 'F32' | 'F16' | 'BF16' | 'I32';
const WRITABLE_DTYPES: readonly WritableDtype[] = ['F32', 'F16', 'BF16', 'I32'];

export interface SafetensorsTensorInput {
  name: string;
  dtype: Exclude<WritableDtype, 'I32'>;
  shape: number[];
  data: Float32Array;
}

/** An integer tensor (token ids), written as stored. */
export interface SafetensorsIntTensorInput {
  name: string;
  dtype: 'I32';
  shape: number[];
  data: Int32Array;
}

function isDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZES, s);
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Typed-array views reinterpret file bytes in host order; the format is little-endian. */
function assertLittleEndianHost(file: string): void {
  if (os.endianness() !== 'LE') throw new CheckpointError(file, 'reading or writing safetensors needs a little-endian host');
}

/** Positioned read of exactly `length` bytes into a fresh, 8-byte-aligned buffer. */
function readExact(fd: number, file: string, position: number, length: number): Uint8Array {
  // A standalone ArrayBuffer (not Node's shared pool) so Float32Array/Float64Array views are aligned.
  const out = new Uint8Array(new ArrayBuffer(length));
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, Math.min(READ_CHUNK_BYTES, length - done), position + done);
    if (n === 0) throw new CheckpointError(file, `unexpected end of file at byte ${position + done}`);
    done += n;
  }
  return out;
}

/**
 * Parses and validates the header of a safetensors file. Tensor data is read lazily, each call
 * opening the file afresh so a long-lived reader holds no file descriptor.
 */
export function openSafetensors(file: string): SafetensorsFile {
  const abs = path.resolve(file);
  const fail = (msg: string): never => {
    throw new CheckpointError(abs, msg);
  };
  let fd: number;
  try {
    fd = fs.openSync(abs, 'r');
  } catch (e) {
    return fail(`cannot open safetensors file: ${(e as Error).message}`);
  }
  let fileSize: number;
  let headerBytes: Uint8Array;
  try {
    fileSize = fs.fstatSync(fd).size;
    if (fileSize < 8) fail(`is ${fileSize} bytes long, too short for a safetensors file (needs an 8-byte header length)`);
    const lenBuf = Buffer.from(readExact(fd, abs, 0, 8));
    const headerLen = lenBuf.readBigUInt64LE(0);
    if (headerLen > BigInt(fileSize - 8)) {
      fail(`header length ${headerLen} exceeds the ${fileSize - 8} bytes after the length field; not a safetensors file or truncated`);
    }
    if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLen} is over the ${MAX_HEADER_BYTES}-byte limit`);
    headerBytes = readExact(fd, abs, 8, Number(headerLen));
  } finally {
    fs.closeSync(fd);
  }
  const dataStart = 8 + headerBytes.length;
  const dataSize = fileSize - dataStart;

  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    return fail(`header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(parsed)) return fail('header must be a JSON object');

  const metadata: Record<string, string> = {};
  const header: Record<string, SafetensorsTensorInfo> = {};
  const names: string[] = [];
  for (const [name, entry] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (!isPlainObject(entry)) return fail(`tensor ${name}: header entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (!isDtype(dtype)) {
      return fail(`tensor ${name}: unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_SIZES).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      return fail(`tensor ${name}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
      return fail(`tensor ${name}: data_offsets must be two non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(`tensor ${name}: data_offsets end ${end} is before begin ${begin}`);
    if (end > dataSize) fail(`tensor ${name}: data_offsets end ${end} is beyond the ${dataSize}-byte data area (file truncated?)`);
    const expected = numel(shape as number[]) * DTYPE_SIZES[dtype];
    if (end - begin !== expected) {
      fail(`tensor ${name}: holds ${end - begin} bytes but shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${expected}`);
    }
    header[name] = { dtype, shape: [...(shape as number[])], dataOffsets: [begin, end] };
    names.push(name);
  }

  // The tensors must tile the data area exactly, as the reference implementation demands.
  const byOffset = names.map((n) => ({ n, o: header[n].dataOffsets })).sort((a, b) => a.o[0] - b.o[0] || a.o[1] - b.o[1]);
  let cursor = 0;
  let prev = '';
  for (const { n, o } of byOffset) {
    if (o[0] < cursor) fail(`tensor ${n} (bytes ${o[0]}..${o[1]}) overlaps tensor ${prev} (ends at ${cursor})`);
    if (o[0] > cursor) fail(`bytes ${cursor}..${o[0]} of the data area belong to no tensor (hole before ${n})`);
    cursor = o[1];
    prev = n;
  }
  if (cursor !== dataSize) fail(`bytes ${cursor}..${dataSize} at the end of the data area belong to no tensor`);

  const readRaw = (name: string): Buffer => {
    const info = header[name];
    if (!info) throw new CheckpointError(abs, `has no tensor named ${name}`);
    const rfd = fs.openSync(abs, 'r');
    try {
      // Positions were validated against the size seen at open; refuse a file rewritten since.
      if (fs.fstatSync(rfd).size !== fileSize) fail('file changed size since its header was read');
      const bytes = readExact(rfd, abs, dataStart + info.dataOffsets[0], info.dataOffsets[1] - info.dataOffsets[0]);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } finally {
      fs.closeSync(rfd);
    }
  };

  const read = (name: string): Tensor => {
    const info = header[name];
    if (!info) throw new CheckpointError(abs, `has no tensor named ${name}`);
    if (!READABLE_DTYPES.includes(info.dtype)) {
      fail(`tensor ${name} has dtype ${info.dtype}; only ${READABLE_DTYPES.join(', ')} can be read as floating point`);
    }
    assertLittleEndianHost(abs);
    const raw = readRaw(name);
    const n = numel(info.shape);
    // readRaw returns a buffer that owns its whole, aligned ArrayBuffer.
    const buf = raw.buffer;
    let data: Float32Array;
    switch (info.dtype) {
      case 'F32':
        data = new Float32Array(buf, 0, n);
        break;
      case 'F16':
        data = f16ArrayToF32(new Uint16Array(buf, 0, n));
        break;
      case 'BF16':
        data = bf16ArrayToF32(new Uint16Array(buf, 0, n));
        break;
      default:
        data = Float32Array.from(new Float64Array(buf, 0, n));
    }
    return { dims: [...info.shape], data };
  };

  return { file: abs, header, metadata, names, dataStart, read, readRaw };
}

/**
 * The 8-byte length and the JSON header for tensors laid out back to back in the given order,
 * padded with spaces so the data area starts 8-byte aligned (readers can map it zero-copy).
 */
export function encodeSafetensorsHeader(
  tensors: { name: string; dtype: WritableDtype; shape: number[] }[],
  metadata?: Record<string, string>,
): Buffer {
  const header: Record<string, unknown> = {};
  // Python's writer puts __metadata__ first; doing the same keeps headers diffable across tools.
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`metadata ${k} must be a string`);
    }
    header.__metadata__ = { ...metadata };
  }
  let offset = 0;
  for (const t of tensors) {
    if (!t.name || t.name === '__metadata__') throw new TypeError(`invalid tensor name ${JSON.stringify(t.name)}`);
    if (Object.prototype.hasOwnProperty.call(header, t.name)) throw new TypeError(`duplicate tensor name ${t.name}`);
    if (!WRITABLE_DTYPES.includes(t.dtype)) throw new TypeError(`tensor ${t.name}: cannot write dtype ${String(t.dtype)}`);
    if (!t.shape.every(isNonNegInt)) throw new TypeError(`tensor ${t.name}: shape must be non-negative integers`);
    const bytes = numel(t.shape) * DTYPE_SIZES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - ((8 + jsonBytes) % 8)) % 8);
  const headerBuf = Buffer.from(json, 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(headerBuf.length));
  return Buffer.concat([lenBuf, headerBuf]);
}

/**
 * Writes a safetensors file with tensors in the given order, atomically (models/common/files.ts:
 * a crash never leaves a torn file). F32 data is written as is; F16 and BF16 are rounded from it.
 */
export function writeSafetensors(file: string, tensors: (SafetensorsTensorInput | SafetensorsIntTensorInput)[], metadata?: Record<string, string>, opts?: AtomicWriteOptions): void {
  writeFileAtomic(file, safetensorsContent(tensors, metadata), opts);
}

/**
 * The bytes of a safetensors file, as a writer for an open file (for writeFileAtomic or
 * writeFilesTogether when a safetensors file is committed together with another file).
 */
export function safetensorsContent(tensors: (SafetensorsTensorInput | SafetensorsIntTensorInput)[], metadata?: Record<string, string>): (fd: number) => void {
  for (const t of tensors) {
    const n = numel(t.shape);
    if (t.data.length !== n) throw new TypeError(`tensor ${t.name}: ${t.data.length} values for shape [${t.shape.join(', ')}]`);
  }
  const header = encodeSafetensorsHeader(tensors, metadata);
  return (fd) => {
    assertLittleEndianHost('(safetensors writer)');
    writeAllSync(fd, header);
    for (const t of tensors) {
      const view = t.dtype === 'F32' || t.dtype === 'I32' ? t.data : t.dtype === 'F16' ? f32ArrayToF16(t.data) : f32ArrayToBf16(t.data);
      writeAllSync(fd, new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    }
  };
}

/**
 * Like writeSafetensors, but each tensor's bytes (already in its dtype, little-endian) are
 * streamed from a file, so tensors larger than memory can be assembled.
 */
export function writeSafetensorsFromFiles(
  file: string,
  tensors: { name: string; dtype: WritableDtype; shape: number[]; bytesFile: string }[],
  metadata?: Record<string, string>,
  opts?: AtomicWriteOptions,
): void {
  writeSafetensorsFromRanges(
    file,
    tensors.map((t) => ({ ...t, sources: [{ file: t.bytesFile, offset: 0, length: fs.statSync(t.bytesFile).size }] })),
    metadata,
    opts,
  );
}

/** A run of bytes in a file: `length` bytes from `offset`. */
export interface ByteRange {
  file: string;
  offset: number;
  length: number;
}

/**
 * Like writeSafetensorsFromFiles, but each tensor's bytes are the concatenation of byte ranges of
 * other files, in order (the parts of a sharded cache, each a range inside another safetensors
 * file), streamed so that tensors larger than memory can be assembled.
 */
export function writeSafetensorsFromRanges(
  file: string,
  tensors: { name: string; dtype: WritableDtype; shape: number[]; sources: ByteRange[] }[],
  metadata?: Record<string, string>,
  opts?: AtomicWriteOptions,
): void {
  for (const t of tensors) {
    const want = numel(t.shape) * DTYPE_SIZES[t.dtype];
    const have = t.sources.reduce((a, r) => a + r.length, 0);
    if (have !== want) throw new Error(`tensor ${t.name}: ${t.sources.map((r) => r.file).join(', ')} hold ${have} bytes, shape needs ${want}`);
  }
  const header = encodeSafetensorsHeader(tensors, metadata);
  assertLittleEndianHost(file);
  writeFileAtomic(file, (fd) => {
    writeAllSync(fd, header);
    const buf = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
    for (const t of tensors) {
      for (const r of t.sources) {
        const src = fs.openSync(r.file, 'r');
        try {
          for (let done = 0; done < r.length; ) {
            const n = fs.readSync(src, buf, 0, Math.min(buf.length, r.length - done), r.offset + done);
            if (n === 0) throw new Error(`${r.file}: ended ${r.length - done} bytes before the end of tensor ${t.name}'s bytes`);
            writeAllSync(fd, buf.subarray(0, n));
            done += n;
          }
        } finally {
          fs.closeSync(src);
        }
      }
    }
  }, opts);
}

// ---------------------------------------------------------------------------------------------
// Half-precision conversions. fp32→fp16/bf16 round to nearest, ties to even, like numpy and torch.

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** IEEE binary16 bits → number. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** number → IEEE binary16 bits (rounded to nearest even; overflow → ±Inf; NaN stays NaN). */
export function f32ToF16(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Result is subnormal (or zero): value = mant·2^(e-14) in units of 2^-24.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, which is exactly the right rounding (up to Inf).
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** bfloat16 bits → number. */
export function bf16ToF32(h: number): number {
  scratchU32[0] = (h & 0xffff) << 16;
  return scratchF32[0];
}

/** number → bfloat16 bits (rounded to nearest even; NaN stays NaN). */
export function f32ToBf16(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Float32Array | undefined;

export function f16ArrayToF32(src: Uint16Array): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  const table = f16Table;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

export function f32ArrayToF16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16(src[i]);
  return out;
}

export function bf16ArrayToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

export function f32ArrayToBf16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToBf16(src[i]);
  return out;
}
