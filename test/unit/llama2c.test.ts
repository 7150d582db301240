import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CheckpointError, validateLlamaCheckpoint, type LlamaCheckpoint, type Tensor } from '../../models/checkpoint';
import { readLlama2cCheckpoint } from '../../models/llama2c/checkpoint';
import { readLlama2cTokenizer } from '../../models/llama2c/tokenizer';
import { sharedFile } from '../helpers/sharedData';
import { tmpDir } from '../helpers/tmp';
import { referenceForward, referenceGreedy } from '../../runtime/reference/llamaForward';

const legacyFile = sharedFile('stories260K/stories260K.bin');
const v1File = sharedFile('stories260K/stories260K_v1.bin');
const tokFile = sharedFile('stories260K/tok512.bin');
const goldenFile = sharedFile('stories260K/golden_greedy_from_BOS.json');
const skipAll = legacyFile.skip || v1File.skip || tokFile.skip || goldenFile.skip;

interface Golden {
  start: number[];
  /** Includes the start token (BOS) followed by `steps` generated ids. */
  greedy_ids: number[];
  steps: number;
  /** Raw concatenation of the generated pieces: leading space kept, byte pieces as `<0x0A>`. */
  text: string;
  logits_pos0_after_BOS: { first16: number[]; argmax: number; max: number; sum: number; l2: number };
}

const cache = new Map<string, unknown>();
function once<T>(key: string, make: () => T): T {
  if (!cache.has(key)) cache.set(key, make());
  return cache.get(key) as T;
}
const legacy = () => once('legacy', () => readLlama2cCheckpoint(legacyFile.path));
const tokenizer = () => once('tok', () => readLlama2cTokenizer(tokFile.path, 512));
const golden = () => once('golden', () => (JSON.parse(fs.readFileSync(goldenFile.path, 'utf8')) as { stories260K: Golden }).stories260K);

/** Asserts `fn` throws a CheckpointError whose message names `file` and matches `re`. */
function throwsCheckpointError(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${String(e)}`);
    assert.ok(e.message.includes(path.resolve(file)), `message should name ${file}: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

function sameTensor(a: Tensor | undefined, b: Tensor | undefined, name: string): void {
  assert.ok(a && b, `${name} present in both`);
  assert.deepEqual(a.dims, b.dims, `${name} dims`);
  const bytes = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  assert.ok(bytes(a).equals(bytes(b)), `${name} data differs`);
}

test('legacy stories260K: header, config and content hash', { skip: skipAll }, () => {
  const ckpt = legacy();
  assert.deepEqual(ckpt.config, {
    family: 'llama',
    modelType: 'llama2c',
    dModel: 64,
    nLayers: 5,
    nHeads: 8,
    nKvHeads: 4,
    headDim: 8,
    dFF: 172,
    vocabSize: 512,
    maxSeqLen: 512,
    ropeTheta: 10000,
    ropeStyle: 'adjacent',
    rmsNormEps: 1e-5,
    tiedEmbeddings: true,
    qkvBias: false,
    bosTokenId: 1,
    eosTokenIds: [2],
  });
  assert.equal(ckpt.source, path.resolve(legacyFile.path));
  assert.equal(ckpt.weights.lmHead, undefined);
  // sha256 of the whole file, as listed in shared/data/SHA256SUMS.
  assert.equal(ckpt.contentHash, 'b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696');
  validateLlamaCheckpoint(ckpt);
});

test('golden: greedy decoding from BOS reproduces greedy_ids token for token', { skip: skipAll }, () => {
  const g = golden();
  assert.deepEqual(g.start, [1]);
  assert.equal(g.greedy_ids.length, g.steps + 1, 'greedy_ids includes the BOS start token');
  const generated = referenceGreedy(legacy(), g.start, g.steps);
  assert.deepEqual([...g.start, ...generated], g.greedy_ids);
});

test('golden: logits at position 0 match logits_pos0_after_BOS within 1e-4', { skip: skipAll }, () => {
  const want = golden().logits_pos0_after_BOS;
  const logits = referenceForward(legacy(), [1]).logits[0];
  assert.equal(logits.length, 512);
  want.first16.forEach((v, i) => assert.ok(Math.abs(logits[i] - v) < 1e-4, `logit ${i}: ${logits[i]} vs ${v}`));
  let argmax = 0;
  let sum = 0;
  let sq = 0;
  logits.forEach((v, i) => {
    if (v > logits[argmax]) argmax = i;
    sum += v;
    sq += v * v;
  });
  assert.equal(argmax, want.argmax);
  assert.ok(Math.abs(logits[argmax] - want.max) < 1e-4, `max ${logits[argmax]} vs ${want.max}`);
  // Aggregates over 512 values: the golden figures are rounded to 4 decimals.
  assert.ok(Math.abs(sum - want.sum) < 1e-3, `sum ${sum} vs ${want.sum}`);
  assert.ok(Math.abs(Math.sqrt(sq) - want.l2) < 1e-3, `l2 ${Math.sqrt(sq)} vs ${want.l2}`);
});

test('reference forward: residual streams chain from the embeddings through every block', { skip: skipAll }, () => {
  const ckpt = legacy();
  const ids = [1, 403, 407, 261];
  const r = referenceForward(ckpt, ids);
  assert.equal(r.residPre.length, 5);
  assert.equal(r.residPost.length, 5);
  assert.equal(r.logits.length, ids.length);
  ids.forEach((id, t) => {
    assert.deepEqual(r.residPre[0][t], ckpt.weights.embed.data.slice(id * 64, (id + 1) * 64));
    for (let l = 1; l < 5; l++) assert.deepEqual(r.residPre[l][t], r.residPost[l - 1][t]);
  });
  // Causality: a later token must not change earlier positions.
  const shorter = referenceForward(ckpt, ids.slice(0, 2));
  assert.deepEqual(shorter.logits[1], r.logits[1]);
});

test("reference forward: 'halves' RoPE with HF-permuted wq/wk equals 'adjacent'; zero q/k/v biases change nothing", { skip: skipAll }, () => {
  const ckpt = legacy();
  const c = ckpt.config;
  // Hugging Face's conversion permutes each head's rows so that adjacent pair (2j, 2j+1)
  // becomes (j, j + headDim/2); attention scores are invariant under that shared permutation.
  const permuteRows = (t: Tensor, nHeads: number): Tensor => {
    const cols = t.dims[1];
    const hd = c.headDim;
    const out = new Float32Array(t.data.length);
    for (let h = 0; h < nHeads; h++) {
      for (let j = 0; j < hd / 2; j++) {
        for (const p of [0, 1]) {
          const from = (h * hd + 2 * j + p) * cols;
          const to = (h * hd + p * (hd / 2) + j) * cols;
          out.set(t.data.subarray(from, from + cols), to);
        }
      }
    }
    return { dims: t.dims, data: out };
  };
  const zeros = (n: number): Tensor => ({ dims: [n], data: new Float32Array(n) });
  const halves: LlamaCheckpoint = {
    ...ckpt,
    config: { ...c, ropeStyle: 'halves', qkvBias: true },
    weights: {
      ...ckpt.weights,
      layers: ckpt.weights.layers.map((l) => ({
        ...l,
        wq: permuteRows(l.wq, c.nHeads),
        wk: permuteRows(l.wk, c.nKvHeads),
        bq: zeros(c.nHeads * c.headDim),
        bk: zeros(c.nKvHeads * c.headDim),
        bv: zeros(c.nKvHeads * c.headDim),
      })),
    },
  };
  validateLlamaCheckpoint(halves);
  const ids = [1, 403, 407, 261, 378, 432, 383];
  const a = referenceForward(ckpt, ids).logits;
  const b = referenceForward(halves, ids).logits;
  a.forEach((row, t) => row.forEach((v, i) => assert.ok(Math.abs(v - b[t][i]) < 1e-4, `t=${t} i=${i}: ${v} vs ${b[t][i]}`)));
});

test('v1 (ak42) file gives exactly the same config and tensors as the legacy file', { skip: skipAll }, () => {
  const a = legacy();
  const b = readLlama2cCheckpoint(v1File.path);
  assert.deepEqual(b.config, a.config);
  // The hash covers the whole file, so the two layouts hash differently.
  assert.equal(b.contentHash, '9ab1bf3d0c9900ce357fb38b0f42c3252e0ad478400bf7093efa133c8fa60723');
  sameTensor(a.weights.embed, b.weights.embed, 'embed');
  sameTensor(a.weights.finalNorm, b.weights.finalNorm, 'finalNorm');
  assert.equal(b.weights.lmHead, undefined);
  assert.equal(b.weights.layers.length, a.weights.layers.length);
  const names = ['attnNorm', 'wq', 'wk', 'wv', 'wo', 'ffnNorm', 'wGate', 'wUp', 'wDown'] as const;
  a.weights.layers.forEach((la, l) => {
    for (const n of names) sameTensor(la[n], b.weights.layers[l][n], `layers.${l}.${n}`);
  });
});

test('unshared classifier: legacy negative vocab_size and v1 shared_classifier=0 read the trailing lm head', { skip: skipAll }, () => {
  const dir = tmpDir();
  const tied = legacy();
  // A classifier that differs from the embedding: twice it, so logits must double.
  const classifier = tied.weights.embed.data.map((v) => 2 * v);
  const classifierBytes = Buffer.from(classifier.buffer);

  const legacyBytes = Buffer.concat([fs.readFileSync(legacyFile.path), classifierBytes]);
  legacyBytes.writeInt32LE(-512, 5 * 4);
  const legacyUntied = path.join(dir, 'untied_legacy.bin');
  fs.writeFileSync(legacyUntied, legacyBytes);

  const v1Bytes = Buffer.concat([fs.readFileSync(v1File.path), classifierBytes]);
  v1Bytes[36] = 0;
  const v1Untied = path.join(dir, 'untied_v1.bin');
  fs.writeFileSync(v1Untied, v1Bytes);

  for (const file of [legacyUntied, v1Untied]) {
    const ckpt = readLlama2cCheckpoint(file);
    assert.equal(ckpt.config.tiedEmbeddings, false, file);
    assert.equal(ckpt.config.vocabSize, 512, file);
    sameTensor(ckpt.weights.lmHead, { dims: [512, 64], data: classifier }, `${file} lmHead`);
    sameTensor(ckpt.weights.embed, tied.weights.embed, `${file} embed`);
    const got = referenceForward(ckpt, [1]).logits[0];
    const base = referenceForward(tied, [1]).logits[0];
    got.forEach((v, i) => assert.ok(Math.abs(v - 2 * base[i]) < 1e-4, `logit ${i}`));
  }
});

test('tokenizer: decoding the golden ids gives the golden text', { skip: skipAll }, () => {
  const tok = tokenizer();
  const g = golden();
  assert.equal(tok.vocabSize, 512);
  assert.equal(tok.bosId, 1);
  assert.deepEqual(tok.eosIds, [2]);
  // The golden `text` is the raw pieces after BOS, joined.
  const raw = g.greedy_ids.slice(1).map((id) => Buffer.from(tok.piece(id)).toString('utf8')).join('');
  assert.equal(raw, g.text);
  // run.c decode: the space after BOS is dropped and byte pieces become bytes.
  assert.equal(tok.decode(g.greedy_ids), g.text.replace(/^ /, '').replaceAll('<0x0A>', '\n'));
  assert.equal(
    tok.decode(g.greedy_ids),
    'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily',
  );
  // Streaming text of single tokens.
  assert.equal(tok.tokenText(13), '\n');
  assert.equal(tok.tokenText(1), '');
  assert.equal(tok.tokenText(2), '');
  assert.equal(tok.tokenText(403), ' Once');
  assert.throws(() => tok.tokenText(512), RangeError);
});

test('tokenizer: encode follows run.c (dummy prefix, BPE merges by score, byte fallback)', { skip: skipAll }, () => {
  const tok = tokenizer();
  const g = golden();
  // Re-encoding the generated story yields exactly the model's own tokens.
  assert.deepEqual(tok.encode(tok.decode(g.greedy_ids), { addBos: true }), g.greedy_ids);
  assert.deepEqual(tok.encode('Once upon a time'), [403, 407, 261, 378]);
  assert.deepEqual(tok.encode('Once upon a time', { addBos: true }), [1, 403, 407, 261, 378]);
  // No dummy prefix for empty text.
  assert.deepEqual(tok.encode(''), []);
  assert.deepEqual(tok.encode('', { addBos: true }), [1]);
  // '日' (e6 97 a5) is not a piece: byte fallback gives ids 3 + byte.
  const ids = tok.encode('日');
  assert.deepEqual(ids.slice(-3), [3 + 0xe6, 3 + 0x97, 3 + 0xa5]);
  // '“' is a whole-codepoint piece in tok512.
  assert.ok(tok.encode('“').includes(465));

  // The merge loop only stops when no adjacent pair forms a vocabulary piece.
  const pieceIds = new Map<string, number>();
  for (let id = 0; id < tok.vocabSize; id++) {
    const key = Buffer.from(tok.piece(id)).toString('latin1');
    if (!pieceIds.has(key)) pieceIds.set(key, id);
  }
  for (const text of ['The little dog ran to the park.', 'Tom and Lily were happy!', 'héllo “wörld” 🙂']) {
    const enc = tok.encode(text);
    for (let i = 0; i + 1 < enc.length; i++) {
      const pair = Buffer.concat([tok.piece(enc[i]), tok.piece(enc[i + 1])]).toString('latin1');
      assert.equal(pieceIds.get(pair), undefined, `${JSON.stringify(text)}: pair at ${i} could still merge`);
    }
  }
});

test('tokenizer: encode/decode round-trips ASCII and non-ASCII text', { skip: skipAll }, () => {
  const tok = tokenizer();
  const texts = [
    'Once upon a time',
    'Lily said, "Let\'s play!"\nTom smiled.',
    '  leading and trailing spaces  ',
    'héllo “wörld” — café, naïve, 日本語, emoji 🙂🦙',
    'tabs\tand\r\nnewlines\n',
    'x',
  ];
  for (const text of texts) {
    const ids = tok.encode(text, { addBos: true });
    assert.equal(ids[0], 1);
    assert.ok(ids.slice(1).every((id) => id >= 3 && id < 512), 'no control tokens inside the text');
    assert.equal(tok.decode(ids), text, JSON.stringify(text));
  }
  // Without BOS, run.c keeps the dummy-prefix space.
  assert.equal(tok.decode(tok.encode('Once')), ' Once');
});

test('errors: missing files', () => {
  const dir = tmpDir();
  const missing = path.join(dir, 'nope.bin');
  throwsCheckpointError(() => readLlama2cCheckpoint(missing), missing, /no such file/);
  throwsCheckpointError(() => readLlama2cTokenizer(missing), missing, /no such file/);
  throwsCheckpointError(() => readLlama2cCheckpoint(dir), dir, /directory/);
});

test('errors: truncated and oversized checkpoints', { skip: skipAll }, () => {
  const dir = tmpDir();
  const full = fs.readFileSync(legacyFile.path);
  const cut = path.join(dir, 'truncated.bin');
  fs.writeFileSync(cut, full.subarray(0, 500_000));
  throwsCheckpointError(() => readLlama2cCheckpoint(cut), cut, /truncated .*implies 1056540 bytes but the file has 500000 \(556540 missing\)/);

  const tiny = path.join(dir, 'tiny.bin');
  fs.writeFileSync(tiny, full.subarray(0, 10));
  throwsCheckpointError(() => readLlama2cCheckpoint(tiny), tiny, /shorter than the 28-byte llama2\.c header/);

  const v1 = fs.readFileSync(v1File.path);
  const v1Cut = path.join(dir, 'truncated_v1.bin');
  fs.writeFileSync(v1Cut, v1.subarray(0, v1.length - 4));
  throwsCheckpointError(() => readLlama2cCheckpoint(v1Cut), v1Cut, /truncated llama2\.c v1 checkpoint.*implies 1040384 bytes but the file has 1040380/);
  const v1HeaderOnly = path.join(dir, 'v1_header_cut.bin');
  fs.writeFileSync(v1HeaderOnly, v1.subarray(0, 100));
  throwsCheckpointError(() => readLlama2cCheckpoint(v1HeaderOnly), v1HeaderOnly, /"ak42" magic but is only 100 bytes/);

  const long = path.join(dir, 'long.bin');
  fs.writeFileSync(long, Buffer.concat([full, Buffer.alloc(8)]));
  throwsCheckpointError(() => readLlama2cCheckpoint(long), long, /8 bytes more than the 1056540/);
});

test('errors: corrupt headers', { skip: skipAll }, () => {
  const dir = tmpDir();
  const full = fs.readFileSync(legacyFile.path);
  const withHeader = (name: string, edit: (b: Buffer) => void, source = full) => {
    const b = Buffer.from(source);
    edit(b);
    const f = path.join(dir, name);
    fs.writeFileSync(f, b);
    return f;
  };
  const zeroDim = withHeader('zero_dim.bin', (b) => b.writeInt32LE(0, 0));
  throwsCheckpointError(() => readLlama2cCheckpoint(zeroDim), zeroDim, /corrupt .*header.*dim is 0, must be positive/);
  const badHeads = withHeader('bad_heads.bin', (b) => b.writeInt32LE(7, 12));
  throwsCheckpointError(() => readLlama2cCheckpoint(badHeads), badHeads, /dim 64 is not divisible by n_heads 7/);
  const badKv = withHeader('bad_kv.bin', (b) => b.writeInt32LE(3, 16));
  throwsCheckpointError(() => readLlama2cCheckpoint(badKv), badKv, /n_heads 8 is not a multiple of n_kv_heads 3/);
  const text = withHeader('text.bin', (b) => b.write('this is not a model at all', 0, 'latin1'));
  throwsCheckpointError(() => readLlama2cCheckpoint(text), text, /corrupt or unsupported llama2\.c legacy header/);

  const v1 = fs.readFileSync(v1File.path);
  const v2 = withHeader('v2.bin', (b) => b.writeInt32LE(2, 4), v1);
  throwsCheckpointError(() => readLlama2cCheckpoint(v2), v2, /unsupported llama2\.c checkpoint version 2.*Q8_0/);
  const badFlag = withHeader('bad_flag.bin', (b) => (b[36] = 7), v1);
  throwsCheckpointError(() => readLlama2cCheckpoint(badFlag), badFlag, /shared_classifier flag is 7/);
  const negVocab = withHeader('neg_vocab_v1.bin', (b) => b.writeInt32LE(-512, 28), v1);
  throwsCheckpointError(() => readLlama2cCheckpoint(negVocab), negVocab, /vocab_size is -512/);
});

test('errors: tokenizer vocab mismatch, truncation and wrong file', { skip: skipAll }, () => {
  throwsCheckpointError(
    () => readLlama2cTokenizer(tokFile.path, 32000),
    tokFile.path,
    /tokenizer mismatch: tokenizer has 512 tokens, model expects 32000/,
  );
  const dir = tmpDir();
  const full = fs.readFileSync(tokFile.path);
  const cut = path.join(dir, 'tok_cut.bin');
  fs.writeFileSync(cut, full.subarray(0, 3001));
  throwsCheckpointError(() => readLlama2cTokenizer(cut, 512), cut, /truncated llama2\.c tokenizer: token \d+/);
  // A model file passed as the tokenizer.
  throwsCheckpointError(() => readLlama2cTokenizer(legacyFile.path), legacyFile.path, /corrupt llama2\.c tokenizer: token 2 has length/);
});
