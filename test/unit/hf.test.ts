import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, type LlamaCheckpoint, type Tensor } from '../../models/checkpoint';
import { DEMO_MODEL_DEFAULTS, DEMO_VOCAB_SIZE, generateDemoTensors, writeDemoModel, type DemoModel } from '../../models/demo';
import { readHfCheckpoint } from '../../models/hf/checkpoint';
import { loadHfTokenizer } from '../../models/hf/tokenizer';
import { f16ToF32, f32ToF16, openSafetensors, writeSafetensors, type SafetensorsTensorInput } from '../../models/safetensors';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir('layerlab-hf-');
let counter = 0;
const freshDir = (tag: string) => path.join(root, `${counter++}-${tag}`);

/** The checkpoint tensor a Hugging Face name maps to. */
function byHfName(ckpt: LlamaCheckpoint, name: string): Tensor | undefined {
  const w = ckpt.weights;
  if (name === 'model.embed_tokens.weight') return w.embed;
  if (name === 'model.norm.weight') return w.finalNorm;
  if (name === 'lm_head.weight') return w.lmHead;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  assert.ok(m, `unexpected tensor name ${name}`);
  const l = w.layers[Number(m[1])];
  const key = {
    'input_layernorm.weight': l.attnNorm,
    'self_attn.q_proj.weight': l.wq,
    'self_attn.k_proj.weight': l.wk,
    'self_attn.v_proj.weight': l.wv,
    'self_attn.q_proj.bias': l.bq,
    'self_attn.k_proj.bias': l.bk,
    'self_attn.v_proj.bias': l.bv,
    'self_attn.o_proj.weight': l.wo,
    'post_attention_layernorm.weight': l.ffnNorm,
    'mlp.gate_proj.weight': l.wGate,
    'mlp.up_proj.weight': l.wUp,
    'mlp.down_proj.weight': l.wDown,
  }[m[2]];
  return key;
}

function assertSameWeights(ckpt: LlamaCheckpoint, tensors: SafetensorsTensorInput[], round?: (x: number) => number) {
  for (const t of tensors) {
    const got = byHfName(ckpt, t.name);
    assert.ok(got, `checkpoint lacks ${t.name}`);
    assert.deepEqual(got.dims, t.shape, t.name);
    const want = round ? t.data.map(round) : t.data;
    assert.deepEqual(got.data, want, t.name);
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

test('demo llama (tied) reads back with exactly the weights written', () => {
  const demo = writeDemoModel(freshDir('llama'));
  const ckpt = readHfCheckpoint(demo.dir);
  assert.equal(ckpt.source, demo.dir);
  assert.deepEqual(ckpt.config, {
    family: 'llama',
    modelType: 'llama',
    dModel: 64,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 16,
    dFF: 128,
    vocabSize: DEMO_VOCAB_SIZE,
    maxSeqLen: 4096,
    ropeTheta: 10000,
    ropeStyle: 'halves',
    rmsNormEps: 1e-5,
    tiedEmbeddings: true,
    qkvBias: false,
    bosTokenId: 1,
    eosTokenIds: [2],
  });
  assert.equal(ckpt.weights.lmHead, undefined);
  assert.equal(ckpt.weights.layers[0].bq, undefined);
  assertSameWeights(ckpt, demo.tensors);
  // The content hash is sha256(config.json ‖ model.safetensors).
  const h = createHash('sha256');
  h.update(fs.readFileSync(path.join(demo.dir, 'config.json')));
  h.update(fs.readFileSync(path.join(demo.dir, 'model.safetensors')));
  assert.equal(ckpt.contentHash, h.digest('hex'));
});

test('demo qwen2 (untied, q/k/v bias) reads back exactly', () => {
  const demo = writeDemoModel(freshDir('qwen2'), { modelType: 'qwen2', tied: false, nLayers: 3, nHeads: 4, nKvHeads: 1, dModel: 32, dFF: 48, seed: 7 });
  const ckpt = readHfCheckpoint(demo.dir);
  const c = ckpt.config;
  assert.equal(c.modelType, 'qwen2');
  assert.equal(c.qkvBias, true);
  assert.equal(c.tiedEmbeddings, false);
  assert.deepEqual([c.nLayers, c.nHeads, c.nKvHeads, c.headDim, c.dModel, c.dFF], [3, 4, 1, 8, 32, 48]);
  assert.ok(ckpt.weights.lmHead);
  assert.deepEqual(ckpt.weights.layers[2].bk?.dims, [8]);
  assert.ok(demo.tensors.some((t) => t.name === 'lm_head.weight'));
  assert.ok(demo.tensors.some((t) => t.name === 'model.layers.0.self_attn.v_proj.bias'));
  assertSameWeights(ckpt, demo.tensors);
});

test('F16 demo reads back within fp16 rounding', () => {
  const demo = writeDemoModel(freshDir('f16'), { dtype: 'F16', tied: false });
  assert.equal(openSafetensors(path.join(demo.dir, 'model.safetensors')).header['model.norm.weight'].dtype, 'F16');
  const ckpt = readHfCheckpoint(demo.dir);
  assertSameWeights(ckpt, demo.tensors, (x) => f16ToF32(f32ToF16(x)));
  for (const t of demo.tensors) {
    const got = byHfName(ckpt, t.name)!.data;
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - t.data[i]) <= Math.abs(t.data[i]) * 2 ** -11 + 2 ** -25);
  }
});

/** Rewrites a demo folder's weights as two shards plus an index, the way transformers saves. */
function shard(demo: DemoModel, dropShard?: boolean) {
  const single = path.join(demo.dir, 'model.safetensors');
  const st = openSafetensors(single);
  const half = Math.ceil(st.names.length / 2);
  const files = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap: Record<string, string> = {};
  [st.names.slice(0, half), st.names.slice(half)].forEach((names, i) => {
    // Second shard in reverse order: shards need not follow any particular order.
    const ordered = i === 1 ? [...names].reverse() : names;
    writeSafetensors(
      path.join(demo.dir, files[i]),
      ordered.map((name) => ({ name, dtype: 'F32' as const, shape: st.header[name].shape, data: st.read(name).data })),
      { format: 'pt' },
    );
    for (const n of ordered) weightMap[n] = files[i];
  });
  fs.writeFileSync(path.join(demo.dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  fs.rmSync(single);
  if (dropShard) fs.rmSync(path.join(demo.dir, files[1]));
  return files;
}

test('sharded weights (index + two shards) read the same', () => {
  const demo = writeDemoModel(freshDir('sharded'), { modelType: 'qwen2', tied: false });
  const files = shard(demo);
  const ckpt = readHfCheckpoint(demo.dir);
  assertSameWeights(ckpt, demo.tensors);
  const h = createHash('sha256');
  h.update(fs.readFileSync(path.join(demo.dir, 'config.json')));
  for (const f of [...files].sort()) h.update(fs.readFileSync(path.join(demo.dir, f)));
  assert.equal(ckpt.contentHash, h.digest('hex'));
});

test('a missing shard is named', () => {
  const demo = writeDemoModel(freshDir('noshard'));
  shard(demo, true);
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), path.join(demo.dir, 'model.safetensors.index.json'), /shard model-00002-of-00002\.safetensors .* is missing/);
});

test('an index entry pointing at a shard without the tensor is an error', () => {
  const demo = writeDemoModel(freshDir('badindex'));
  const files = shard(demo);
  const idx = path.join(demo.dir, 'model.safetensors.index.json');
  const j = JSON.parse(fs.readFileSync(idx, 'utf8'));
  j.weight_map['model.norm.weight'] = j.weight_map['model.norm.weight'] === files[0] ? files[1] : files[0];
  fs.writeFileSync(idx, JSON.stringify(j));
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), idx, /says model\.norm\.weight is in .* but that file has no such tensor/);
});

test('unsupported model types are refused by name', () => {
  for (const mt of ['gpt2', 'huginn_raven']) {
    const dir = freshDir(mt);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: mt, n_embd: 8 }));
    throwsCheckpointError(() => readHfCheckpoint(dir), path.join(dir, 'config.json'), new RegExp(`unsupported model_type '${mt}' \\(supported: llama, mistral, qwen2\\)`));
  }
});

test('a mistral config reads with the defaults filled in', () => {
  const demo = writeDemoModel(freshDir('mistral'));
  editConfig(demo.dir, (c) => {
    c.model_type = 'mistral';
    c.sliding_window = 128; // ignored, documented in the reader
    delete c.num_key_value_heads;
    delete c.head_dim;
    delete c.rope_theta;
    delete c.rms_norm_eps;
    delete c.tie_word_embeddings; // lm_head absent → tied anyway
    c.eos_token_id = [2, 0];
  });
  // num_key_value_heads defaults to num_attention_heads, which the demo's 2 kv heads contradict.
  throwsCheckpointError(
    () => readHfCheckpoint(demo.dir),
    path.join(demo.dir, 'model.safetensors'),
    /tensor model\.layers\.0\.self_attn\.k_proj\.weight has shape \[32, 64\], but config\.json implies \[64, 64\]/,
  );
  editConfig(demo.dir, (c) => (c.num_key_value_heads = 2));
  const c = readHfCheckpoint(demo.dir).config;
  assert.equal(c.modelType, 'mistral');
  assert.equal(c.headDim, 16);
  assert.equal(c.ropeTheta, 10000);
  assert.equal(c.rmsNormEps, 1e-6);
  assert.equal(c.tiedEmbeddings, true);
  assert.deepEqual(c.eosTokenIds, [2, 0]);
});

test('missing tensors, wrong shapes and stray tensors are named', () => {
  const demo = writeDemoModel(freshDir('missing'));
  const file = path.join(demo.dir, 'model.safetensors');
  const without = demo.tensors.filter((t) => t.name !== 'model.layers.1.mlp.up_proj.weight');
  writeSafetensors(file, without);
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), file, /missing tensor model\.layers\.1\.mlp\.up_proj\.weight/);

  writeSafetensors(file, [...demo.tensors, { name: 'model.layers.0.self_attn.o_proj.bias', dtype: 'F32', shape: [64], data: new Float32Array(64) }]);
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), file, /unexpected tensor model\.layers\.0\.self_attn\.o_proj\.bias/);

  writeSafetensors(file, demo.tensors);
  editConfig(demo.dir, (c) => (c.intermediate_size = 96));
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), file, /gate_proj\.weight has shape \[128, 64\], but config\.json implies \[96, 64\]/);

  // qwen2 requires its q/k/v biases.
  editConfig(demo.dir, (c) => {
    c.intermediate_size = 128;
    c.model_type = 'qwen2';
  });
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), file, /missing tensor model\.layers\.0\.self_attn\.q_proj\.bias/);
});

test('bad folders and configs give clear errors', () => {
  const absent = freshDir('absent');
  throwsCheckpointError(() => readHfCheckpoint(absent), absent, /model folder not found/);

  const demo = writeDemoModel(freshDir('badcfg'));
  const cfg = path.join(demo.dir, 'config.json');
  throwsCheckpointError(() => readHfCheckpoint(path.join(demo.dir, 'config.json')), cfg, /is not a folder/);

  const original = fs.readFileSync(cfg, 'utf8');
  fs.writeFileSync(cfg, '{"model_type": "llama",');
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), cfg, /is not valid JSON/);

  fs.writeFileSync(cfg, original);
  editConfig(demo.dir, (c) => delete c.hidden_size);
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), cfg, /field 'hidden_size' is missing/);

  fs.writeFileSync(cfg, original);
  editConfig(demo.dir, (c) => (c.num_attention_heads = 2.5));
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), cfg, /field 'num_attention_heads': Expected integer/);

  fs.writeFileSync(cfg, original);
  editConfig(demo.dir, (c) => delete c.model_type);
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), cfg, /field 'model_type' is missing/);

  fs.writeFileSync(cfg, original);
  editConfig(demo.dir, (c) => (c.rope_scaling = { rope_type: 'llama3', factor: 8 }));
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), cfg, /rope scaling 'llama3' is not supported/);

  fs.writeFileSync(cfg, original);
  editConfig(demo.dir, (c) => (c.rope_scaling = { type: 'default' }));
  assert.equal(readHfCheckpoint(demo.dir).config.dModel, 64);

  fs.writeFileSync(cfg, original);
  editConfig(demo.dir, (c) => (c.hidden_act = 'gelu'));
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), cfg, /hidden_act 'gelu' is not supported/);

  fs.writeFileSync(cfg, original);
  fs.rmSync(path.join(demo.dir, 'model.safetensors'));
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), demo.dir, /no weights: expected model\.safetensors or model\.safetensors\.index\.json/);

  fs.rmSync(cfg);
  throwsCheckpointError(() => readHfCheckpoint(demo.dir), cfg, /missing: a Hugging Face model folder needs config\.json/);
});

test('tokenizer: ASCII and non-ASCII text round-trip', () => {
  const demo = writeDemoModel(freshDir('tok'));
  const tok = loadHfTokenizer(demo.dir);
  assert.equal(tok.vocabSize, DEMO_VOCAB_SIZE);
  assert.equal(tok.bosId, 1);
  assert.deepEqual(tok.eosIds, [2]);
  for (const text of ['Hello, world. It\'s 42 !', '  leading and trailing  \n\ttabs\r\n', 'Grüße, naïve café — 東京 🎉👩‍👩‍👧', '']) {
    const ids = tok.encode(text);
    assert.equal(ids.length, Buffer.byteLength(text, 'utf8'), 'one token per byte');
    assert.equal(tok.decode(ids), text);
    assert.deepEqual(tok.encode(text, { addBos: true }), [1, ...ids]);
    assert.equal(tok.decode([1, ...ids, 2]), text, 'special tokens decode to nothing');
  }
  assert.deepEqual(tok.encode('A'), [3 + 65]);
  assert.equal(tok.tokenText(3 + 65), 'A');
  assert.equal(tok.tokenText(2), '');
  assert.throws(() => tok.decode([DEMO_VOCAB_SIZE]), RangeError);
});

test('tokenizer: chat template renders a 2-message conversation', () => {
  const demo = writeDemoModel(freshDir('chat'));
  const tok = loadHfTokenizer(demo.dir);
  assert.ok(tok.chatTemplate);
  const messages = [
    { role: 'system', content: 'Answer briefly.' },
    { role: 'user', content: 'What is 2+2?' },
  ];
  assert.equal(tok.applyChatTemplate(messages, { addGenerationPrompt: true }), '<|bos|>system: Answer briefly.\nuser: What is 2+2?\nassistant: ');
  assert.equal(tok.applyChatTemplate(messages, { addGenerationPrompt: false }), '<|bos|>system: Answer briefly.\nuser: What is 2+2?\n');
  // The template's BOS text encodes as the BOS token, not as its bytes.
  assert.equal(tok.encode(tok.applyChatTemplate(messages, { addGenerationPrompt: true }))[0], 1);

  // A separate chat_template.jinja wins, as in transformers.
  fs.writeFileSync(path.join(demo.dir, 'chat_template.jinja'), '{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{% if add_generation_prompt %}{{ eos_token }}{% endif %}');
  assert.equal(loadHfTokenizer(demo.dir).applyChatTemplate(messages, { addGenerationPrompt: true }), '[system]Answer briefly.[user]What is 2+2?<|eos|>');
});

test('tokenizer: missing chat template, missing tokenizer.json, vocab mismatch', () => {
  const demo = writeDemoModel(freshDir('tokerr'));
  const cfgPath = path.join(demo.dir, 'tokenizer_config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  delete cfg.chat_template;
  fs.writeFileSync(cfgPath, JSON.stringify(cfg));
  const tok = loadHfTokenizer(demo.dir);
  assert.equal(tok.chatTemplate, undefined);
  throwsCheckpointError(() => tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }), cfgPath, /has no chat_template.*bare prompt template/);

  throwsCheckpointError(() => loadHfTokenizer(demo.dir, { modelVocabSize: 200 }), path.join(demo.dir, 'tokenizer.json'), /tokenizer has 259 tokens but the model's vocab_size is 200/);
  throwsCheckpointError(() => tok.checkVocab(258), path.join(demo.dir, 'tokenizer.json'), /vocab_size is 258/);
  tok.checkVocab(259);
  tok.checkVocab(320); // models often pad the embedding beyond the tokenizer

  fs.rmSync(path.join(demo.dir, 'tokenizer.json'));
  throwsCheckpointError(() => loadHfTokenizer(demo.dir), path.join(demo.dir, 'tokenizer.json'), /missing: a Hugging Face tokenizer needs tokenizer\.json/);
});

test('demo model files are deterministic', () => {
  const a = writeDemoModel(freshDir('detA'), { modelType: 'qwen2', tied: false, dtype: 'F16', seed: 3 });
  const b = writeDemoModel(freshDir('detB'), { modelType: 'qwen2', tied: false, dtype: 'F16', seed: 3 });
  const files = fs.readdirSync(a.dir).sort();
  assert.deepEqual(files, ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  assert.deepEqual(fs.readdirSync(b.dir).sort(), files);
  for (const f of files) assert.ok(fs.readFileSync(path.join(a.dir, f)).equals(fs.readFileSync(path.join(b.dir, f))), `${f} differs`);

  // Another seed changes the weights; `tied` changes nothing but lm_head.
  const other = generateDemoTensors({ seed: 4 });
  assert.notDeepEqual(other[0].data, generateDemoTensors({ seed: 0 })[0].data);
  const untied = generateDemoTensors({ tied: false });
  const tied = generateDemoTensors({});
  assert.deepEqual(untied.slice(0, tied.length), tied);
  assert.equal(untied.at(-1)!.name, 'lm_head.weight');
  assert.deepEqual(DEMO_MODEL_DEFAULTS, { seed: 0, dModel: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, dFF: 128, maxSeqLen: 4096, modelType: 'llama', tied: true, dtype: 'F32' });
  assert.throws(() => generateDemoTensors({ dModel: 60, nHeads: 8 }), /multiple of nHeads/);
});

test('demo weights keep activations O(1)', () => {
  const t = generateDemoTensors({ dModel: 128, dFF: 256, nLayers: 4 });
  const std = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
  const q = t.find((x) => x.name === 'model.layers.0.self_attn.q_proj.weight')!;
  assert.ok(Math.abs(std(q.data) * Math.sqrt(128) - 1) < 0.05, 'q_proj std ≈ 1/sqrt(d)');
  const norm = t.find((x) => x.name === 'model.norm.weight')!;
  assert.ok(norm.data.every((x) => Math.abs(x - 1) < 0.1));
  assert.ok(t.every((x) => x.data.every(Number.isFinite)));
});
