/**
 * NumPy's .npy format (numpy/lib/format.py, versions 1.0–3.0): the magic "\x93NUMPY", a version,
 * a header length (u16 in 1.0, u32 later) and a Python dict literal with `descr`, `fortran_order`
 * and `shape`, then the array's bytes. Read for steering vectors saved from Python
 * (`np.save("v.npy", v)`); little-endian floats only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { f16ArrayToF32 } from './safetensors';

export interface NpyArray {
  shape: number[];
  /** Values as fp32, row-major. */
  data: Float32Array;
  /** The stored dtype, e.g. `<f4`. */
  descr: string;
}

export class NpyError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'NpyError';
  }
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

export function readNpy(file: string): NpyArray {
  const abs = path.resolve(file);
  const fail = (m: string): never => {
    throw new NpyError(abs, m);
  };
  let b: Buffer;
  try {
    b = fs.readFileSync(abs);
  } catch (e) {
    return fail(`cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) fail('not a .npy file (no \\x93NUMPY magic)');
  const major = b[6]!;
  if (major < 1 || major > 3) fail(`.npy version ${major}.${b[7]} is not supported`);
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  if (headerStart + headerLen > b.length) fail('truncated header');
  const header = b.toString(major === 3 ? 'utf8' : 'latin1', headerStart, headerStart + headerLen);
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1] ?? fail(`header has no descr: ${header.trim()}`);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1] ?? fail(`header has no fortran_order: ${header.trim()}`);
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1] ?? fail(`header has no shape: ${header.trim()}`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => (/^\d+$/.test(s) ? Number(s) : fail(`shape (${shapeText}) is not a tuple of sizes`)));
  if (fortran === 'True' && shape.filter((n) => n > 1).length > 1) fail('Fortran-ordered arrays are not supported: save with np.ascontiguousarray');
  const n = shape.reduce((a, c) => a * c, 1);
  const dataStart = headerStart + headerLen;
  const widths: Record<string, number> = { '<f4': 4, '<f8': 8, '<f2': 2, '|f4': 4 };
  const width = widths[descr] ?? fail(`dtype ${descr} is not supported (little-endian float16/32/64 are: np.save(v.astype("<f4")))`);
  if (dataStart + n * width > b.length) fail(`holds ${b.length - dataStart} data bytes, shape (${shapeText}) needs ${n * width}`);
  const raw = new Uint8Array(n * width);
  b.copy(raw, 0, dataStart, dataStart + n * width);
  let data: Float32Array;
  if (width === 4) data = new Float32Array(raw.buffer);
  else if (width === 8) data = Float32Array.from(new Float64Array(raw.buffer));
  else data = f16ArrayToF32(new Uint16Array(raw.buffer));
  return { shape, data, descr };
}
