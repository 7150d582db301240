/**
 * The evaluation engine end to end on generated models (no downloads): determinism, shared-prefix
 * KV reuse against full recompute, loglik against generation on a model built so that the answer
 * format is forced, cancellation leaving a partial run file, sweeps reusing the baseline's prefix
 * KV, and the CLI as a user runs it.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEMO_BYTE_OFFSET, writeDemoModel } from '../../models/demo';
import { openSafetensors, writeSafetensors } from '../../models/safetensors';
import { writeDemoDataset } from '../../datasets';
import { openModel, type OpenedModel } from '../../runtime/openModel';
import { saveHiddenStates } from '../../runtime/cache/saveHiddenStates';
import { CancelledError } from '../../runtime/generate';
import type { InstrumentedModel, KvState } from '../../runtime/model';
import { runEvaluation, runSweep, withoutTiming, type EvalContext, type EvaluateInput } from '../../runtime/evaluate';
import type { RunFile } from '../../runtime/protocol/results';
import { runCli } from '../helpers/cli';
import { mulberry32 } from '../../models/common/prng';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir('layerlab-eval-');
const graphCacheDir = path.join(root, 'graphs');
const dataFile = path.join(root, 'layerlab-demo.json');
writeDemoDataset(dataFile);

/** Wraps a model so the test can see every forward call (rows, whether it continued a KV state). */
function spy(model: InstrumentedModel): { model: InstrumentedModel; calls: { rows: number; past: boolean }[] } {
  const calls: { rows: number; past: boolean }[] = [];
  const m = Object.create(model) as InstrumentedModel;
  m.forward = (tokens: number[][], past?: KvState, opts?: Parameters<InstrumentedModel['forward']>[2]) => {
    calls.push({ rows: tokens.length, past: past !== undefined });
    return model.forward(tokens, past, opts);
  };
  return { model: m, calls };
}

function ctxOf(opened: OpenedModel, extra: Partial<EvalContext> = {}): EvalContext {
  return { model: opened.model, tokenizer: opened.tokenizer, ...extra };
}

function read(file: string): RunFile {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as RunFile;
}

describe('evaluation on the demo model', () => {
  let opened: OpenedModel;
  let cacheRoot: string;
  const base: EvaluateInput = { dataFile, withFewshotPrompts: true, shots: 3, sampleSize: 10, batchSize: 3, maxNewTokens: 6 };

  before(async () => {
    const dir = writeDemoModel(path.join(root, 'demo'), { maxSeqLen: 2048 }).dir;
    opened = await openModel(dir, { provider: 'cpu', graphCacheDir, threads: 1 });
    cacheRoot = path.join(root, 'hs');
    await saveHiddenStates(opened, { dataFile, outputPath: cacheRoot, seed: 0, batchSize: 8, positions: 'last', dtype: 'float32', template: 'bare' });
  });
  after(async () => opened.model.release());

  test('the same spec twice gives identical run files except timings (generate and loglik)', async () => {
    for (const scoring of ['generate', 'loglik'] as const) {
      const spec: EvaluateInput = { ...base, scoring, hiddenStatesCachePath: cacheRoot, withIntervention: true, withBaseline: true, layerIndices: [1], scale: 4 };
      const a = await runEvaluation({ ...spec, out: path.join(root, `det-a-${scoring}.json`) }, ctxOf(opened));
      const b = await runEvaluation({ ...spec, out: path.join(root, `det-b-${scoring}.json`) }, ctxOf(opened));
      assert.deepEqual(withoutTiming(read(b.file)), withoutTiming(read(a.file)));
      assert.equal(a.run.complete, true);
      assert.equal(a.run.results.length, 2);
      assert.equal(a.run.spec.scoring, scoring);
      // Holdout by default: none of the evaluated records was used to compute the directions.
      const dirs = openSafetensors(a.run.spec.directions!.path).metadata;
      const train = new Set(JSON.parse(dirs.train_ids!) as string[]);
      assert.ok(a.run.spec.recordIds!.every((id) => !train.has(id)), 'evaluated records must be held out');
      assert.equal(a.run.spec.split, 'holdout');
    }
  });

  test("reusing each category's prefix KV gives the same items as recomputing every prompt, with and without edits", async () => {
    // The intervention is strong enough to change the generations: an edited run whose prefix KV
    // were computed without the edits would differ from its full recompute.
    const iv = { hiddenStatesCachePath: cacheRoot, split: 'overlap' as const, withIntervention: true, withBaseline: true, layerIndices: [0], scale: 8 };
    for (const scoring of ['generate', 'loglik'] as const) {
      const s1 = spy(opened.model);
      const reuse = await runEvaluation({ ...base, ...iv, scoring, sampleSize: 12, out: path.join(root, `reuse-${scoring}.json`) }, ctxOf(opened, { model: s1.model }));
      const s2 = spy(opened.model);
      const full = await runEvaluation({ ...base, ...iv, scoring, sampleSize: 12, noPrefixReuse: true, out: path.join(root, `full-${scoring}.json`) }, ctxOf(opened, { model: s2.model }));
      const categories = new Set(reuse.run.results[0]!.items.map((i) => i.category)).size;
      // With reuse, the only passes that start from nothing are the prefixes, one per category and run.
      assert.equal(s1.calls.filter((c) => !c.past).length, 2 * categories);
      assert.ok(s2.calls.filter((c) => !c.past).length > 2 * categories);
      assert.equal(reuse.run.spec.prefixReuse, true);
      assert.equal(full.run.spec.prefixReuse, false);
      const changed = reuse.run.results[1]!.items.filter((it, i) => (scoring === 'generate' ? it.generated !== reuse.run.results[0]!.items[i]!.generated : it.optionLogprobs!.A !== reuse.run.results[0]!.items[i]!.optionLogprobs!.A));
      assert.ok(changed.length > 0, 'the intervention must change something for this comparison to mean anything');
      for (const k of [0, 1]) {
      const [r, f] = [reuse.run.results[k]!.items, full.run.results[k]!.items];
      assert.equal(r.length, 12);
      r.forEach((it, i) => {
        assert.equal(it.id, f[i]!.id);
        assert.equal(it.parsed, f[i]!.parsed, `item ${it.id}`);
        // Same arithmetic up to summation order: generated text is equal, log-probs within 1e-4.
        if (scoring === 'generate') assert.equal(it.generated, f[i]!.generated, `item ${it.id}`);
        else for (const [L, v] of Object.entries(it.optionLogprobs!)) assert.ok(Math.abs(v - f[i]!.optionLogprobs![L]!) < 1e-4, `item ${it.id} ${L}: ${v} vs ${f[i]!.optionLogprobs![L]}`);
      });
      }
    }
  });

  test('prompts that fail the token check (a merge across the boundary) run in full and still match', async () => {
    // The demo tokenizer is byte-level; this wrapper merges "\n\nQ: W" into one token (as a BPE
    // vocabulary may), so questions starting with "W" no longer begin with the examples' tokens.
    const tok = opened.tokenizer;
    const merged = { ...tok, encode: (text: string, o?: { addBos?: boolean }) => {
      const ids = tok.encode(text, o);
      const pat = tok.encode('\n\nQ: W');
      const out: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (pat.every((p, j) => ids[i + j] === p)) {
          out.push(DEMO_BYTE_OFFSET + 1);
          i += pat.length - 1;
        } else out.push(ids[i]!);
      }
      return out;
    } };
    const c = { model: opened.model, tokenizer: merged };
    const reuse = await runEvaluation({ ...base, sampleSize: 16, out: path.join(root, 'merge-reuse.json') }, c);
    const full = await runEvaluation({ ...base, sampleSize: 16, noPrefixReuse: true, out: path.join(root, 'merge-full.json') }, c);
    const fallbacks = reuse.run.results[0]!.items.filter((i) => i.question.startsWith('W'));
    assert.ok(fallbacks.length > 0 && fallbacks.length < 16, `want a mix, got ${fallbacks.length} fallbacks`);
    assert.match(reuse.run.warnings!.join('\n'), new RegExp(`${fallbacks.length} prompt\\(s\\) do not start with their category's prefix tokens`));
    assert.deepEqual(reuse.run.results[0]!.items.map((i) => [i.id, i.generated]), full.run.results[0]!.items.map((i) => [i.id, i.generated]));
  });

  test('cancel stops within one batch and leaves a valid partial run file marked incomplete', async () => {
    const abort = new AbortController();
    const out = path.join(root, 'cancelled.json');
    const seen: number[] = [];
    await assert.rejects(
      runEvaluation({ ...base, out }, ctxOf(opened, {
        signal: abort.signal,
        onProgress: (done) => {
          seen.push(done);
          if (done >= 3) abort.abort();
        },
      })),
      CancelledError,
    );
    const run = read(out);
    assert.equal(run.complete, false);
    assert.deepEqual(run.progress, { done: 3, total: 10 });
    assert.equal(run.results.length, 1);
    assert.equal(run.results[0]!.complete, false);
    assert.equal(run.results[0]!.items.length, 3);
    assert.equal(run.results[0]!.summary.reasoning.total + run.results[0]!.summary.memorization.total, 3);
    assert.deepEqual(seen, [0, 3]);
  });

  test('progress is monotone, ends at items × runs, and the result lines are the seed\'s', async () => {
    const progress: [number, number, string][] = [];
    const lines: string[] = [];
    const o = await runEvaluation({ ...base, hiddenStatesCachePath: cacheRoot, withIntervention: true, layerIndices: [0, 1], withPostHook: true, scale: 2, out: path.join(root, 'progress.json') },
      ctxOf(opened, { onProgress: (d, t, c) => progress.push([d, t, c]), out: (l) => lines.push(l) }));
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]![0] >= progress[i - 1]![0]);
    assert.deepEqual(progress.at(-1)!.slice(0, 2), [10, 10]);
    assert.match(progress.at(-1)![2], /^post@0,1 scale=2/);
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^Layer \[0, 1\] - Reasoning Subset Accuracy: \d\.\d{4} \(\d+\/\d+\)$/);
    assert.match(lines[1]!, /^Layer \[0, 1\] - Memorizing Subset Accuracy: \d\.\d{4} \(\d+\/\d+\)$/);
    assert.deepEqual(o.lines, lines);
    assert.deepEqual(o.run.results[0]!.intervention.directionHooks, ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_post']);
  });

  test('a sweep: baseline, each grid point, random controls; no-edit runs share one prefix KV per category', async () => {
    const s = spy(opened.model);
    const o = await runSweep(
      { ...base, sampleSize: 6, hiddenStatesCachePath: cacheRoot, layerIndices: [0, 1], scales: [0, 8], randomControls: 1, out: path.join(root, 'sweep.json') },
      ctxOf(opened, { model: s.model }),
    );
    const ids = o.run.results.map((r) => r.intervention.id);
    assert.deepEqual(ids, [
      'baseline', 'post@0 scale=0', 'post@0 scale=8', 'post@1 scale=0', 'post@1 scale=8',
      'random#0 post@0 scale=0', 'random#0 post@0 scale=8', 'random#0 post@1 scale=0', 'random#0 post@1 scale=8',
    ]);
    const categories = new Set(o.run.results[0]!.items.map((i) => i.category)).size;
    // 5 runs without an active edit (baseline and every scale-0 run) compute the prefixes once;
    // the 4 edited runs compute their own.
    assert.equal(s.calls.filter((c) => !c.past).length, categories * (1 + 4));
    // Zero scale is the baseline exactly; the random control's direction is not the measured one.
    const baseItems = o.run.results[0]!.items.map((i) => i.generated);
    assert.deepEqual(o.run.results[1]!.items.map((i) => i.generated), baseItems);
    assert.deepEqual(o.run.results[5]!.items.map((i) => i.generated), baseItems);
    assert.equal(o.run.results[6]!.intervention.randomSeed, 1234);
    assert.equal(o.run.spec.command, 'sweep');
    assert.equal(o.run.spec.interventions!.length, 9);
    assert.ok(o.lines.some((l) => l.startsWith('Layer [1] (random#0 post@1 scale=8) - Reasoning Subset Accuracy:')));
  });

  test('bad input: clear errors naming what to do', async () => {
    await assert.rejects(runEvaluation({ ...base, withIntervention: true, layerIndices: [1] }, ctxOf(opened)), /needs directions: pass --direction_file, or --hidden_states_cache_path/);
    await assert.rejects(runEvaluation({ ...base, hiddenStatesCachePath: cacheRoot, withIntervention: true }, ctxOf(opened)), /needs --layer_indices/);
    await assert.rejects(runEvaluation({ ...base, hiddenStatesCachePath: cacheRoot, withIntervention: true, layerIndices: [1], withPreHook: true, withPostHook: true }, ctxOf(opened)), /both given/);
    await assert.rejects(runEvaluation({ ...base, layerIndices: [1] }, ctxOf(opened)), /only take effect with --with_intervention/);
    await assert.rejects(runEvaluation({ ...base, hiddenStatesCachePath: cacheRoot, withIntervention: true, layerIndices: [5] }, ctxOf(opened)), /block 5 does not exist; this model has blocks 0..1/);
    await assert.rejects(runEvaluation({ ...base, withCot: true, withFewshotPrompts: false }, ctxOf(opened)), /--with_cot .* add --with_fewshot_prompts/);
    await assert.rejects(runEvaluation({ ...base, hiddenStatesCachePath: path.join(root, 'nowhere') }, ctxOf(opened)), /no hidden-state cache at .*nowhere\/demo\/layerlab-demo\.safetensors/);
    // Not the demo data: the few-shot examples must come from a file.
    const copy = path.join(root, 'not-demo.json');
    fs.writeFileSync(copy, fs.readFileSync(dataFile, 'utf8').replace('Tom has 7 apples', 'Tim has 7 apples'));
    await assert.rejects(runEvaluation({ ...base, dataFile: copy }, ctxOf(opened)), /pass --fewshot_file with MMLU-Pro's validation split/);
  });
});

describe('loglik and generate agree when the answer format is forced', () => {
  let opened: OpenedModel;
  before(async () => {
    // An untied demo model whose lm_head scores only the letters A–D: rows A/B are ±k·u and C/D
    // ±k·v (u, v random), every other row 0. After any prompt one of A/B has a logit ≥ 0 = every
    // non-letter's, so greedy generation emits a letter: the one with the highest logit among
    // A–D, which is what loglik must choose too. Which letter wins varies with the prompt.
    const dir = path.join(root, 'letters');
    writeDemoModel(dir, { tied: false, maxSeqLen: 2048, seed: 5 });
    const file = path.join(dir, 'model.safetensors');
    const st = openSafetensors(file);
    const tensors = st.names.map((name) => ({ name, dtype: 'F32' as const, shape: [...st.header[name]!.shape], data: st.read(name).data }));
    const head = tensors.find((t) => t.name === 'lm_head.weight')!;
    const d = head.shape[1]!;
    const r = mulberry32(11);
    const u = Float32Array.from({ length: d }, () => r() - 0.5);
    const v = Float32Array.from({ length: d }, () => r() - 0.5);
    head.data.fill(0);
    const k = 8;
    ['A', 'B', 'C', 'D'].forEach((L, i) => {
      const row = (DEMO_BYTE_OFFSET + L.charCodeAt(0)) * d;
      const src = i < 2 ? u : v;
      const sign = i % 2 === 0 ? 1 : -1;
      for (let j = 0; j < d; j++) head.data[row + j] = sign * k * src[j]!;
    });
    writeSafetensors(file, tensors, { format: 'pt' });
    opened = await openModel(dir, { provider: 'cpu', graphCacheDir, threads: 1 });
  });
  after(async () => opened.model.release());

  for (const fewshot of [false, true]) {
    test(fewshot ? 'with 3-shot examples (prefix KV reused)' : 'zero-shot', async () => {
      const spec: EvaluateInput = {
        dataFile, template: 'Q: {question}\\n{options}\\nA: The answer is (', sampleSize: 24, batchSize: 4, maxNewTokens: 3,
        split: 'overlap', withFewshotPrompts: fewshot, shots: 3,
      };
      const gen = await runEvaluation({ ...spec, scoring: 'generate', out: path.join(root, `agree-gen-${fewshot}.json`) }, ctxOf(opened));
      const ll = await runEvaluation({ ...spec, scoring: 'loglik', out: path.join(root, `agree-ll-${fewshot}.json`) }, ctxOf(opened));
      const g = gen.run.results[0]!.items;
      const l = ll.run.results[0]!.items;
      assert.ok(g.every((i) => !i.unparsed), `every generation starts with a letter: ${g.map((i) => JSON.stringify(i.generated)).join(' ')}`);
      assert.deepEqual(l.map((i) => i.parsed), g.map((i) => i.parsed));
      assert.ok(new Set(g.map((i) => i.parsed)).size >= 2, 'the chosen letter must vary, or agreement says little');
      assert.deepEqual(ll.run.results[0]!.summary, gen.run.results[0]!.summary);
      assert.equal(ll.run.spec.answerCue, 'The answer is (');
    });
  }
});

describe('layerlab evaluate on the command line', () => {
  const env = { LAYERLAB_CACHE_DIR: path.join(root, 'cli-cache') };
  const model = writeDemoModel(path.join(root, 'cli-demo')).dir;

  test("prints the seed's lines and writes the run file", () => {
    const out = path.join(root, 'cli-run.json');
    const r = runCli(['evaluate', '--model', model, '--data-file', 'demo', '--sample-size', '6', '--max-new-tokens', '4', '--batch-size', '3', '--out', out], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Layer None - Reasoning Subset Accuracy: \d\.\d{4} \(\d+\/\d+\)\nLayer None - Memorizing Subset Accuracy: \d\.\d{4} \(\d+\/\d+\)\n$/);
    const run = read(out);
    assert.equal(run.complete, true);
    assert.equal(run.spec.data.name, 'layerlab-demo');
    assert.deepEqual(run.spec.argv.slice(0, 2), ['--model', model]);
    assert.match(r.stderr, /run file: /);
  });

  test('bad input exits non-zero with a message', () => {
    const r = runCli(['evaluate', '--model', model, '--data-file', dataFile, '--with_intervention', '--layer_indices', '1'], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /layerlab evaluate: error: an intervention needs directions/);
    const u = runCli(['evaluate', '--model', model, '--scoring', 'vibes'], env);
    assert.equal(u.status, 2);
    assert.match(u.stderr, /--scoring must be generate or loglik/);
    const missing = runCli(['evaluate', '--model', model, '--test_data_path', root, '--test_data_name', 'nope'], env);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no test data file .*nope\.json/);
  });
});
