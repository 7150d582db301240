/**
 * Chains' token offsets, candidate vectors and the steering helpers, against independent
 * computations: offsets from UTF-8 byte counts of a byte-level tokenizer, vectors from the
 * paper's formula evaluated on the reference forward pass in float64, fractions and edits by hand.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DatasetError } from '../../datasets/jsonl';
import { DEMO_BYTE_OFFSET, DEMO_EOS_ID, writeDemoModel } from '../../models/demo';
import { buildInstrumentedModel, llamaRecipe } from '../../models/graph/build';
import { loadHfTokenizer } from '../../models/hf/tokenizer';
import { InstrumentedModel } from '../../runtime/model';
import type { Chain, Span, SteerChain } from '../../runtime/protocol/thinking';
import { tokenOffsets, verifyChainTokens, type LoadedChains } from '../../runtime/thinking/chains';
import { behaviourFractions, randomLike, steeringConditions, steeringEdits } from '../../runtime/thinking/steer';
import { categoryPositions, computeBehaviourVectors, norm, spanTokenRange } from '../../runtime/thinking/vectors';
import { randomLlama } from '../helpers/randomLlama';
import { tmpDir } from '../helpers/tmp';
import { referenceForward } from '../../runtime/reference/llamaForward';

describe('token offsets', () => {
  const dir = writeDemoModel(path.join(tmpDir('layerlab-offsets-'), 'demo')).dir;
  const tok = Object.assign(loadHfTokenizer(dir), { source: dir });
  const bytesOf = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => DEMO_BYTE_OFFSET + b);

  test('byte-level tokens of multi-byte characters: the last byte covers the character, the others are empty', () => {
    const text = 'aé😀 所';
    const ids = bytesOf(text);
    // Independently: each code point's bytes; its last byte token covers it.
    const want: [number, number][] = [];
    Array.from(text).forEach((ch, k) => {
      const n = Buffer.byteLength(ch);
      for (let i = 0; i < n; i++) want.push(i === n - 1 ? [k, k + 1] : [k, k]);
    });
    assert.deepEqual(tokenOffsets(tok, [1], ids, text), want);
  });

  test('an EOS and tokens past a stop string are empty at the end of the text', () => {
    const ids = [...bytesOf('ok. STOP more'), DEMO_EOS_ID];
    const offsets = tokenOffsets(tok, [1], ids, 'ok. ');
    assert.deepEqual(offsets.slice(0, 4), [[0, 1], [1, 2], [2, 3], [3, 4]]);
    assert.ok(offsets.slice(4).every(([s, e]) => s === 4 && e === 4));
  });

  test('the tokenizer check names the line and the first token whose offsets are not its text', () => {
    const ids = bytesOf('hé!');
    const good: Chain = { id: 'c', task: 'c', category: '', prompt: '', prompt_ids: [1], ids, text: 'hé!', offsets: tokenOffsets(tok, [1], ids, 'hé!'), stop_reason: 'eos' };
    const loaded = (c: Chain): LoadedChains => ({ file: '/x/y.chains.jsonl', hash: '', chains: [good, c], lines: [1, 4] });
    verifyChainTokens(loaded(good), tok);
    // Still a tiling of the text, but the é belongs to token 2 (its last byte), not token 1.
    const shifted: Chain = { ...good, id: 'd', offsets: [[0, 1], [1, 2], [2, 2], [2, 3]] };
    assert.throws(() => verifyChainTokens(loaded(shifted), tok), (e: Error) => e instanceof DatasetError && /y\.chains\.jsonl \(line 4, field "offsets"\): chain d: token 1 \(id \d+\) is stored at characters \[1, 2\), but its text is at \[1, 1\)/.test(e.message));
    const otherText: Chain = { ...good, id: 'e', text: 'he!' };
    assert.throws(() => verifyChainTokens(loaded(otherText), tok), (e: Error) => e instanceof DatasetError && /line 4, field "text"\): chain e: the text is not what its ids decode to/.test(e.message));
  });
});

describe('candidate vectors', () => {
  const ckpt = randomLlama({ nLayers: 2, vocabSize: 40 }, 4);
  const d = ckpt.config.dModel;
  let model: InstrumentedModel;
  before(async () => {
    model = await InstrumentedModel.load(buildInstrumentedModel(llamaRecipe(ckpt), tmpDir('layerlab-vec-graphs-')), { provider: 'cpu', threads: 1 });
  });
  after(async () => model.release());

  const chain = (id: string, prompt: number[], gen: number[]): Chain => ({
    id, task: id, category: '', prompt: '', prompt_ids: prompt, ids: gen, text: 'x'.repeat(gen.length), offsets: gen.map((_, i) => [i, i + 1]), stop_reason: 'eos',
  });
  const chains = [chain('a', [1, 5], [7, 9, 11, 13, 15, 17]), chain('b', [1], [20, 21, 22, 23, 24]), chain('c', [1, 3, 4], [30, 31, 32])];
  const spans: Span[] = [
    { chain: 'a', start: 0, end: 2, category: 'deduction' },
    { chain: 'a', start: 4, end: 6, category: 'deduction' },
    { chain: 'a', start: 2, end: 3, category: 'backtracking' },
    { chain: 'b', start: 1, end: 3, category: 'deduction' },
  ];

  test('span tokens, the token before each span, empty tokens inside', () => {
    assert.deepEqual(spanTokenRange([[0, 2], [2, 2], [2, 5], [5, 6]], 2, 5), [1, 2], 'the empty token at 2 is inside');
    assert.deepEqual(spanTokenRange([[0, 2], [2, 5]], 1, 3), [0, 1], 'partial overlaps count');
    assert.equal(spanTokenRange([[0, 2], [2, 5]], 5, 6), null);
    // chain a: prompt 2 tokens; deduction spans cover generated tokens 0-1 and 4-5, plus the tokens before (prompt's last, and 3).
    assert.deepEqual(categoryPositions(chains[0]!, spans.filter((s) => s.chain === 'a')), new Map([
      ['deduction', [1, 2, 3, 5, 6, 7]],
      ['backtracking', [3, 4]],
    ]));
  });

  test("the paper's formula, evaluated on the reference forward pass in float64", async () => {
    const hooks = ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_pre', 'blocks.1.hook_resid_post'];
    const r = await computeBehaviourVectors(model, chains, spans, { hooks });
    assert.deepEqual(r.categories, ['deduction', 'backtracking']);
    assert.deepEqual(r.counts.get('deduction'), { chains: 2, spans: 3, tokens: 6 + 3 });
    const act = (c: Chain, hook: string) => {
      const ref = referenceForward(ckpt, [...c.prompt_ids, ...c.ids]);
      const m = /^blocks\.(\d+)\.hook_resid_(pre|post)$/.exec(hook)!;
      return (m[2] === 'pre' ? ref.residPre : ref.residPost)[Number(m[1])]!;
    };
    const meanOver = (rows: Float32Array[], pos: number[]) => Array.from({ length: d }, (_, j) => pos.reduce((s, t) => s + rows[t]![j]!, 0) / pos.length);
    hooks.forEach((hook, h) => {
      // Mean over every chain of its generated tokens' mean.
      const all = chains.map((c) => meanOver(act(c, hook), c.ids.map((_, i) => c.prompt_ids.length + i)));
      const mAll = Array.from({ length: d }, (_, j) => all.reduce((s, v) => s + v[j]!, 0) / chains.length);
      // deduction: chain a positions 1,2,3,5,6,7 (above); chain b: prompt 1 token, span tokens 1-2 → positions 1,2,3.
      const pa = meanOver(act(chains[0]!, hook), [1, 2, 3, 5, 6, 7]);
      const pb = meanOver(act(chains[1]!, hook), [1, 2, 3]);
      const want = pa.map((v, j) => (v + pb[j]!) / 2 - mAll[j]!);
      const got = r.vectors.get('deduction')![h]!;
      want.forEach((w, j) => assert.ok(Math.abs(got[j]! - w) < 1e-4, `${hook}[${j}]: ${got[j]} vs ${w}`));
      const bt = meanOver(act(chains[0]!, hook), [3, 4]).map((v, j) => v - mAll[j]!);
      bt.forEach((w, j) => assert.ok(Math.abs(r.vectors.get('backtracking')![h]![j]! - w) < 1e-4));
    });
  });
});

describe('steering helpers', () => {
  test('several hooks share the coefficient evenly, with the sign', () => {
    const v = [Float32Array.of(1, 2), Float32Array.of(-4, 8)];
    const e = steeringEdits(['blocks.1.hook_resid_post', 'blocks.3.hook_resid_post'], v, 3, -1);
    assert.deepEqual(e.map((x) => x.hook), ['blocks.1.hook_resid_post', 'blocks.3.hook_resid_post']);
    assert.deepEqual([...e[0]!.add!], [-1.5, -3]);
    assert.deepEqual([...e[1]!.add!], [6, -12]);
  });

  test('random controls have the steering vector\'s norm at every hook, and depend on seed and behaviour only', () => {
    const like = [Float32Array.from({ length: 16 }, (_, i) => i - 3), Float32Array.from({ length: 16 }, () => 0.5)];
    const a = randomLike(like, 7, 'deduction', [2, 5]);
    a.forEach((v, h) => assert.ok(Math.abs(norm(v) - norm(like[h]!)) < 1e-5 * norm(like[h]!)));
    assert.deepEqual(a, randomLike(like, 7, 'deduction', [2, 5]));
    assert.notDeepEqual(a, randomLike(like, 8, 'deduction', [2, 5]));
    assert.notDeepEqual(a, randomLike(like, 7, 'backtracking', [2, 5]));
    const cos = a[0]!.reduce((s, x, i) => s + x * like[0]![i]!, 0) / (norm(a[0]!) * norm(like[0]!));
    assert.ok(Math.abs(cos) < 0.9, 'not the vector itself');
  });

  test('conditions: baseline, then +, −, random +, random − per behaviour', () => {
    const c = steeringConditions(['deduction', 'backtracking'], (b) => (b === 'deduction' ? ['h1'] : ['h2', 'h3']), 2);
    assert.deepEqual(c.map((x) => [x.id, x.kind, x.sign, x.hooks.length]), [
      ['baseline', 'baseline', 0, 0],
      ['deduction +2', 'vector', 1, 1],
      ['deduction −2', 'vector', -1, 1],
      ['deduction random +2', 'random', 1, 1],
      ['deduction random −2', 'random', -1, 1],
      ['backtracking +2', 'vector', 1, 2],
      ['backtracking −2', 'vector', -1, 2],
      ['backtracking random +2', 'random', 1, 2],
      ['backtracking random −2', 'random', -1, 2],
    ]);
  });

  test('behaviour fractions count each generated token once, by hand', () => {
    const chains: SteerChain[] = [
      // 5 tokens; deduction covers tokens 1-2 and (overlapping nothing) 4; backtracking token 3 and, by a second span of the same characters, again 3.
      { task: 'a', text: 'abcde', ids: [1, 2, 3, 4, 5], offsets: [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]], spans: [
        { start: 1, end: 3, category: 'deduction' }, { start: 4, end: 5, category: 'deduction' }, { start: 3, end: 4, category: 'backtracking' }, { start: 3, end: 4, category: 'uncertainty-estimation' },
      ] },
      // 3 tokens, one empty (a partial character): the span covers both the empty and the completing token.
      { task: 'b', text: 'xé', ids: [6, 7, 8], offsets: [[0, 1], [1, 1], [1, 2]], spans: [{ start: 1, end: 2, category: 'deduction' }] },
    ];
    const f = behaviourFractions(chains);
    assert.deepEqual([f.deduction.tokens, f.deduction.total], [5, 8]);
    assert.equal(f.deduction.fraction, 5 / 8);
    assert.deepEqual([f.backtracking.tokens, f['uncertainty-estimation'].tokens, f.initializing.tokens], [1, 1, 0]);
    // Wilson 95% for 5/8 (z = 1.96): centre (0.625 + 1.92/16)/(1 + 3.84/8), half-width 1.96·sqrt(0.625·0.375/8 + 3.84/256)/(1.48).
    const z = 1.959963984540054;
    const centre = (5 / 8 + (z * z) / 16) / (1 + (z * z) / 8);
    const half = (z * Math.sqrt((0.625 * 0.375) / 8 + (z * z) / 256)) / (1 + (z * z) / 8);
    assert.ok(Math.abs(f.deduction.ci95[0] - (centre - half)) < 1e-12 && Math.abs(f.deduction.ci95[1] - (centre + half)) < 1e-12);
  });
});
