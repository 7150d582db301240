/**
 * stories260K written as a Hugging Face folder (models/llama2c/toHf.ts): the converted
 * tokenizer.json tokenizes like the llama2.c tokenizer (an independent implementation of run.c's
 * merges), the folder computes the llama2.c checkpoint's logits (the rotary rows permuted), and
 * the thinking chat template opens <think>.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { loadHfTokenizer } from '../../models/hf/tokenizer';
import { readHfCheckpoint } from '../../models/hf/checkpoint';
import { llama2cToHf } from '../../models/llama2c/toHf';
import { readLlama2cCheckpoint } from '../../models/llama2c/checkpoint';
import { readLlama2cTokenizer } from '../../models/llama2c/tokenizer';
import { sharedFile } from '../helpers/sharedData';
import { tmpDir } from '../helpers/tmp';
import { referenceForward } from '../../runtime/reference/llamaForward';

const model = sharedFile('stories260K/stories260K.bin');
const tokFile = sharedFile('stories260K/tok512.bin');

describe('llama2c-to-hf on stories260K', { skip: model.skip }, () => {
  const dir = path.join(tmpDir('layerlab-l2hf-'), 'stories-think');
  const r = llama2cToHf(model.path, dir, { thinkTemplate: true });

  test('the tokenizer.json encodes every text as run.c does, and decodes it back', () => {
    const hf = loadHfTokenizer(r.dir);
    const l2 = readLlama2cTokenizer(tokFile.path, 512);
    const texts = [
      'Once upon a time, there was a little girl named Lily. She loved to play outside.',
      '"Lily, let\'s go to the park," said Mom.\n\nThey went.',
      'Für Straße: 😀 très bien — 所以 ok?',
      'a', '   spaces   inside  ', 'tab\tand\r\nCRLF', '12345 + 678 = 7023', "Wait, maybe I'm wrong. Let me check: 2+2=4!",
    ];
    for (const t of texts) {
      const ids = l2.encode(t);
      assert.deepEqual(hf.encode(t), ids, JSON.stringify(t));
      assert.equal(hf.decode(ids), l2.decode([1, ...ids]), 'both drop the dummy-prefix space after the start');
    }
    assert.equal(hf.bosId, 1);
    assert.deepEqual(hf.eosIds, [2]);
  });

  test('the folder computes the llama2.c checkpoint\'s logits (reference forward pass, 1e-4)', () => {
    const a = readLlama2cCheckpoint(model.path);
    const b = readHfCheckpoint(r.dir);
    assert.equal(b.config.ropeStyle, 'halves');
    const ids = [1, 403, 261, 378, 395, 263, 489, 77, 300, 12];
    const la = referenceForward(a, ids).logits;
    const lb = referenceForward(b, ids).logits;
    let max = 0;
    la.forEach((row, t) => row.forEach((v, i) => (max = Math.max(max, Math.abs(v - lb[t]![i]!)))));
    assert.ok(max < 1e-4, `max |logit difference| ${max}`);
    // Not vacuous: without the permutation the logits differ.
    const unpermuted = { ...b, weights: { ...b.weights, layers: b.weights.layers.map((l, i) => ({ ...l, wq: a.weights.layers[i]!.wq, wk: a.weights.layers[i]!.wk })) } };
    const lc = referenceForward(unpermuted, ids).logits;
    let off = 0;
    la.forEach((row, t) => row.forEach((v, i) => (off = Math.max(off, Math.abs(v - lc[t]![i]!)))));
    assert.ok(off > 1e-2, `unpermuted rotary rows change the logits (by ${off})`);
  });

  test('the chat template wraps the assistant\'s turn in <think>…</think> and opens <think> for the answer', () => {
    const hf = loadHfTokenizer(r.dir);
    assert.equal(
      hf.applyChatTemplate([{ role: 'user', content: 'Why?' }, { role: 'assistant', content: 'Because.' }, { role: 'user', content: 'Sure?' }], { addGenerationPrompt: true }),
      '<s>User: Why?\nAssistant: <think>\nBecause.\n</think>\nUser: Sure?\nAssistant: <think>\n',
    );
    const plain = llama2cToHf(model.path, path.join(path.dirname(dir), 'stories-plain'));
    assert.equal(loadHfTokenizer(plain.dir).chatTemplate, undefined);
  });
});
