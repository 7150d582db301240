/**
 * Control-vector interop. A GGUF control vector laid out byte by byte here from the GGUF
 * specification (ggml docs/gguf.md) the way llama.cpp's cvector-generator and repeng write one
 * (general.architecture, controlvector.model_hint, controlvector.layer_count; 1-D F32 tensors
 * direction.<l>; 32-byte alignment) imports with direction.<l> at blocks.<l>.hook_resid_post;
 * LayerLab's export reads back bit for bit; .npy files built by hand from NumPy's format read.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readGguf } from '../../models/gguf';
import { readNpy } from '../../models/npy';
import { controlLayerOf, readControlVectorGguf, writeControlVectorGguf } from '../../runtime/steering/controlVector';
import { loadVectorSet } from '../../runtime/steering/vectors';
import { tmpDir } from '../helpers/tmp';

const dir = tmpDir('layerlab-cvec-');

/** gguf.md: string = u64 length + UTF-8 bytes. */
function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([n, b]);
}
const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const i32 = (v: number) => { const b = Buffer.alloc(4); b.writeInt32LE(v); return b; };
const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };

/**
 * A control vector as the spec lays it out: magic, version 3, tensor count, metadata count;
 * metadata (type 8 = string, 5 = int32, 9 = array); tensor infos (name, n_dims, dims, type 0 =
 * F32, offset); zero padding to the alignment; the data, each tensor at its aligned offset.
 */
function referenceControlVector(tensors: { layer: number; values: number[] }[]): Buffer {
  const kv = Buffer.concat([
    str('general.architecture'), u32(8), str('controlvector'),
    str('controlvector.model_hint'), u32(8), str('llama'),
    str('controlvector.layer_count'), u32(5), i32(tensors.length),
    // Metadata a reader must step over: an array of strings.
    str('general.tags'), u32(9), u32(8), u64(2), str('steering'), str('happy'),
  ]);
  const infos: Buffer[] = [];
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(offset);
    infos.push(str(`direction.${t.layer}`), u32(1), u64(t.values.length), u32(0), u64(offset));
    offset += Math.ceil((t.values.length * 4) / 32) * 32;
  }
  const header = Buffer.concat([Buffer.from('GGUF', 'latin1'), u32(3), u64(tensors.length), u64(4), kv, ...infos]);
  const dataStart = Math.ceil(header.length / 32) * 32;
  const out = Buffer.alloc(dataStart + offset);
  header.copy(out);
  tensors.forEach((t, i) => t.values.forEach((v, j) => out.writeFloatLE(v, dataStart + offsets[i]! + 4 * j)));
  return out;
}

describe('GGUF control vectors', () => {
  test('a file in the reference layout imports with direction.<l> at blocks.<l>.hook_resid_post', async () => {
    const file = path.join(dir, 'ref.gguf');
    const a = [0.5, -1.25, 2, 3.75, -0.125];
    const b = [1, 2, 3, 4, 5];
    fs.writeFileSync(file, referenceControlVector([{ layer: 1, values: a }, { layer: 3, values: b }]));
    const cv = readControlVectorGguf(file);
    assert.equal(cv.modelHint, 'llama');
    assert.equal(cv.layerCount, 2);
    assert.deepEqual(cv.warnings, []);
    assert.deepEqual([...cv.vectors.keys()], ['blocks.1.hook_resid_post', 'blocks.3.hook_resid_post']);
    assert.deepEqual([...cv.vectors.get('blocks.1.hook_resid_post')!], a);
    assert.deepEqual([...cv.vectors.get('blocks.3.hook_resid_post')!], b);
    // As steering vectors: the hook has its layer's vector, a layer the file lacks is named.
    const set = await loadVectorSet({ file }, { nBlocks: 4, dModel: 5, hooks: [] });
    assert.deepEqual([...set.at('blocks.3.hook_resid_post').vector], b);
    assert.throws(() => set.at('blocks.2.hook_resid_post'), /no vector for blocks\.2\.hook_resid_post; it has blocks\.1\.hook_resid_post, blocks\.3\.hook_resid_post/);
    await assert.rejects(loadVectorSet({ file }, { nBlocks: 4, dModel: 6, hooks: [] }).then((s) => s.at('blocks.1.hook_resid_post')), /has 5 values; this model's d_model is 6/);
  });

  test('export → import round-trips bit for bit (NaN payloads aside, every float32 pattern), with repeng\u2019s metadata', () => {
    const file = path.join(dir, 'out.gguf');
    const bits = new Uint32Array([0x3f800000, 0x80000000, 0x00000001, 0x7f7fffff, 0xc2f6e979, 0x3eaaaaab, 0x00800000]);
    const v1 = new Float32Array(bits.buffer.slice(0));
    const v2 = Float32Array.from(v1, (x, i) => x * (i % 2 ? -3 : 0.1));
    const written = writeControlVectorGguf(file, [{ hook: 'blocks.4.hook_resid_post', vector: v2 }, { hook: 'blocks.2.hook_resid_post', vector: v1 }], 'qwen2');
    assert.deepEqual(written, [{ hook: 'blocks.2.hook_resid_post', layer: 2 }, { hook: 'blocks.4.hook_resid_post', layer: 4 }]);
    const g = readGguf(file);
    assert.equal(g.version, 3);
    assert.equal(g.metadata.get('general.architecture'), 'controlvector');
    assert.equal(g.metadata.get('controlvector.model_hint'), 'qwen2');
    assert.equal(g.metadata.get('controlvector.layer_count'), 2);
    assert.deepEqual(g.tensors.map((t) => [t.name, t.dims, t.type]), [['direction.2', [7], 0], ['direction.4', [7], 0]]);
    // Every tensor offset is aligned, as the spec requires.
    for (const t of g.tensors) assert.equal(t.offset % 32, 0);
    const back = readControlVectorGguf(file).vectors;
    assert.deepEqual(new Uint32Array(back.get('blocks.2.hook_resid_post')!.buffer), new Uint32Array(v1.buffer));
    assert.deepEqual(new Uint32Array(back.get('blocks.4.hook_resid_post')!.buffer), new Uint32Array(v2.buffer));
  });

  test('only block outputs of layer ≥ 1 fit llama.cpp\u2019s convention; anything else is refused by name', () => {
    assert.equal(controlLayerOf('blocks.7.hook_resid_post'), 7);
    assert.throws(() => controlLayerOf('blocks.0.hook_resid_post'), /refuses direction\.0/);
    assert.throws(() => controlLayerOf('blocks.3.hook_resid_pre'), /block outputs only/);
  });

  test('not GGUF, truncated, or a tensor that is not a direction: refused naming the file', () => {
    const bad = path.join(dir, 'bad.gguf');
    fs.writeFileSync(bad, 'GGML....');
    assert.throws(() => readGguf(bad), /not a GGUF file/);
    const full = referenceControlVector([{ layer: 2, values: [1, 2] }]);
    fs.writeFileSync(bad, full.subarray(0, 60));
    assert.throws(() => readGguf(bad), /truncated/);
    const other = Buffer.concat([Buffer.from('GGUF', 'latin1'), u32(3), u64(1), u64(0), str('token_embd.weight'), u32(1), u64(2), u32(0), u64(0)]);
    fs.writeFileSync(bad, Buffer.concat([other, Buffer.alloc(64)]));
    assert.throws(() => readControlVectorGguf(bad), /token_embd\.weight is not a control-vector direction/);
  });
});

/** NumPy's .npy: magic, version, header length, dict literal padded to 64 bytes with spaces and \n. */
function npy(descr: string, shape: number[], data: Buffer, version = 1): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  const header = dict + ' '.repeat(total - pre - dict.length - 1) + '\n';
  const len = version === 1 ? Buffer.alloc(2) : Buffer.alloc(4);
  if (version === 1) len.writeUInt16LE(header.length);
  else len.writeUInt32LE(header.length);
  return Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY', 'latin1'), Buffer.from([version, 0]), len, Buffer.from(header, 'latin1'), data]);
}

describe('.npy vectors', () => {
  test('float32 rows and float64 vectors read as NumPy stores them', async () => {
    const f32 = Buffer.alloc(24);
    [1, 2, 3, 4, 5, 6].forEach((v, i) => f32.writeFloatLE(v, 4 * i));
    const a = path.join(dir, 'rows.npy');
    fs.writeFileSync(a, npy('<f4', [2, 3], f32));
    const r = readNpy(a);
    assert.deepEqual(r.shape, [2, 3]);
    assert.deepEqual([...r.data], [1, 2, 3, 4, 5, 6]);
    const set = await loadVectorSet({ file: a, row: 1 }, { nBlocks: 5, dModel: 3, hooks: [] });
    assert.deepEqual([...set.at('blocks.4.hook_resid_pre').vector], [4, 5, 6]);
    await assert.rejects(loadVectorSet({ file: a }, { nBlocks: 5, dModel: 3, hooks: [] }), /has 2 rows of 3: choose one with --steer_row/);
    // One row per block: row l for block l.
    const perBlock = await loadVectorSet({ file: a }, { nBlocks: 2, dModel: 3, hooks: [] });
    assert.deepEqual([...perBlock.at('blocks.1.hook_resid_post').vector], [4, 5, 6]);

    const f64 = Buffer.alloc(24);
    [0.5, -2, 1e-3].forEach((v, i) => f64.writeDoubleLE(v, 8 * i));
    const b = path.join(dir, 'v.npy');
    fs.writeFileSync(b, npy('<f8', [3], f64, 2));
    assert.deepEqual([...readNpy(b).data], [0.5, -2, Math.fround(1e-3)]);
    fs.writeFileSync(b, npy('>f4', [3], Buffer.alloc(12)));
    assert.throws(() => readNpy(b), /dtype >f4 is not supported/);
  });
});
