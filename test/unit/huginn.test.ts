/**
 * The huginn_raven Hugging Face reader (fp32/fp16/bf16, sharded, the original's extra tensors),
 * its refusals, the tokenizer with huginn's special tokens, chat format and stop markers, the
 * options and unrolled block arithmetic, and the seeded initial state.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from '../../models/checkpoint';
import { writeDemoModel } from '../../models/demo';
import {
  huginnCheckpointReader,
  isHuginnFolder,
  probeHuginnCheckpoint,
  readHuginnCheckpoint,
  type HuginnCheckpoint,
} from '../../models/huginn/checkpoint';
import { TINY_HUGINN_SPECIAL_IDS, TINY_HUGINN_VOCAB_SIZE, writeTinyHuginn, type TinyHuginn } from '../../models/huginn/demo';
import { huginnBlockAt, huginnBlockCount, huginnBlocks, huginnCoreIndex, resolveHuginnOptions } from '../../models/huginn/options';
import { huginnStateTable, truncatedNormalRow } from '../../models/huginn/stateInit';
import { HUGINN_STOP_STRINGS, loadHuginnTokenizer } from '../../models/huginn/tokenizer';
import { loadCheckpoint } from '../../models/load';
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16, writeSafetensors } from '../../models/safetensors';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir('layerlab-huginn-');
let counter = 0;
const fresh = (tag: string) => path.join(root, `${counter++}-${tag}`);

function assertSameWeights(ckpt: HuginnCheckpoint, model: TinyHuginn, round: (x: Float32Array) => Float32Array = (x) => x) {
  const read = huginnCheckpointReader(ckpt);
  for (const t of model.tensors) {
    if (t.name === 'freqs_cis') continue;
    if (t.name === 'lm_head.weight' && ckpt.config.tiedEmbeddings) continue;
    const got = read(t.name);
    assert.deepEqual(got.dims, t.shape, t.name);
    assert.deepEqual(got.data, round(t.data), t.name);
  }
}

function throwsCheckpointError(fn: () => unknown, file: string, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.match(e.message, pattern);
    return true;
  });
}

function editConfig(dir: string, edit: (c: Record<string, unknown>) => void) {
  const p = path.join(dir, 'config.json');
  const c = JSON.parse(fs.readFileSync(p, 'utf8'));
  edit(c);
  fs.writeFileSync(p, JSON.stringify(c));
}

describe('reading huginn_raven folders', () => {
  test('the tiny fp32 folder reads back with its config and exactly the weights written', () => {
    const m = writeTinyHuginn(fresh('f32'));
    const ckpt = readHuginnCheckpoint(m.dir);
    assert.deepEqual(ckpt.config, {
      family: 'huginn',
      modelType: 'huginn_raven',
      dModel: 64,
      nHeads: 4,
      nKvHeads: 4,
      headDim: 16,
      dFF: 96,
      vocabSize: TINY_HUGINN_VOCAB_SIZE,
      maxSeqLen: 1024,
      ropeTheta: 50000,
      ropeStyle: 'adjacent',
      rmsNormEps: 1e-6,
      nPrelude: 2,
      nCore: 4,
      nCoda: 2,
      meanRecurrence: 32,
      qkBias: true,
      adapterBias: false,
      tiedEmbeddings: true,
      embedScale: 8,
      stateStd: Math.sqrt(2 / (5 * 64)),
      bosTokenId: 256,
      eosTokenIds: [257],
      padTokenId: 261,
    });
    assert.equal(ckpt.weights.core.length, 4);
    assert.deepEqual(ckpt.weights.core[3].qkBias?.dims, [2, 1, 4, 16]);
    assert.equal(ckpt.weights.lmHead, undefined);
    assertSameWeights(ckpt, m);
    // The content hash is sha256(config.json ‖ model.safetensors), as for Llama folders.
    const h = createHash('sha256');
    h.update(fs.readFileSync(path.join(m.dir, 'config.json')));
    h.update(fs.readFileSync(path.join(m.dir, 'model.safetensors')));
    assert.equal(ckpt.contentHash, h.digest('hex'));
    assert.equal(probeHuginnCheckpoint(m.dir).contentHash, ckpt.contentHash);
    assert.ok(isHuginnFolder(m.dir));
  });

  test('bf16 (as huginn-0125 ships) and fp16 folders read back within their rounding', () => {
    const bf = writeTinyHuginn(fresh('bf16'), { dtype: 'BF16', seed: 3 });
    assertSameWeights(readHuginnCheckpoint(bf.dir), bf, (x) => bf16ArrayToF32(f32ArrayToBf16(x)));
    const f16 = writeTinyHuginn(fresh('f16'), { dtype: 'F16', seed: 3 });
    assertSameWeights(readHuginnCheckpoint(f16.dir), f16, (x) => f16ArrayToF32(f32ArrayToF16(x)));
  });

  test('untied head and adapter bias are read; without qk_bias there is no bias tensor', () => {
    const m = writeTinyHuginn(fresh('untied'), { tied: false, adapterBias: true, qkBias: false, nPrelude: 1, nCoda: 0 });
    const ckpt = readHuginnCheckpoint(m.dir);
    assert.equal(ckpt.config.tiedEmbeddings, false);
    assert.deepEqual(ckpt.weights.lmHead?.dims, [TINY_HUGINN_VOCAB_SIZE, 64]);
    assert.deepEqual(ckpt.weights.adapterBias?.dims, [64]);
    assert.equal(ckpt.weights.prelude[0].qkBias, undefined);
    assert.equal(ckpt.weights.coda.length, 0);
    assertSameWeights(ckpt, m);
  });

  test('a stored lm_head with tie_embeddings true is the redundant tied copy: the head is wte', () => {
    const m = writeTinyHuginn(fresh('tied-copy'), { tied: false });
    editConfig(m.dir, (c) => (c.tie_embeddings = true));
    const ckpt = readHuginnCheckpoint(m.dir);
    assert.equal(ckpt.config.tiedEmbeddings, true);
    assert.equal(ckpt.weights.lmHead, undefined);
  });

  test('sharded folders (model.safetensors.index.json) read the same weights', () => {
    const m = writeTinyHuginn(fresh('single'), { seed: 9 });
    const dir = fresh('sharded');
    fs.mkdirSync(dir);
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(m.dir, f), path.join(dir, f));
    const half = Math.floor(m.tensors.length / 2);
    const shards = [m.tensors.slice(0, half), m.tensors.slice(half)];
    const weightMap: Record<string, string> = {};
    shards.forEach((ts, i) => {
      const name = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(path.join(dir, name), ts.map((t) => ({ ...t, dtype: 'F32' as const })));
      for (const t of ts) weightMap[t.name] = name;
    });
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    assertSameWeights(readHuginnCheckpoint(dir), m);
  });

  test('unknown, missing and misshapen tensors are refused, naming the file and the tensor', () => {
    const m = writeTinyHuginn(fresh('bad-tensors'), { seed: 4 });
    const file = path.join(m.dir, 'model.safetensors');
    const write = (ts: TinyHuginn['tensors']) => writeSafetensors(file, ts.map((t) => ({ ...t, dtype: 'F32' as const })));
    write([...m.tensors, { name: 'transformer.core_block.0.attn.extra', shape: [2], data: new Float32Array(2) }]);
    throwsCheckpointError(() => readHuginnCheckpoint(m.dir), file, /unexpected tensor transformer\.core_block\.0\.attn\.extra: the huginn_raven reader does not use it/);
    write(m.tensors.filter((t) => t.name !== 'transformer.core_block.3.mlp.fc.weight'));
    throwsCheckpointError(() => readHuginnCheckpoint(m.dir), file, /missing tensor transformer\.core_block\.3\.mlp\.fc\.weight/);
    write(m.tensors.map((t) => (t.name === 'transformer.adapter.weight' ? { ...t, shape: [128, 64] } : t)));
    throwsCheckpointError(() => probeHuginnCheckpoint(m.dir), file, /tensor transformer\.adapter\.weight has shape \[128, 64\], but config\.json implies \[64, 128\]/);
  });

  test('config features the builder does not model are refused, not ignored', () => {
    const cases: [string, (c: Record<string, unknown>) => void, RegExp][] = [
      ['noise', (c) => (c.test_time_noise = 0.1), /test_time_noise 0\.1 is not supported/],
      ['gqa', (c) => (c.num_key_value_heads = 2), /num_key_value_heads 2 differs from n_heads 4/],
      ['injection', (c) => (c.injection_type = 'add'), /injection_type 'add' is not supported/],
      ['block', (c) => (c.block_class_name = 'TransformerPreNormBlock'), /block_class_name 'TransformerPreNormBlock' is not supported \(huginn_raven blocks are SandwichBlock\)/],
      ['nonlin', (c) => (c.nonlin_name = 'GELU'), /nonlin_name 'GELU' is not supported/],
      ['heads', (c) => (c.n_heads = 5), /n_embd 64 is not divisible by n_heads 5/],
      ['head_dim', (c) => (c.head_dim = 8), /head_dim 8 disagrees with n_embd \/ n_heads = 16/],
      ['missing', (c) => delete c.n_layers_in_recurrent_block, /field 'n_layers_in_recurrent_block' is missing/],
      ['type', (c) => (c.intermediate_size = '96'), /field 'intermediate_size': Expected number/],
    ];
    for (const [tag, edit, pattern] of cases) {
      const m = writeTinyHuginn(fresh(`cfg-${tag}`), { seed: 5, maxSeqLen: 16 });
      editConfig(m.dir, edit);
      throwsCheckpointError(() => probeHuginnCheckpoint(m.dir), path.join(m.dir, 'config.json'), pattern);
    }
  });

  test('loadCheckpoint routes huginn_raven folders to the huginn reader and tokenizer; model options are refused for other models', () => {
    const m = writeTinyHuginn(fresh('load'), { seed: 6, maxSeqLen: 64 });
    const loaded = loadCheckpoint(m.dir, undefined, { numSteps: 5 });
    assert.equal(loaded.format, 'huggingface');
    assert.equal(loaded.config.family, 'huginn');
    assert.equal(loaded.recipe.family, 'huginn');
    assert.equal(loaded.recipe.blocks.length, 2 + 4 * 5 + 2);
    assert.deepEqual(loaded.recipe.options, { num_steps: 5, state_init: 'zeros' });
    assert.deepEqual(loaded.tokenizer.stopStrings, ['<|end_text|>', '<|end_turn|>']);
    throwsCheckpointError(() => loadCheckpoint(m.dir, undefined, { numSteps: 9999 }), m.dir, /--num_steps must be an integer from 0 to 512, got 9999/);

    const llama = writeDemoModel(fresh('llama')).dir;
    throwsCheckpointError(
      () => loadCheckpoint(llama, undefined, { numSteps: 4, stateInit: 'random' }),
      llama,
      /--num_steps, --state_init apply only to recurrent-depth models \(model_type huginn_raven\)/,
    );
    assert.equal(loadCheckpoint(llama).config.family, 'llama');
    assert.equal(isHuginnFolder(llama), false);
  });
});

describe('huginn tokenizer', () => {
  const m = writeTinyHuginn(fresh('tok'), { maxSeqLen: 16 });
  const tok = loadHuginnTokenizer(m.dir, { modelVocabSize: TINY_HUGINN_VOCAB_SIZE });

  test('special tokens are single ids; bos is <|begin_text|>; the stop markers stop generation as EOS ids', () => {
    assert.equal(tok.bosId, TINY_HUGINN_SPECIAL_IDS.beginText);
    for (const [name, id] of Object.entries(TINY_HUGINN_SPECIAL_IDS)) {
      const s = `<|${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}|>`;
      assert.deepEqual(tok.encode(s), [id], s);
    }
    assert.deepEqual(tok.stopStrings, [...HUGINN_STOP_STRINGS]);
    assert.deepEqual([...tok.eosIds].sort(), [TINY_HUGINN_SPECIAL_IDS.endText, TINY_HUGINN_SPECIAL_IDS.endTurn]);
    assert.deepEqual(tok.encode('Hi', { addBos: true }), [256, 72, 105]);
    assert.equal(tok.decode([256, 72, 105, 260]), 'Hi');
  });

  test("the chat template writes huginn's turn format with the Huginn generation prompt", () => {
    const text = tok.applyChatTemplate(
      [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: '  Q: 2+2?\nA: ' },
      ],
      { addGenerationPrompt: true },
    );
    assert.equal(
      text,
      '<|begin_text|><|begin_header|>system<|end_header|>\n\nYou are a helpful assistant.<|end_turn|>' +
        '<|begin_header|>user<|end_header|>\n\nQ: 2+2?\nA:<|end_turn|>' +
        '<|begin_header|>Huginn<|end_header|>\n\n',
    );
    const ids = tok.encode(text);
    assert.deepEqual(ids.slice(0, 2), [256, 258]);
    assert.deepEqual(ids.slice(-10), [258, ...[...'Huginn'].map((c) => c.charCodeAt(0)), 259, 10, 10]);
    assert.equal(ids.filter((i) => i === 260).length, 2, 'two end_turn markers');
  });
});

describe('options, block arithmetic and the seeded initial state', () => {
  test('defaults: num_steps = mean_recurrence, zeros state', () => {
    assert.deepEqual(resolveHuginnOptions({ meanRecurrence: 32 }), { numSteps: 32, stateInit: 'zeros', stateSeed: 0 });
    assert.deepEqual(resolveHuginnOptions({ meanRecurrence: 32 }, { numSteps: 0, stateInit: 'random', stateSeed: 7 }), { numSteps: 0, stateInit: 'random', stateSeed: 7 });
  });

  test('index ↔ (part, block, recurrence) round-trips for every block at num_steps 32', () => {
    const l = { nPrelude: 2, nCore: 4, nCoda: 2, numSteps: 32 };
    assert.equal(huginnBlockCount(l), 132);
    assert.equal(huginnCoreIndex(l, 16, 0), 66);
    assert.deepEqual(huginnBlockAt(l, 66), { part: 'core', block: 0, recurrence: 16 });
    for (const b of huginnBlocks(l)) {
      const at = huginnBlockAt(l, b.index);
      if (at.part === 'core') assert.equal(huginnCoreIndex(l, at.recurrence!, at.block), b.index);
    }
    assert.throws(() => huginnBlockAt(l, 132), /block 132 is out of range 0\.\.131/);
    assert.throws(() => huginnCoreIndex(l, 32, 0), /no core block 0 in recurrence 32/);
    assert.deepEqual(huginnBlocks({ ...l, numSteps: 0 }).map((b) => b.label), ['prelude 0', 'prelude 1', 'coda 0', 'coda 1']);
  });

  test('state rows depend only on (seed, position), stay within ±3σ, and look standard normal', () => {
    const d = 2000;
    const table = huginnStateTable(11, 5, d, 1);
    assert.deepEqual(table.subarray(3 * d, 4 * d), truncatedNormalRow(11, 3, d));
    assert.deepEqual(huginnStateTable(11, 9, d, 1).subarray(0, 5 * d), table, 'a longer table starts with the same rows');
    assert.notDeepEqual(truncatedNormalRow(12, 3, d), truncatedNormalRow(11, 3, d));
    assert.notDeepEqual(truncatedNormalRow(11, 4, d), truncatedNormalRow(11, 3, d));
    let sum = 0;
    let sq = 0;
    for (const v of table) {
      assert.ok(Math.abs(v) <= 3);
      sum += v;
      sq += v * v;
    }
    const n = table.length;
    assert.ok(Math.abs(sum / n) < 0.03, `mean ${sum / n}`);
    // A standard normal truncated at ±3σ has variance 0.9733.
    assert.ok(Math.abs(sq / n - 0.9733) < 0.03, `variance ${sq / n}`);
    assert.deepEqual(huginnStateTable(11, 1, 4, 0.5), truncatedNormalRow(11, 0, 4).map((v) => v * 0.5));
  });
});
