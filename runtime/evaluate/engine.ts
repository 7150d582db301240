/**
 * The evaluation engine behind `layerlab evaluate`, `layerlab sweep` and the runtime server's
 * jobs: it prepares the records and prompts once, then runs every intervention over them,
 * writing one run file.
 *
 * What it reuses, and why that is exact:
 * - prompts are rendered and tokenized once per run (they do not depend on the intervention);
 * - the KV cache of each category's shared few-shot prefix is computed once per (intervention,
 *   category) and replicated over every batch of that category. Attention is causal, so the
 *   prefix's keys and values do not depend on what follows it; they do depend on the edits
 *   (which apply at the prefix's positions too), so an edited run computes its own, while every
 *   run without an active edit shares the baseline's. The prompts' tokens are checked to start
 *   with the prefix's tokens; prompts where a merge across the boundary breaks that run in full.
 * Reused or not, a prompt goes through the same arithmetic up to floating-point summation order
 * (the prefix and the rest are separate matrix products instead of one), so logits agree to
 * ~1e-5 and greedy outputs are identical unless two tokens tie within that.
 */
import * as fs from 'node:fs';
import { scoreItem, type MmluProFewShot } from '../../datasets';
import { acquireOutputLock } from '../../models/common/lock';
import type { OpenedModel } from '../openModel';
import type { ModelTokenizer } from '../../models/load';
import { CancelledError, generateGreedy } from '../generate';
import { selectRows, type InstrumentedModel, type KvState } from '../model';
import { runFileSchema, type InterventionResult, type RunFile, type RunItem, type RunSpec } from '../protocol/results';
import { LAYERLAB_VERSION } from '../version';
import { loadFewShot, loadTestData, selectRecords, type Selection, type TestData } from './data';
import { modelNameOf, resolveDirections, type DirectionSource } from './directions';
import type { PlannedIntervention } from './interventions';
import type { LongPromptPolicy } from '../protocol/jobs';
import { EvaluateError, type CommonEvalOptions, type Scoring, type SplitMode } from './options';
import {
  ANSWER_CUE,
  FEWSHOT_STOP,
  planBatches,
  preparePrompts,
  resolveTemplate,
  templateName,
  type EvalTemplate,
  type PreparedItem,
  type PreparedPrompts,
  type SharedPrefix,
} from './prompts';
import { runFilePath, seedLines, summarise, writeRunFileAtomic } from './runFile';
import { parseShard, shardRange } from '../protocol/shards';
import { partFileFor } from '../shards/paths';

/** What the caller provides besides the options: the opened model and how to report. */
export interface EvalContext {
  model: InstrumentedModel;
  tokenizer: ModelTokenizer;
  /** The opened model itself: steering (--steer_*) loads its vectors and contrast sets through it. */
  opened?: OpenedModel;
  /** Aborting stops the run within one batch; a partial run file (complete: false) is left. */
  signal?: AbortSignal;
  /** Items done over all interventions, and which intervention / category is running. */
  onProgress?: (done: number, total: number, current: string) => void;
  /** One-line status messages (stderr in the CLI, the log channel in the editor). */
  log?: (msg: string) => void;
  /** Each finished intervention's result lines, as the seed printed them (stdout in the CLI). */
  out?: (line: string) => void;
}

export interface EvalOutcome {
  /** The run file written. */
  file: string;
  run: RunFile;
  /** Every seed-style result line, in order. */
  lines: string[];
}

/** Everything prepared once and shared by every intervention of a run. */
export interface RunSetup {
  options: CommonEvalOptions;
  data: TestData;
  selection: Selection;
  /** The directions of the run (a sweep may have several files); the first is the primary one. */
  directions: DirectionSource[];
  template: EvalTemplate;
  fewshot?: MmluProFewShot;
  prompts: PreparedPrompts;
  scoring: Scoring;
  split: SplitMode;
  sampleSize: number;
  seed: number;
  batchSize: number;
  maxNewTokens: number;
  stopStrings: string[];
  prefixReuse: boolean;
  modelName: string;
  warnings: string[];
  /** Records whose prompts did not fit the context, and what was done with them. */
  longPrompts: LongPromptReport;
}

export interface LongPromptReport {
  policy: LongPromptPolicy;
  skipped: { id: string; tokens: number }[];
  truncated: { id: string; tokens: number }[];
}

/**
 * Prompts longer than the context, before any work: refused naming how many (the default), left
 * out of the selection, or cut to their last tokens (losing the shared few-shot prefix, so they
 * run in full). A prompt needs room for its tokens plus one generated token, or plus the longest
 * option continuation with loglik scoring.
 */
function fitLongPrompts(prompts: PreparedPrompts, selection: Selection, maxSeqLen: number, policy: LongPromptPolicy): LongPromptReport {
  const extra = (it: PreparedItem) => (it.options ? Math.max(...it.options.map((x) => x.cont.length)) : 1);
  const long = prompts.items.filter((it) => it.tokens.length + extra(it) > maxSeqLen);
  const report: LongPromptReport = { policy, skipped: [], truncated: [] };
  if (long.length === 0) return report;
  const listed = long.slice(0, 5).map((it) => `${it.record.id} (${it.tokens.length} tokens)`).join(', ');
  if (policy === 'error') {
    throw new EvaluateError(
      `${long.length} of ${prompts.items.length} prompts are longer than the model's context of ${maxSeqLen} tokens: ${listed}${long.length > 5 ? ', …' : ''}; ` +
        'pass --on_long_prompt skip (leave them out) or truncate-left (keep their last tokens), drop --with_fewshot_prompts, or use a model with a longer context',
    );
  }
  if (policy === 'skip') {
    const out = new Set(long.map((it) => it.index));
    report.skipped = long.map((it) => ({ id: it.record.id, tokens: it.tokens.length }));
    const kept = prompts.items.filter((it) => !out.has(it.index));
    // Items are numbered by their position in the selection: renumber both together.
    selection.records = selection.records.filter((_, i) => !out.has(i));
    kept.forEach((it, i) => (it.index = i));
    prompts.items.splice(0, prompts.items.length, ...kept);
    return report;
  }
  for (const it of long) {
    report.truncated.push({ id: it.record.id, tokens: it.tokens.length });
    it.tokens = it.tokens.slice(it.tokens.length - (maxSeqLen - extra(it)));
    it.sharedLen = 0;
    it.prefixKey = null;
  }
  return report;
}

/**
 * Loads the data, directions and prompts. `needDirections`: some intervention edits along them.
 * `directionFiles`: a sweep's several directions files (instead of --direction_file / the cache).
 * The options arrive checked against the job's schema, with its defaults.
 */
export async function prepareRun(o: CommonEvalOptions, ctx: EvalContext, needDirections: boolean, directionFiles?: string[]): Promise<RunSetup> {
  const log = ctx.log ?? (() => {});
  const { model, tokenizer } = ctx;
  const { scoring, split, sampleSize, seed, batchSize, maxNewTokens } = o;
  const holdout = o.directionsHoldout;

  const data = await loadTestData(o);
  const warnings: string[] = [...(data.dataset.warnings ?? [])];
  for (const w of data.dataset.warnings ?? []) log(`warning: ${w}`);
  const modelName = modelNameOf(model.spec.source);

  const where = { modelName, testDataName: data.name, seed, holdout };
  const directions: DirectionSource[] = directionFiles?.length
    ? directionFiles.map((f) => resolveDirections({ ...o, directionFile: f }, where, log)!)
    : [resolveDirections(o, where, log)].filter((d): d is DirectionSource => d !== undefined);
  // A block index means something else under other architecture options (huginn's num_steps):
  // directions measured at one setting must not be applied at another.
  const modelOptions = JSON.stringify(ctx.model.spec.options);
  for (const d of directions) {
    const recorded = d.loaded.metadata.model_options;
    if (recorded !== undefined && recorded !== modelOptions) {
      // Another model altogether is the cause to name, not the options that follow from it.
      const mh = d.loaded.metadata.model_hash;
      if (mh && mh !== model.spec.contentHash) {
        throw new EvaluateError(
          `${d.file} was computed from another model (hash ${mh.slice(0, 12)}…, this model ${model.spec.contentHash.slice(0, 12)}…), ` +
            `whose block indices mean other blocks (model options ${recorded}, this model ${modelOptions}): compute directions from this model's hidden states.`,
        );
      }
      throw new EvaluateError(
        `${d.file} was computed with model options ${recorded}, but the model is open with ${modelOptions}: ` +
          'block indices differ between them. Open the model with the same options (e.g. --num_steps), or recompute the directions.',
      );
    }
  }
  if (needDirections && directions.length === 0) {
    throw new EvaluateError('an intervention needs directions: pass --direction_file, or --hidden_states_cache_path (the cache of save-hidden-states)');
  }
  for (const d of directions) {
    const mh = d.loaded.metadata.model_hash;
    if (mh && mh !== model.spec.contentHash) {
      const w = `the directions in ${d.file} were computed from another model (hash ${mh.slice(0, 12)}…, this model ${model.spec.contentHash.slice(0, 12)}…)`;
      warnings.push(w);
      log(`warning: ${w}`);
    }
  }
  const selection = selectRecords(data, { split, sampleSize, seed }, directions.map((d) => ({ trainIds: d.loaded.trainIds, dataName: d.dataName, dataHash: d.dataHash })));
  log(`evaluating ${selection.records.length} records of ${data.name} (${split}: ${selection.split.pool} eligible of ${selection.split.labelled} labelled` +
    `${selection.split.excluded ? `, ${selection.split.excluded} used by the directions left out` : ''})`);

  const template = resolveTemplate(o.template, tokenizer, o.system);
  const fewshotWanted = o.withFewshotPrompts ?? false;
  if (o.withCot && !fewshotWanted) throw new EvaluateError('--with_cot changes the few-shot prompt: add --with_fewshot_prompts (the seed used CoT only with few-shot examples)');
  const needsMmluShots = fewshotWanted && template.kind !== 'bare' && selection.records.some((r) => r.options.length > 0);
  const fewshot = needsMmluShots ? await loadFewShot(o, data) : undefined;
  const prompts = preparePrompts(selection.records, {
    dataset: data.dataset, template, tokenizer, fewshot: fewshotWanted, cot: o.withCot ?? false, mmluFewShot: fewshot, scoring,
  });
  const prefixReuse = !o.noPrefixReuse;
  if (prompts.prefixFallbacks.length) {
    const w = `${prompts.prefixFallbacks.length} prompt(s) do not start with their category's prefix tokens (a token spans the boundary) and run in full: ${prompts.prefixFallbacks.slice(0, 10).join(', ')}${prompts.prefixFallbacks.length > 10 ? ', …' : ''}`;
    warnings.push(w);
    log(`note: ${w}`);
  }
  const longPrompts = fitLongPrompts(prompts, selection, model.spec.maxSeqLen, o.onLongPrompt);
  if (longPrompts.skipped.length || longPrompts.truncated.length) {
    const w = longPrompts.skipped.length
      ? `${longPrompts.skipped.length} record(s) left out: their prompts are longer than the model's context of ${model.spec.maxSeqLen} tokens (--on_long_prompt skip)`
      : `${longPrompts.truncated.length} prompt(s) cut to their last tokens to fit the model's context of ${model.spec.maxSeqLen} (--on_long_prompt truncate-left)`;
    warnings.push(w);
    log(`warning: ${w}`);
  }
  // The seed's stop strings were the model's end-of-text / end-of-turn strings (EOS ids stop too).
  // Few-shot prompts add "\n\nQ:": a model that has answered goes on to write the next question.
  const extra = o.stop ?? (fewshotWanted ? [FEWSHOT_STOP] : []);
  const stopStrings = [...new Set([...(tokenizer.stopStrings ?? []), ...extra])];
  return {
    options: o, data, selection, directions, template, fewshot, prompts, scoring, split, sampleSize, seed, batchSize, maxNewTokens,
    stopStrings, prefixReuse, modelName, warnings, longPrompts,
  };
}

/**
 * What an interrupted run of the same experiment left in its run file: the interventions it
 * finished, in order, and the finished batches of the one it was on. The file name hashes the
 * experiment, so a partial file there is normally ours; its spec is still compared (argv aside)
 * and anything that does not match is started afresh. Results are kept as the file holds them,
 * so the finished file equals an uninterrupted run's apart from timings.
 */
function resumableRun(
  file: string,
  identity: Omit<RunSpec, 'argv'>,
  interventions: PlannedIntervention[],
  log: (m: string) => void,
): { results: InterventionResult[]; partial?: InterventionResult } | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined; // no file yet (or a damaged one, which the run replaces)
  }
  const parsed = runFileSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  const prev = raw as RunFile;
  if (prev.complete) return undefined;
  const { argv: _a, ...prevIdentity } = prev.spec;
  if (JSON.stringify(prevIdentity) !== JSON.stringify(identity)) {
    log(`the partial run file ${file} holds another experiment; starting afresh`);
    return undefined;
  }
  const results: InterventionResult[] = [];
  let partial: InterventionResult | undefined;
  for (const [k, r] of prev.results.entries()) {
    if (r.intervention.id !== interventions[k]?.spec.id) return undefined;
    if (r.complete === false) {
      partial = r;
      break;
    }
    results.push(r);
  }
  const n = results.reduce((a, r) => a + r.items.length, 0) + (partial?.items.length ?? 0);
  if (n > 0) log(`resuming ${file}: ${results.length} intervention(s) finished, ${n} item(s) kept`);
  return { results, ...(partial ? { partial } : {}) };
}

/** The run's spec: enough to run it again (argv is the exact command). */
function runSpec(command: 'evaluate' | 'sweep', s: RunSetup, model: InstrumentedModel, interventions: PlannedIntervention[]): RunSpec {
  const spec: RunSpec = {
    command,
    model: { path: model.spec.source, contentHash: model.spec.contentHash, modelType: model.spec.modelType, options: { ...model.spec.options }, weights: model.spec.precision },
    data: { path: s.data.dataset.file, contentHash: s.data.dataset.contentHash, name: s.data.name, kind: s.data.dataset.kind },
    split: s.split,
    sampleSize: s.sampleSize,
    seed: s.seed,
    prompt: {
      template: templateName(s.template),
      fewshot: s.options.withFewshotPrompts ?? false,
      cot: s.options.withCot ?? false,
      ...(s.fewshot?.source ? { fewshotSource: s.fewshot.source.file } : {}),
      ...(s.fewshot ? { shots: s.fewshot.shots, fewshotExamples: s.fewshot.describe().examples } : {}),
    },
    scoring: s.scoring,
    maxNewTokens: s.maxNewTokens,
    batchSize: s.batchSize,
    stopStrings: s.stopStrings,
    argv: s.options.argv ?? [],
    interventions: interventions.map((i) => i.spec),
    splitDetail: {
      labelled: s.selection.split.labelled, excluded: s.selection.split.excluded, pool: s.selection.split.pool,
      ...(s.selection.split.directionsDataName ? { directionsDataName: s.selection.split.directionsDataName } : {}),
      ...(s.selection.split.note ? { note: s.selection.split.note } : {}),
    },
    recordIds: s.selection.records.map((r) => r.id),
    ...(s.longPrompts.skipped.length || s.longPrompts.truncated.length ? { longPrompts: s.longPrompts } : {}),
    prefixReuse: s.prefixReuse,
    extraction: s.options.lenient ? 'lenient' : 'seed',
  };
  if (s.directions[0]) spec.directions = { path: s.directions[0].file, contentHash: s.directions[0].contentHash };
  if (s.data.dataset.labelRule) spec.labelRule = s.data.dataset.labelRule;
  if (s.scoring === 'loglik') spec.answerCue = ANSWER_CUE;
  return spec;
}

/**
 * `--shard i/N`: this part's share of the batches (contiguous, whole batches, in the order one
 * unsharded run runs them, so each batch is composed exactly as there), and where the part and
 * the merged run go. The spec records which part this is (runtime/shards/runParts.ts merges).
 */
function shardOf(command: 'evaluate' | 'sweep', s: RunSetup, spec: RunSpec, target: string) {
  if (s.options.shard === undefined) return undefined;
  const shard = parseShard(s.options.shard);
  spec.shard = { ...shard, target };
  return {
    file: partFileFor(command, s.options, shard),
    batches: <T>(batches: T[]): T[] => batches.slice(...shardRange(batches.length, shard)),
  };
}

function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - lse);
}

/**
 * Runs the interventions in order over the prepared prompts and writes the run file (partial
 * ones along the way and on cancel, the complete one at the end).
 */
export async function executeRun(command: 'evaluate' | 'sweep', s: RunSetup, interventions: PlannedIntervention[], ctx: EvalContext): Promise<EvalOutcome> {
  const { model, tokenizer } = ctx;
  const log = ctx.log ?? (() => {});
  const t0 = Date.now();
  const spec = runSpec(command, s, model, interventions);
  // The file name hashes what defines the experiment (not the argv's spelling of it, nor which part).
  const { argv: _argv, shard: _shard, ...identity } = spec;
  const target = runFilePath(s.options, { modelName: s.modelName, dataName: s.data.name, command, identity });
  const shard = shardOf(command, s, spec, target);
  const file = shard?.file ?? target;
  const planned = planBatches(s.prompts.items, s.batchSize);
  const batches = shard ? shard.batches(planned) : planned;
  const nItems = batches.reduce((a, b) => a + b.length, 0);
  const total = nItems * interventions.length;
  const results: InterventionResult[] = [];
  const lines: string[] = [];
  const qualify = command === 'sweep' || interventions.filter((i) => i.spec.kind !== 'none').length > 1;
  let done = 0;
  let lastWrite = Date.now();
  const checkpointMs = s.options.checkpointSeconds * 1000;
  // Prefix KV per `${editKey}|${prefixKey}`. Runs without edits share theirs across the whole
  // run when there are several such runs; an edited run's entries are dropped when it ends.
  const prefixKv = new Map<string, KvState>();
  const noEditRuns = interventions.filter((i) => i.editKey === 'none').length;

  const snapshot = (complete: boolean, current?: InterventionResult): RunFile => {
    const secs = (Date.now() - t0) / 1000;
    const all = current ? [...results, current] : results;
    return {
      format: 'layerlab-run', version: 1, layerlabVersion: LAYERLAB_VERSION, createdAt: new Date(t0).toISOString(), complete,
      spec, provider: model.provider.provider, progress: { done, total }, results: all,
      timing: { totalSeconds: secs, itemsPerSecond: secs > 0 ? done / secs : 0 },
      ...(s.warnings.length ? { warnings: s.warnings } : {}),
    };
  };

  // One writer per run file: the same experiment started twice (the palette and a terminal) would
  // otherwise interleave snapshots of two runs in one file.
  const lock = acquireOutputLock(file, 'run file', { hint: 'choose a writable --out or --output_path' });
  try {
    return await runLocked();
  } finally {
    lock.release();
  }

  async function runLocked(): Promise<EvalOutcome> {
    log(`${interventions.length} run(s) × ${nItems} items, ${batches.length} batch(es) each, scoring ${s.scoring}; run file ${file}`);
    const resumed = resumableRun(file, identity, interventions, log);
    const indexOf = new Map(s.prompts.items.map((it) => [it.record.id, it.index]));
    const kept = resumed ? resumed.results.reduce((a, r) => a + r.items.length, 0) + (resumed.partial?.items.length ?? 0) : 0;
    ctx.onProgress?.(kept, total, kept ? 'resumed' : (interventions[0]?.spec.id ?? ''));
    for (const [k, iv] of interventions.entries()) {
      const ti = Date.now();
      const earlier = resumed?.results[k];
      if (earlier) {
        // Finished before the interruption: the same spec gives the same items, so keep them.
        results.push(earlier);
        done += earlier.items.length;
        for (const line of seedLines(earlier, { qualify })) {
          lines.push(line);
          ctx.out?.(line);
        }
        ctx.onProgress?.(done, total, `${iv.spec.id} (resumed)`);
        continue;
      }
      // Indexed by the item's place in the whole run; a part fills only its own.
      const items: (RunItem | undefined)[] = new Array(s.prompts.items.length);
      // The intervention the interruption fell in: its finished batches are kept.
      if (resumed?.partial && k === resumed.results.length) {
        for (const item of resumed.partial.items) items[indexOf.get(item.id)!] = item;
        done += resumed.partial.items.length;
      }
      const partial = (): InterventionResult => {
        const doneItems = items.filter((x): x is RunItem => x !== undefined);
        return { intervention: iv.spec, summary: summarise(doneItems), items: doneItems, seconds: (Date.now() - ti) / 1000, complete: false };
      };
      const fwd = { edits: iv.edits, forceEditGraph: iv.forceEditGraph };
      const prefixFor = async (p: SharedPrefix): Promise<KvState> => {
        const key = `${iv.editKey}|${p.key}`;
        let kv = prefixKv.get(key);
        if (!kv) {
          // Only one edited prefix is alive at a time (batches are grouped by prefix).
          for (const k of prefixKv.keys()) if (!k.startsWith('none|')) prefixKv.delete(k);
          kv = (await model.forward([p.tokens], undefined, fwd)).kv;
          prefixKv.set(key, kv);
        }
        return kv;
      };
      try {
        for (const batch of batches) {
          if (ctx.signal?.aborted) throw new CancelledError();
          if (batch.every((it) => items[it.index] !== undefined)) continue;
          const prefix = s.prefixReuse && batch[0]!.sharedLen > 0 ? s.prompts.prefixes.get(batch[0]!.prefixKey!)! : undefined;
          const past = prefix ? selectRows(await prefixFor(prefix), batch.map(() => 0)) : undefined;
          const start = (it: PreparedItem) => (prefix ? it.sharedLen : 0);
          const out = s.scoring === 'generate'
            ? await generateBatch(model, tokenizer, batch, past, start, s, iv, ctx.signal)
            : await loglikBatch(model, batch, past, start, fwd);
          out.forEach((item, i) => (items[batch[i]!.index] = item));
          done += batch.length;
          ctx.onProgress?.(done, total, `${iv.spec.id}${batch[0]!.group ? `, ${batch[0]!.group}` : ''}`);
          if (Date.now() - lastWrite >= checkpointMs) {
            writeRunFileAtomic(file, snapshot(false, partial()));
            lastWrite = Date.now();
          }
        }
      } catch (e) {
        // Cancelled or failed: what was evaluated so far stays readable, marked incomplete.
        try {
          writeRunFileAtomic(file, snapshot(false, partial()));
          log(`${e instanceof CancelledError ? 'cancelled' : 'stopped by an error'}: partial run file (complete: false) ${file}`);
        } catch {
          // The original error matters more than a failed partial write.
        }
        throw e;
      }
      if (!(iv.editKey === 'none' && noEditRuns > 1)) {
        for (const k of [...prefixKv.keys()]) if (k.startsWith(`${iv.editKey}|`)) prefixKv.delete(k);
      }
      const finished = items.filter((x): x is RunItem => x !== undefined);
      const result: InterventionResult = { intervention: iv.spec, summary: summarise(finished), items: finished, seconds: (Date.now() - ti) / 1000 };
      results.push(result);
      for (const line of seedLines(result, { qualify })) {
        lines.push(line);
        ctx.out?.(line);
      }
      writeRunFileAtomic(file, snapshot(false));
      lastWrite = Date.now();
    }
    const run = snapshot(true);
    writeRunFileAtomic(file, run);
    log(`run file: ${file}`);
    return { file, run, lines };
  }
}

function baseItem(it: PreparedItem): Omit<RunItem, 'parsed' | 'correct'> {
  const r = it.record;
  const item: Omit<RunItem, 'parsed' | 'correct'> = {
    id: r.id,
    subset: r.label,
    question: r.question,
    expected: r.answer ?? (r.aliases ?? []).join(' | '),
    promptHash: it.promptHash,
    promptTokens: it.tokens.length,
  };
  if (r.category !== undefined) item.category = r.category;
  return item;
}

async function generateBatch(
  model: InstrumentedModel,
  tokenizer: ModelTokenizer,
  batch: PreparedItem[],
  past: KvState | undefined,
  start: (it: PreparedItem) => number,
  s: RunSetup,
  iv: PlannedIntervention,
  signal?: AbortSignal,
): Promise<RunItem[]> {
  const gens = await generateGreedy(model, tokenizer, batch.map((it) => it.tokens.slice(start(it))), {
    maxNewTokens: s.maxNewTokens,
    stopStrings: s.stopStrings,
    edits: iv.edits,
    forceEditGraph: iv.forceEditGraph,
    past,
    signal,
  });
  return batch.map((it, i) => {
    const g = gens[i]!;
    const score = scoreItem(it.record, it.scorePrefix + g.text, { lenient: s.options.lenient });
    return { ...baseItem(it), generated: g.text, parsed: score.parsed, correct: score.correct, unparsed: score.unparsed, stopReason: g.stopReason, newTokens: g.ids.length };
  });
}

/**
 * Log-probability of each option letter after the prompt and the answer cue. Usually each
 * letter is one token, read from the logits of one forward pass; when the tokenizer splits a
 * letter's continuation into several tokens, their log-probabilities are summed (one more pass
 * over the continuations, continuing from the prompt's KV).
 */
async function loglikBatch(
  model: InstrumentedModel,
  batch: PreparedItem[],
  past: KvState | undefined,
  start: (it: PreparedItem) => number,
  fwd: { edits: PlannedIntervention['edits']; forceEditGraph?: boolean },
): Promise<RunItem[]> {
  const r = await model.forward(batch.map((it) => it.tokens.slice(start(it))), past, fwd);
  const V = model.spec.vocabSize;
  const out: RunItem[] = [];
  for (const [b, it] of batch.entries()) {
    const lp0 = logSoftmax(r.logits[b]!);
    const options = it.options!;
    const scores = options.map((o) => lp0[o.cont[0]!]!);
    const longer = options.map((o, i) => ({ o, i })).filter(({ o }) => o.cont.length > 1);
    if (longer.length) {
      const kv = selectRows(r.kv, longer.map(() => b));
      const f = await model.forward(longer.map(({ o }) => o.cont.slice(0, -1)), kv, { ...fwd, allLogits: true });
      longer.forEach(({ o, i }, j) => {
        for (let t = 0; t + 1 < o.cont.length; t++) scores[i] += logSoftmax(f.logits[j]!.subarray(t * V, (t + 1) * V))[o.cont[t + 1]!]!;
      });
    }
    let best = 0;
    for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
    const parsed = options[best]!.letter;
    out.push({
      ...baseItem(it),
      parsed,
      correct: parsed === it.record.answer,
      unparsed: false,
      optionLogprobs: Object.fromEntries(options.map((o, i) => [o.letter, scores[i]!])),
    });
  }
  return out;
}
