import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from '../../models/checkpoint';
import {
  bf16ArrayToF32,
  bf16ToF32,
  f16ArrayToF32,
  f16ToF32,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32ToBf16,
  f32ToF16,
  openSafetensors,
  writeSafetensors,
} from '../../models/safetensors';
import { tmpDir } from '../helpers/tmp';

const dir = tmpDir('layerlab-st-');
let counter = 0;
const fresh = (name = 'x.safetensors') => path.join(dir, `${counter++}-${name}`);

function ramp(n: number, scale = 0.37): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(i * 1.7) * scale * (i + 1);
  return a;
}

/** An independent reading of the layout, so a bug shared by writer and reader cannot hide. */
function parseByHand(file: string) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const text = buf.subarray(8, 8 + n).toString('utf8');
  return { n, text, header: JSON.parse(text) as Record<string, any>, data: buf.subarray(8 + n) };
}

/** A file with an arbitrary (possibly lying) header and data area. */
function craft(header: unknown, data: Uint8Array | number = 0, lengthOverride?: bigint): string {
  const file = fresh('bad.safetensors');
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  const body = typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data);
  fs.writeFileSync(file, Buffer.concat([len, json, body]));
  return file;
}

function throwsNaming(file: string, pattern: RegExp) {
  assert.throws(
    () => openSafetensors(file),
    (e: unknown) => {
      assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${String(e)}`);
      assert.equal(e.file, path.resolve(file));
      assert.ok(e.message.includes(path.resolve(file)), e.message);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

test('F32 round trip is exact and metadata survives', () => {
  const file = fresh();
  const a = ramp(6);
  const b = ramp(5, 1e-3);
  const scalar = Float32Array.of(-2.5);
  writeSafetensors(
    file,
    [
      { name: 'a', dtype: 'F32', shape: [2, 3], data: a },
      { name: 'layer.b', dtype: 'F32', shape: [5], data: b },
      { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
      { name: 's', dtype: 'F32', shape: [], data: scalar },
    ],
    { format: 'pt', note: 'héllo' },
  );
  const st = openSafetensors(file);
  assert.deepEqual(st.names, ['a', 'layer.b', 'empty', 's']);
  assert.deepEqual(st.metadata, { format: 'pt', note: 'héllo' });
  assert.deepEqual(st.read('a'), { dims: [2, 3], data: a });
  assert.deepEqual(st.read('layer.b'), { dims: [5], data: b });
  assert.deepEqual(st.read('empty'), { dims: [0, 4], data: new Float32Array(0) });
  assert.deepEqual(st.read('s'), { dims: [], data: scalar });
  assert.deepEqual(new Float32Array(st.readRaw('a').buffer.slice(0)), a);
  assert.throws(() => st.read('nope'), /has no tensor named nope/);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'no temporary file left behind');
});

test('F16 round trip equals fp16 rounding of the input', () => {
  const file = fresh();
  const x = Float32Array.of(0, -0, 1, -1, 0.1, 1 / 3, 65504, 70000, 1e-8, 2 ** -24, 6.1e-5, -123.456, Infinity, NaN);
  writeSafetensors(file, [{ name: 'h', dtype: 'F16', shape: [x.length], data: x }]);
  const st = openSafetensors(file);
  assert.equal(st.header.h.dtype, 'F16');
  assert.deepEqual(st.header.h.dataOffsets, [0, 2 * x.length]);
  const back = st.read('h').data;
  const raw = new Uint16Array(st.readRaw('h').buffer.slice(0));
  assert.deepEqual(raw, f32ArrayToF16(x));
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i])) assert.ok(Number.isNaN(back[i]));
    else if (Math.abs(x[i]) > 65504) assert.equal(back[i], Math.sign(x[i]) * Infinity);
    else assert.ok(Math.abs(back[i] - x[i]) <= Math.abs(x[i]) * 2 ** -11 + 2 ** -25, `${x[i]} -> ${back[i]}`);
  }
  assert.ok(Object.is(back[1], -0));
});

test('half-precision helpers round to nearest even', () => {
  assert.equal(f32ToF16(1), 0x3c00);
  assert.equal(f32ToF16(-2), 0xc000);
  assert.equal(f32ToF16(65504), 0x7bff);
  assert.equal(f32ToF16(65520), 0x7c00); // halfway to the next step rounds up to Inf
  assert.equal(f32ToF16(2 ** -24), 0x0001);
  assert.equal(f32ToF16(2 ** -25), 0x0000); // tie between 0 and the smallest subnormal → even (0)
  assert.equal(f32ToF16(3 * 2 ** -25), 0x0002); // tie between 1 and 2 subnormal units → even (2)
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie → even
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02); // tie → even, upward
  assert.equal(f32ToF16(2 ** -14 - 2 ** -25), 0x0400); // rounds up from subnormal to the smallest normal
  assert.ok(Number.isNaN(f16ToF32(f32ToF16(NaN))));
  assert.equal(f16ToF32(0x3555), 0.333251953125);
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0xfc00), -Infinity);
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaN payloads are not preserved bit-exactly
    assert.equal(f32ToF16(f16ToF32(h)), h, `fp16 bits ${h.toString(16)}`);
  }
  const hs = Uint16Array.from({ length: 0x10000 }, (_, i) => i);
  const viaArray = f16ArrayToF32(hs);
  for (let h = 0; h < 0x10000; h += 97) assert.ok(Object.is(viaArray[h], Math.fround(f16ToF32(h))) || Number.isNaN(viaArray[h]));

  assert.equal(f32ToBf16(1), 0x3f80);
  assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie → even
  assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82); // tie → even, upward
  assert.equal(bf16ToF32(0xc040), -3);
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(NaN))));
  const x = ramp(50);
  const y = bf16ArrayToF32(f32ArrayToBf16(x));
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(y[i] - x[i]) <= Math.abs(x[i]) * 2 ** -8);
});

test('the written header is valid by an independent parser', () => {
  const file = fresh();
  const a = ramp(3);
  const b = ramp(4);
  writeSafetensors(
    file,
    [
      { name: 'first', dtype: 'F32', shape: [3], data: a },
      { name: 'second', dtype: 'F16', shape: [2, 2], data: b },
    ],
    { k: 'v' },
  );
  const { n, text, header, data } = parseByHand(file);
  assert.equal((8 + n) % 8, 0, 'data area is 8-byte aligned');
  assert.match(text, /^\{.*\} *$/s, 'header is JSON padded with spaces only');
  assert.deepEqual(Object.keys(header), ['__metadata__', 'first', 'second']);
  assert.deepEqual(header.__metadata__, { k: 'v' });
  assert.deepEqual(header.first, { dtype: 'F32', shape: [3], data_offsets: [0, 12] });
  assert.deepEqual(header.second, { dtype: 'F16', shape: [2, 2], data_offsets: [12, 20] });
  assert.equal(data.length, 20);
  for (let i = 0; i < 3; i++) assert.equal(data.readFloatLE(4 * i), a[i]);
  for (let i = 0; i < 4; i++) assert.equal(data.readUInt16LE(12 + 2 * i), f32ToF16(b[i]));
});

test('writing replaces an existing file atomically and checks its input', () => {
  const file = fresh();
  writeSafetensors(file, [{ name: 'a', dtype: 'F32', shape: [1], data: Float32Array.of(1) }]);
  writeSafetensors(file, [{ name: 'b', dtype: 'F32', shape: [2], data: Float32Array.of(2, 3) }]);
  assert.deepEqual(openSafetensors(file).names, ['b']);
  assert.throws(() => writeSafetensors(file, [{ name: 'a', dtype: 'F32', shape: [3], data: Float32Array.of(1) }]), /1 values for shape \[3\]/);
  assert.throws(
    () =>
      writeSafetensors(file, [
        { name: 'a', dtype: 'F32', shape: [1], data: Float32Array.of(1) },
        { name: 'a', dtype: 'F32', shape: [1], data: Float32Array.of(1) },
      ]),
    /duplicate tensor name a/,
  );
  assert.deepEqual(openSafetensors(file).names, ['b'], 'a failed write leaves the old file intact');
});

test('BF16, F64 and non-float dtypes', () => {
  const bf = f32ArrayToBf16(Float32Array.of(1, -2, 0.5));
  const f64 = Float64Array.of(0.1, -7);
  const i32 = Int32Array.of(5, -6);
  const data = Buffer.concat([Buffer.from(bf.buffer), Buffer.alloc(2), Buffer.from(f64.buffer), Buffer.from(i32.buffer)]);
  const file = craft(
    {
      b: { dtype: 'BF16', shape: [3], data_offsets: [0, 6] },
      pad: { dtype: 'U8', shape: [2], data_offsets: [6, 8] },
      d: { dtype: 'F64', shape: [2], data_offsets: [8, 24] },
      i: { dtype: 'I32', shape: [2], data_offsets: [24, 32] },
    },
    data,
  );
  const st = openSafetensors(file);
  assert.deepEqual(st.read('b').data, Float32Array.of(1, -2, 0.5));
  assert.deepEqual(st.read('d').data, Float32Array.of(0.1, -7));
  assert.deepEqual(new Int32Array(st.readRaw('i').buffer.slice(0)), i32);
  assert.throws(() => st.read('i'), (e: unknown) => e instanceof CheckpointError && /dtype I32; only F32, F16, BF16, F64/.test(e.message));
});

test('lying or malformed headers give CheckpointErrors naming the file', async (t) => {
  const ok = (extra: Record<string, unknown> = {}) => ({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, ...extra });

  await t.test('file shorter than 8 bytes', () => {
    const file = fresh();
    fs.writeFileSync(file, Buffer.from([1, 2, 3]));
    throwsNaming(file, /3 bytes long, too short/);
  });
  await t.test('header length beyond the file', () => throwsNaming(craft(ok(), 8, 10_000n), /header length 10000 exceeds/));
  await t.test('header length absurd (u64 max)', () => throwsNaming(craft(ok(), 8, 0xffffffffffffffffn), /header length 18446744073709551615 exceeds/));
  await t.test('header length over 100 MB', () => {
    const file = fresh();
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(100_000_001n);
    fs.writeFileSync(file, len);
    fs.truncateSync(file, 8 + 100_000_001 + 8); // sparse: costs no disk
    throwsNaming(file, /over the 100000000-byte limit/);
  });
  await t.test('header not JSON', () => throwsNaming(craft('{"a": {', 0), /not valid UTF-8 JSON/));
  await t.test('header not an object', () => throwsNaming(craft([1, 2], 0), /header must be a JSON object/));
  await t.test('header null', () => throwsNaming(craft('null', 0), /header must be a JSON object/));
  await t.test('entry not an object', () => throwsNaming(craft({ a: 3 }, 0), /tensor a: header entry must be an object/));
  await t.test('unknown dtype', () => throwsNaming(craft({ a: { dtype: 'F12', shape: [2], data_offsets: [0, 8] } }, 8), /unknown dtype "F12"/));
  await t.test('missing dtype', () => throwsNaming(craft({ a: { shape: [2], data_offsets: [0, 8] } }, 8), /unknown dtype undefined/));
  await t.test('negative shape', () => throwsNaming(craft({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8), /shape must be an array of non-negative integers/));
  await t.test('fractional shape', () => throwsNaming(craft({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 6] } }, 6), /shape must be/));
  await t.test('shape not an array', () => throwsNaming(craft({ a: { dtype: 'F32', shape: 2, data_offsets: [0, 8] } }, 8), /shape must be/));
  await t.test('data_offsets not integers', () => throwsNaming(craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, '8'] } }, 8), /data_offsets must be two non-negative integers/));
  await t.test('data_offsets wrong arity', () => throwsNaming(craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4, 8] } }, 8), /data_offsets must be two/));
  await t.test('data_offsets end before begin', () => throwsNaming(craft({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, 8), /end 4 is before begin 8/));
  await t.test('data_offsets beyond the data', () => throwsNaming(craft({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8), /end 16 is beyond the 8-byte data area/));
  await t.test('byte length not matching shape', () => throwsNaming(craft({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /holds 8 bytes but shape \[3\] of F32 needs 12/));
  await t.test('overlapping tensors', () =>
    throwsNaming(craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12), /overlaps tensor a/),
  );
  await t.test('hole between tensors', () =>
    throwsNaming(craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, 12), /bytes 4\.\.8 .* belong to no tensor/),
  );
  await t.test('trailing bytes after the last tensor', () => throwsNaming(craft(ok(), 12), /bytes 8\.\.12 at the end of the data area belong to no tensor/));
  await t.test('metadata value not a string', () => throwsNaming(craft(ok({ __metadata__: { n: 1 } }), 8), /__metadata__\.n must be a string/));
  await t.test('metadata not an object', () => throwsNaming(craft(ok({ __metadata__: 'x' }), 8), /__metadata__ must be an object/));
  await t.test('missing file', () => throwsNaming(path.join(dir, 'absent.safetensors'), /cannot open/));
});

test('tensor bytes are read lazily at their offsets', () => {
  const file = fresh();
  writeSafetensors(file, [
    { name: 'a', dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) },
    { name: 'b', dtype: 'F32', shape: [2], data: Float32Array.of(3, 4) },
  ]);
  const st = openSafetensors(file);
  // Overwrite b's bytes in place (same size): a lazy reader sees the new values.
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from(Float32Array.of(30, 40).buffer), 0, 8, st.dataStart + 8);
  fs.closeSync(fd);
  assert.deepEqual(st.read('b').data, Float32Array.of(30, 40));
  fs.truncateSync(file, st.dataStart + 12);
  assert.throws(() => st.read('a'), /changed size/);
});
