/**
 * Tracing, the logit lens and steering on a real pretrained model (stories260K from
 * ../shared/data; skipped when absent). Expected values come from elsewhere than the code under
 * test: the hidden-state cache (save-hidden-states), KV-cached decoding step by step, the golden
 * greedy ids and logits of an independent llama2.c implementation, the model's own output
 * distribution, the steering formulas applied by hand to unsteered states, and means computed
 * here from trace files.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openSafetensors } from '../../models/safetensors';
import { openModel, type OpenedModel } from '../../runtime/openModel';
import { generateGreedy } from '../../runtime/generate';
import { logSoftmax } from '../../runtime/probe/trace';
import { readControlVectorGguf } from '../../runtime/steering/controlVector';
import { steeredState, STEER_METHODS, type SteerMethod } from '../../runtime/protocol/steering';
import type { JobParamsIn } from '../../runtime/protocol/jobs';
import { jobRunner, type JobRunner } from '../helpers/jobs';
import { runCli } from '../helpers/cli';
import { sharedFile } from '../helpers/sharedData';
import { tmpDir } from '../helpers/tmp';

const stories = sharedFile('stories260K/stories260K.bin');
const golden = sharedFile('stories260K/golden_greedy_from_BOS.json');
const root = tmpDir('layerlab-probe-stories-');
const env = { LAYERLAB_CACHE_DIR: path.join(root, 'cache') };
const M = stories.path;
const HAPPY = ['Tom was very happy.', 'The girl was happy and smiled.', 'She felt happy.', 'They were happy together.', 'The dog was happy to play.'];
const SAD = ['Tom was very sad.', 'The girl was sad and cried.', 'She felt sad.', 'They were sad together.', 'The dog was sad to stay.'];

function rows(file: string, name: string): { data: Float32Array; dims: number[] } {
  return openSafetensors(file).read(name);
}

describe('trace, logit lens and steering on stories260K', { skip: stories.skip }, () => {
  let jobs: JobRunner;
  let opened: OpenedModel;
  const happyTxt = path.join(root, 'happy.txt');
  const sadTxt = path.join(root, 'sad.txt');
  const d = 64;

  before(async () => {
    process.env.LAYERLAB_CACHE_DIR = env.LAYERLAB_CACHE_DIR;
    fs.writeFileSync(happyTxt, HAPPY.join('\n') + '\n');
    fs.writeFileSync(sadTxt, SAD.join('\n') + '\n');
    jobs = jobRunner();
    opened = await openModel(M, { provider: 'cpu', threads: 1, graphCacheDir: path.join(root, 'cache', 'graphs') });
  });
  after(async () => {
    await jobs?.release();
    await opened?.model.release();
  });

  test('a trace of a prompt file equals save-hidden-states --positions all, row for row, for the same token ids (the real CLI)', () => {
    const prompts = path.join(root, 'prompts.txt');
    fs.writeFileSync(prompts, 'Once upon a time, there was a cat.\nLily liked to play in the park with her ball.\nThe end\n');
    const cacheDir = path.join(root, 'hs');
    const save = runCli(['save-hidden-states', '--model', M, '--data_file_path', prompts, '--positions', 'all', '--hooks', 'all', '--output_path', cacheDir, '--data_batch_size', '2'], env);
    assert.equal(save.status, 0, save.stderr);
    const traceFile = path.join(root, 'prompts.trace.safetensors');
    const tr = runCli(['trace', '--model', M, '--data_file', prompts, '--out', traceFile, '--batch_size', '2', '--json'], env);
    assert.equal(tr.status, 0, tr.stderr);
    const result = JSON.parse(tr.stdout);
    assert.equal(result.hooks.length, 10);
    const cache = openSafetensors(path.join(cacheDir, 'stories260K', 'prompts.safetensors'));
    const trace = openSafetensors(traceFile);
    assert.equal(trace.metadata.row_offsets, cache.metadata.row_offsets);
    for (const key of ['model_path', 'model_hash', 'model_type', 'model_options', 'block_labels', 'tokenizer', 'data_file', 'data_hash', 'layerlab_version']) {
      assert.equal(trace.metadata[key], cache.metadata[key], `provenance ${key}`);
    }
    for (const hook of result.hooks) assert.deepEqual(trace.read(hook).data, cache.read(hook).data, hook);
    // The ids the rows belong to: the tokenizer's ids of each line (BOS first), with spans that cover the text.
    const tokens = JSON.parse(trace.metadata.tokens!) as { text: string; tokens: [number, string, number, number][] }[];
    const lines = fs.readFileSync(prompts, 'utf8').trim().split('\n');
    tokens.forEach((p, i) => {
      assert.deepEqual(p.tokens.map((t) => t[0]), opened.tokenizer.encode(lines[i]!, { addBos: true }));
      assert.equal(p.text, lines[i]);
      assert.equal(p.tokens.map((t) => p.text.slice(t[2], t[3])).join(''), lines[i]);
    });
  });

  test('--logits all equals the logits of KV-cached decoding step by step, reproduces the golden greedy ids, and top_k holds the largest', { skip: golden.skip }, async () => {
    const g = JSON.parse(fs.readFileSync(golden.path, 'utf8')).stories260K;
    const ids: number[] = g.greedy_ids.slice(0, 24);
    const out = path.join(root, 'golden.trace.safetensors');
    await jobs.run('trace', { model: M, ids, logits: 'all', topK: 3, hooks: ['blocks.4.hook_resid_post'], out });
    const logits = rows(out, 'logits');
    const V = 512;
    assert.deepEqual(logits.dims, [ids.length, V]);
    let kv;
    for (let t = 0; t < ids.length; t++) {
      const step = await opened.model.forward([[ids[t]!]], kv);
      kv = step.kv;
      for (let v = 0; v < V; v++) assert.ok(Math.abs(logits.data[t * V + v]! - step.logits[0]![v]!) <= 1e-5, `position ${t} token ${v}`);
    }
    g.logits_pos0_after_BOS.first16.forEach((want: number, i: number) => assert.ok(Math.abs(logits.data[i]! - want) <= 1e-4, `golden logit ${i}`));
    for (let t = 0; t + 1 < ids.length; t++) {
      const row = logits.data.subarray(t * V, (t + 1) * V);
      const best = row.indexOf(Math.max(...row));
      assert.equal(best, ids[t + 1], `greedy id after position ${t}`);
    }
    const top = new Int32Array(openSafetensors(out).readRaw('top_k.ids').buffer.slice(0));
    const lps = rows(out, 'top_k.logprobs').data;
    for (let t = 0; t < ids.length; t++) {
      const lp = logSoftmax(logits.data.subarray(t * V, (t + 1) * V));
      const sorted = [...lp.keys()].sort((a, b) => lp[b]! - lp[a]!);
      assert.deepEqual([...top.subarray(t * 3, t * 3 + 3)], sorted.slice(0, 3));
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(lps[t * 3 + k]! - lp[sorted[k]!]!) <= 1e-6);
    }
  });

  test('the logit lens at the last block output is the model\u2019s own next-token distribution; the lens rows start at the embeddings', async () => {
    const r = await jobs.run('logit-lens', { model: M, prompt: 'Once upon a time, there was a little', topK: 8 });
    assert.deepEqual(r.hooks, ['blocks.0.hook_resid_pre', ...[0, 1, 2, 3, 4].map((l) => `blocks.${l}.hook_resid_post`)]);
    const last = r.cells.at(-1)!;
    assert.equal(last.length, r.prompt.tokens.length);
    last.forEach((cell, p) => {
      assert.deepEqual(cell.map((t) => t.id), r.output[p]!.map((t) => t.id), `position ${p}`);
      cell.forEach((t, k) => assert.ok(Math.abs(t.prob - r.output[p]![k]!.prob) <= 1e-6, `position ${p} rank ${k}`));
    });
    // And the model's own output here is the trace's (a third computation path).
    const ids = r.prompt.tokens.map((t) => t.id);
    const logits = (await opened.model.forward([ids], undefined, { allLogits: true })).logits[0]!;
    r.output.forEach((cell, p) => {
      const lp = logSoftmax(logits.subarray(p * 512, (p + 1) * 512));
      cell.forEach((t) => assert.ok(Math.abs(Math.log(t.prob) - lp[t.id]!) <= 1e-5));
    });
  });

  const hook = 'blocks.2.hook_resid_post';
  const prompt = 'The little girl was';
  /** Traces `prompt` at `hook` (every position), steered by `extra`. */
  async function traceAt(name: string, extra: Partial<JobParamsIn<'trace'>> = {}): Promise<{ x: Float32Array; logits: Float32Array; steering?: Awaited<ReturnType<JobRunner['run']>> }> {
    const out = path.join(root, `${name}.safetensors`);
    const r = await jobs.run('trace', { model: M, prompt, hooks: [hook], logits: 'all', out, ...extra });
    return { x: rows(out, hook).data, logits: rows(out, 'logits').data, steering: r };
  }

  let contrastFiles: { pos: string; neg: string };
  before(async () => {
    // Contrast sets as trace files (last token of each prompt), then the vector is their difference of means.
    contrastFiles = { pos: path.join(root, 'happy.safetensors'), neg: path.join(root, 'sad.safetensors') };
    await jobs.run('trace', { model: M, dataFile: happyTxt, positions: 'last', hooks: ['all'], out: contrastFiles.pos });
    await jobs.run('trace', { model: M, dataFile: sadTxt, positions: 'last', hooks: ['all'], out: contrastFiles.neg });
  });

  const METHODS: { method: SteerMethod; strength: number; target?: number; norm?: 'relative' }[] = [
    { method: 'add', strength: 1.5 },
    { method: 'add', strength: 0.4, norm: 'relative' },
    { method: 'project', strength: -0.7 },
    { method: 'ablate', strength: 1 },
    { method: 'affine', strength: 1, target: 2.5 },
    { method: 'affine', strength: 0.5, target: -0.3, norm: 'relative' },
    { method: 'angular', strength: 40 },
  ];

  for (const m of METHODS) {
    test(`${m.method} s=${m.strength}${m.norm ? ' (norm-relative)' : ''}: the steered state read back equals the formula applied by hand to the unsteered one (1e-5)`, async () => {
      const plain = await traceAt('plain');
      const steered = await traceAt(`steered-${m.method}`, {
        steerHooks: [hook], steerPositive: [contrastFiles.pos], steerNegative: [contrastFiles.neg],
        steerMethod: m.method, steerStrength: m.strength, ...(m.target !== undefined ? { steerTarget: m.target } : {}), ...(m.norm ? { steerNorm: m.norm } : {}),
      });
      const applied = (steered.steering as { steering: { hooks: { meanNorm?: number }[] } }).steering;
      // The vector, computed here from the trace files: mean(happy) − mean(sad) at the hook.
      const mean = (file: string) => {
        const t = rows(file, hook);
        return Array.from({ length: d }, (_, j) => {
          let s = 0;
          for (let r = 0; r < t.dims[0]!; r++) s += t.data[r * d + j]!;
          return s / t.dims[0]!;
        });
      };
      const [p, n] = [mean(contrastFiles.pos), mean(contrastFiles.neg)];
      const u = p.map((v, j) => v - n[j]!);
      const meanNorm = applied.hooks[0]!.meanNorm;
      if (m.norm) {
        // The mean ‖x‖ over the prompt's tokens after BOS, unsteered, computed here.
        let s = 0;
        const S = plain.x.length / d;
        for (let t = 1; t < S; t++) s += Math.hypot(...plain.x.subarray(t * d, (t + 1) * d));
        assert.ok(Math.abs(meanNorm! - s / (S - 1)) <= 1e-9 * meanNorm!, `mean norm ${meanNorm} vs ${s / (S - 1)}`);
      }
      const S = plain.x.length / d;
      for (let t = 0; t < S; t++) {
        const x = plain.x.subarray(t * d, (t + 1) * d);
        const want = steeredState(x, { method: m.method, strength: m.strength, vector: u, target: m.target ?? 0, norm: m.norm ?? 'absolute', ...(meanNorm !== undefined ? { meanNorm } : {}) });
        const scale = Math.max(1, Math.hypot(...x));
        for (let j = 0; j < d; j++) assert.ok(Math.abs(steered.x[t * d + j]! - want[j]!) <= 1e-5 * scale, `position ${t} dim ${j}: ${steered.x[t * d + j]} vs ${want[j]}`);
      }
      assert.notDeepEqual(steered.logits, plain.logits, 'the steering changes the output');
    });
  }

  test('strength 0 is bit-identical to no steering for every method: states, logits and generated text', async () => {
    const plain = await traceAt('plain0');
    const [gen] = await generateGreedy(opened.model, opened.tokenizer, [opened.tokenizer.encode(prompt, { addBos: true })], { maxNewTokens: 12 });
    for (const method of STEER_METHODS) {
      const zero = await traceAt(`zero-${method}`, { steerHooks: ['all'], steerPositive: [contrastFiles.pos], steerNegative: [contrastFiles.neg], steerMethod: method, steerStrength: 0, steerTarget: 3 });
      assert.deepEqual(zero.x, plain.x, `${method}: states`);
      assert.deepEqual(zero.logits, plain.logits, `${method}: logits`);
      const g = await jobs.run('generate', { model: M, prompt, maxNewTokens: 12, steerHooks: ['all'], steerPositive: [contrastFiles.pos], steerNegative: [contrastFiles.neg], steerMethod: method, steerStrength: 0 });
      assert.equal(g.text, gen!.text, `${method}: text`);
    }
  });

  test('a happy − sad vector (contrastive activation addition) shifts the next token towards "happy" with s > 0 and towards "sad" with s < 0', async () => {
    const tok = opened.tokenizer;
    const ctxIds = tok.encode('The little girl felt very', { addBos: true });
    const happyIds = tok.encode('happy');
    const sadIds = tok.encode('sad');
    /** log p(word | context): the word's tokens one after another. */
    const logp = async (s: number, word: number[]) => {
      const r = await jobs.run('trace', {
        model: M, ids: [...ctxIds, ...word.slice(0, -1)], logits: 'all', hooks: ['blocks.0.hook_resid_pre'], out: path.join(root, `hs-${s}.safetensors`),
        ...(s !== 0 ? { steerHooks: ['blocks.3.hook_resid_post'], steerPositive: [happyTxt], steerNegative: [sadTxt], steerStrength: s } : {}),
      });
      assert.ok(r);
      const l = rows(path.join(root, `hs-${s}.safetensors`), 'logits').data;
      let sum = 0;
      word.forEach((id, k) => (sum += logSoftmax(l.subarray((ctxIds.length - 1 + k) * 512, (ctxIds.length + k) * 512))[id]!));
      return sum;
    };
    const margin = async (s: number) => (await logp(s, happyIds)) - (await logp(s, sadIds));
    const [neg, zero, pos] = [await margin(-3), await margin(0), await margin(3)];
    assert.ok(pos > zero + 0.5, `s = +3 favours "happy": log-odds ${pos} vs ${zero} unsteered`);
    assert.ok(neg < zero - 0.5, `s = −3 favours "sad": log-odds ${neg} vs ${zero} unsteered`);
  });

  test('--steer_positions last edits only the last prompt token; every decoding step is steered (KV-cached generation equals recomputing with the edits)', async () => {
    const plain = await traceAt('plain-last');
    const last = await traceAt('steer-last', { steerHooks: [hook], steerPositive: [contrastFiles.pos], steerNegative: [contrastFiles.neg], steerStrength: 4, steerPositions: 'last' });
    const S = plain.x.length / d;
    assert.deepEqual(last.x.subarray(0, (S - 1) * d), plain.x.subarray(0, (S - 1) * d));
    assert.notDeepEqual(last.x.subarray((S - 1) * d), plain.x.subarray((S - 1) * d));
    const g = await jobs.run('generate', { model: M, prompt, maxNewTokens: 16, steerHooks: [hook], steerPositive: [contrastFiles.pos], steerNegative: [contrastFiles.neg], steerStrength: 6 });
    const edits = [{ hook, add: (() => {
      const mean = (f: string) => { const t = rows(f, hook); return Array.from({ length: d }, (_, j) => { let s = 0; for (let r = 0; r < t.dims[0]!; r++) s += t.data[r * d + j]!; return s / t.dims[0]!; }); };
      const p = mean(contrastFiles.pos); const n = mean(contrastFiles.neg);
      return Float32Array.from(p, (v, j) => 6 * (v - n[j]!));
    })() }];
    const [recomputed] = await generateGreedy(opened.model, opened.tokenizer, [opened.tokenizer.encode(prompt, { addBos: true })], { maxNewTokens: 16, edits, useKvCache: false });
    assert.equal(g.text, recomputed!.text);
    const [unsteered] = await generateGreedy(opened.model, opened.tokenizer, [opened.tokenizer.encode(prompt, { addBos: true })], { maxNewTokens: 16 });
    assert.notEqual(g.text, unsteered!.text, 'strength 6 changes the story');
  });

  test('steer-vector from prompt files is the difference of means of their traces; its GGUF and safetensors exports read back bit for bit', async () => {
    const st = path.join(root, 'hs-vec.safetensors');
    const gg = path.join(root, 'hs-vec.gguf');
    const r = await jobs.run('steer-vector', { model: M, positive: [happyTxt], negative: [sadTxt], out: st });
    assert.deepEqual(r.vectors.map((v) => v.hook), [0, 1, 2, 3, 4].map((l) => `blocks.${l}.hook_resid_post`));
    const f = openSafetensors(st);
    for (const { hook: h } of r.vectors) {
      const p = rows(contrastFiles.pos, h);
      const n = rows(contrastFiles.neg, h);
      const want = Array.from({ length: d }, (_, j) => {
        let a = 0;
        let b = 0;
        for (let k = 0; k < p.dims[0]!; k++) a += p.data[k * d + j]!;
        for (let k = 0; k < n.dims[0]!; k++) b += n.data[k * d + j]!;
        return a / p.dims[0]! - b / n.dims[0]!;
      });
      const got = f.read(h).data;
      for (let j = 0; j < d; j++) assert.ok(Math.abs(got[j]! - want[j]!) <= 1e-6, `${h} dim ${j}`);
    }
    const g = await jobs.run('steer-vector', { from: st, out: gg });
    assert.deepEqual(g.vectors.map((v) => v.layer), [1, 2, 3, 4]);
    assert.match(g.warnings.join('\n'), /blocks\.0\.hook_resid_post left out of the GGUF file/);
    const cv = readControlVectorGguf(gg);
    assert.equal(cv.modelHint, 'llama2c');
    for (const [h, v] of cv.vectors) assert.deepEqual(new Uint32Array(v.buffer), new Uint32Array(f.read(h).data.buffer), h);
    // And back to safetensors from the GGUF file: the same bits again.
    const back = path.join(root, 'hs-vec.back.safetensors');
    await jobs.run('steer-vector', { from: gg, out: back });
    for (const [h, v] of cv.vectors) assert.deepEqual(new Uint32Array(openSafetensors(back).read(h).data.buffer), new Uint32Array(v.buffer), h);
  });

  test('steer-compare: both generations, the diff and the per-token KL; a saved experiment runs again to the same result; strength 0 differs nowhere', async () => {
    const out = path.join(root, 'compare.json');
    const params = { model: M, prompt: 'Once upon a time, there was a little girl. She was', maxNewTokens: 20, steerHooks: ['blocks.3.hook_resid_post'], steerPositive: [happyTxt], steerNegative: [sadTxt], steerStrength: -4 };
    const r = await jobs.run('steer-compare', { ...params, out });
    const [base] = await generateGreedy(opened.model, opened.tokenizer, [opened.tokenizer.encode(params.prompt, { addBos: true })], { maxNewTokens: 20 });
    assert.equal(r.base.text, base!.text);
    assert.notEqual(r.steered.text, r.base.text);
    assert.equal(r.diff.filter((x) => x.op !== 'added').map((x) => x.text).join(''), r.base.text);
    assert.equal(r.diff.filter((x) => x.op !== 'removed').map((x) => x.text).join(''), r.steered.text);
    assert.equal(r.kl.length, base!.ids.length);
    assert.ok(r.kl.every((k) => k >= 0) && r.kl.some((k) => k > 0.01));
    // The KL by hand from two traces of the prompt and the unsteered continuation: row k of each
    // predicts continuation token k; KL(P_unsteered ‖ P_steered) = Σ p·(log p − log q).
    const promptIds = opened.tokenizer.encode(params.prompt, { addBos: true });
    const seq = [...promptIds, ...base!.ids.slice(0, -1)];
    const plainOut = path.join(root, 'kl-plain.safetensors');
    const steerOut = path.join(root, 'kl-steered.safetensors');
    await jobs.run('trace', { model: M, ids: seq, logits: 'all', hooks: ['blocks.0.hook_resid_pre'], out: plainOut });
    await jobs.run('trace', { model: M, ids: seq, logits: 'all', hooks: ['blocks.0.hook_resid_pre'], out: steerOut, steerHooks: params.steerHooks, steerPositive: params.steerPositive, steerNegative: params.steerNegative, steerStrength: params.steerStrength });
    const [pl, sl] = [rows(plainOut, 'logits').data, rows(steerOut, 'logits').data];
    r.kl.forEach((kl, k) => {
      const row = promptIds.length - 1 + k;
      const lp = logSoftmax(pl.subarray(row * 512, (row + 1) * 512));
      const lq = logSoftmax(sl.subarray(row * 512, (row + 1) * 512));
      let want = 0;
      for (let v = 0; v < 512; v++) want += Math.exp(lp[v]!) * (lp[v]! - lq[v]!);
      assert.ok(Math.abs(kl - want) <= 1e-5 * Math.max(1, want), `KL at token ${k}: ${kl} vs ${want}`);
    });
    const again = await jobs.run('steer-compare', { experiment: out });
    const { runFile: _a, ...first } = r;
    const { runFile: _b, ...second } = again;
    assert.deepEqual(second, first);
    const zero = await jobs.run('steer-compare', { ...params, steerStrength: 0 });
    assert.equal(zero.steered.text, zero.base.text);
    assert.ok(zero.diff.every((x) => x.op === 'same'));
    assert.ok(zero.kl.every((k) => k === 0), `KL at strength 0: ${zero.kl}`);
  });
});
