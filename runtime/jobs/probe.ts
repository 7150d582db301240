/**
 * The interactive probing jobs: trace, logit-lens, projection, steer-compare and steer-vector
 * (runtime/protocol/jobs.ts defines their params and results; the engines are in runtime/probe/
 * and runtime/steering/).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../models/common/files';
import { acquireOutputLock } from '../../models/common/lock';
import { modelProvenance } from '../cache/provenance';
import { resolveHooks } from '../cache/saveHiddenStates';
import type { OpenedModel } from '../openModel';
import { cliLine, toArgv, UsageError } from '../protocol/argv';
import { JOBS, steerCompareJob, type JobParams } from '../protocol/jobs';
import { STEER_COMPARE_FORMAT, steerCompareResultSchema, type SteerCompareResult } from '../protocol/probe';
import { wantsSteering } from '../protocol/steering';
import { compareSteering } from '../probe/compare';
import { logitLens } from '../probe/lens';
import { probePrompts } from '../probe/prompts';
import { projectTokens } from '../probe/projection';
import { tokenSpans } from '../probe/tokens';
import { tracePrompts, writeTraceFile } from '../probe/trace';
import { controlLayerOf, writeControlVectorGguf, writeSteeringSafetensors } from '../steering/controlVector';
import { contrastMeans, planSteering } from '../steering/plan';
import { loadVectorSet, type VectorFlags } from '../steering/vectors';
import type { JobContext, JobHandler } from './context';

function checkedHooks(spec: string[] | undefined, nBlocks: number, flag: string, fallback: string[]): string[] {
  try {
    return resolveHooks(spec?.length ? spec : fallback, nBlocks);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

function blockLabel(opened: OpenedModel, hook: string): string {
  const m = /^blocks\.(\d+)\.hook_resid_(pre|post)$/.exec(hook)!;
  const b = opened.model.spec.blocks[Number(m[1])]!;
  return `${b.label} ${m[2]}`;
}

/** One prompt for the single-prompt jobs. */
async function onePrompt(p: Parameters<typeof probePrompts>[0], ctx: JobContext, opened: OpenedModel): Promise<number[]> {
  const { prompts } = await probePrompts(p, ctx, opened.tokenizer, opened.checkpoint.path);
  return prompts[0]!.ids;
}

function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function writeCsv(file: string, rows: (string | number)[][]): string {
  const abs = path.resolve(file);
  writeFileAtomic(abs, rows.map((r) => r.map(csvCell).join(',')).join('\n') + '\n');
  return abs;
}

export const traceHandler: JobHandler<'trace'> = async (p, ctx) => {
  const opened = await ctx.openModel(p);
  const { model, tokenizer } = opened;
  const hooks = checkedHooks(p.hooks, model.spec.nBlocks, '--hooks', ['all']);
  const { prompts, provenance } = await probePrompts(p, ctx, tokenizer, opened.checkpoint.path);
  const steering = await planSteering(opened, p, { normPrompts: prompts.map((x) => x.ids), signal: ctx.signal });
  for (const [i, pr] of prompts.entries()) {
    if (pr.ids.length > model.spec.maxSeqLen) throw new UsageError(`prompt ${i} (${pr.id}) has ${pr.ids.length} tokens, longer than the model's context of ${model.spec.maxSeqLen}`);
  }
  const file = path.resolve(p.out);
  const lock = acquireOutputLock(file, 'trace file', { hint: 'choose another --out' });
  try {
    ctx.progress(0, prompts.length, 'tracing');
    const traced = await tracePrompts(model, prompts.map((x) => x.ids), {
      hooks,
      positions: p.positions,
      logits: p.logits,
      batchSize: p.batchSize,
      edits: steering?.edits,
      editPositions: steering?.positions,
      signal: ctx.signal,
      onProgress: (done, total) => ctx.progress(done, total, 'prompts'),
    });
    const { rows } = writeTraceFile({
      file,
      hooks,
      positions: p.positions,
      logits: p.logits,
      topK: p.topK,
      dModel: model.spec.dModel,
      vocabSize: model.spec.vocabSize,
      prompts,
      traced,
      tokenizer,
      metadata: { ...modelProvenance(opened), ...provenance, ...(steering ? { steering: JSON.stringify(steering.applied) } : {}) },
    });
    return {
      file,
      prompts: prompts.length,
      rows,
      hooks,
      positions: p.positions,
      logits: p.logits,
      tokens: prompts.reduce((a, x) => a + x.ids.length, 0),
      ...(steering ? { steering: steering.applied } : {}),
    };
  } finally {
    lock.release();
  }
};

export const logitLensHandler: JobHandler<'logit-lens'> = async (p, ctx) => {
  const opened = await ctx.openModel(p);
  const { model, tokenizer } = opened;
  const nBlocks = model.spec.nBlocks;
  const hooks = checkedHooks(p.hooks, nBlocks, '--hooks', ['blocks.0.hook_resid_pre', 'post']);
  const ids = await onePrompt(p, ctx, opened);
  const steering = await planSteering(opened, p, { normPrompts: [ids], signal: ctx.signal });
  ctx.progress(0, 1, 'logit lens');
  const grid = await logitLens(model, tokenizer, ids, { hooks, topK: p.topK, edits: steering?.edits, editPositions: steering?.positions });
  ctx.progress(1, 1);
  const { text, spans } = tokenSpans(tokenizer, ids);
  const labels = hooks.map((h) => blockLabel(opened, h));
  let file: string | undefined;
  if (p.out) {
    const rows: (string | number)[][] = [['hook', 'label', 'position', 'token_id', 'token', 'rank', 'top_id', 'top_piece', 'probability']];
    grid.cells.forEach((row, h) =>
      row.forEach((cell, pos) => cell.forEach((t, rank) => rows.push([hooks[h]!, labels[h]!, pos, ids[pos]!, spans[pos]!.piece, rank + 1, t.id, t.piece, t.prob]))),
    );
    grid.output.forEach((cell, pos) => cell.forEach((t, rank) => rows.push(['output', 'model output', pos, ids[pos]!, spans[pos]!.piece, rank + 1, t.id, t.piece, t.prob])));
    file = writeCsv(p.out, rows);
  }
  return {
    prompt: { text, tokens: spans },
    hooks,
    labels,
    cells: grid.cells,
    output: grid.output,
    topK: p.topK,
    ...(steering ? { steering: steering.applied } : {}),
    ...(file ? { file } : {}),
  };
};

const DIRECTION_FLAGS: VectorFlags = { file: '--direction', tensor: '--direction_tensor', row: '--direction_row', positive: '--steer_positive', negative: '--steer_negative' };

export const projectionHandler: JobHandler<'projection'> = async (p, ctx) => {
  const opened = await ctx.openModel(p);
  const { model, tokenizer } = opened;
  const hooks = checkedHooks(p.hooks, model.spec.nBlocks, '--hooks', ['post']);
  const ids = await onePrompt(p, ctx, opened);
  const directions = await loadVectorSet(
    { file: p.direction, tensor: p.directionTensor, row: p.directionRow },
    { nBlocks: model.spec.nBlocks, dModel: model.spec.dModel, hooks },
    DIRECTION_FLAGS,
  );
  const steering = await planSteering(opened, p, { normPrompts: [ids], signal: ctx.signal });
  const r = await projectTokens(model, ids, { hooks, directions, edits: steering?.edits, editPositions: steering?.positions });
  const { text, spans } = tokenSpans(tokenizer, ids);
  let file: string | undefined;
  if (p.out) {
    const rows: (string | number)[][] = [['hook', 'position', 'token_id', 'token', 'start', 'end', 'value', 'edited']];
    const edited = new Set(r.editedPositions);
    hooks.forEach((hook, h) => spans.forEach((s, pos) => rows.push([hook, pos, s.id, s.piece, s.start, s.end, r.values[h]![pos]!, edited.has(pos) ? 1 : 0])));
    file = writeCsv(p.out, rows);
  }
  return {
    prompt: { text, tokens: spans },
    hooks,
    labels: hooks.map((h) => blockLabel(opened, h)),
    values: r.values,
    directionSource: directions.source,
    directionFrom: r.directionFrom,
    editedPositions: r.editedPositions,
    ...(steering ? { steering: steering.applied } : {}),
    ...(file ? { file } : {}),
  };
};

/** The params a steer-compare run file records (and --experiment runs again). */
function readExperiment(file: string): JobParams<'steer-compare'> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--experiment ${file}: ${(e as Error).message}`);
  }
  const run = steerCompareResultSchema.safeParse(json);
  if (!run.success) throw new UsageError(`--experiment ${file}: not a steer-compare run file (${run.error.issues[0]?.path.join('.')}: ${run.error.issues[0]?.message})`);
  const params = steerCompareJob.params.safeParse(run.data.spec.params);
  if (!params.success) throw new UsageError(`--experiment ${file}: its params are not valid steer-compare params (${params.error.issues[0]?.message})`);
  return params.data;
}

export const steerCompareHandler: JobHandler<'steer-compare'> = async (given, ctx) => {
  const p: JobParams<'steer-compare'> = given.experiment !== undefined ? { ...readExperiment(given.experiment), ...(given.out !== undefined ? { out: given.out } : {}) } : given;
  if (!wantsSteering(p)) throw new UsageError('steer-compare needs steering: --steer_hooks and a vector (--steer_vector, or --steer_positive and --steer_negative)');
  const opened = await ctx.openModel(p);
  const { model, tokenizer } = opened;
  const ids = await onePrompt(p, ctx, opened);
  const steering = (await planSteering(opened, p, { normPrompts: [ids], signal: ctx.signal }))!;
  ctx.progress(0, 1, 'generating without and with steering');
  const c = await compareSteering(model, tokenizer, ids, {
    maxNewTokens: p.maxNewTokens,
    stopStrings: p.stop ?? tokenizer.stopStrings ?? [],
    edits: steering.edits,
    positions: steering.positions,
    signal: ctx.signal,
  });
  ctx.progress(1, 1);
  const { experiment: _e, out: _o, ...asRun } = p;
  // Paths made absolute, so the run file runs again from any folder.
  const abs = (f: string | undefined) => (f === undefined || f === '-' ? f : path.resolve(f));
  const params = {
    ...asRun,
    ...(asRun.model !== undefined ? { model: abs(asRun.model) } : {}),
    ...(asRun.modelsPath !== undefined ? { modelsPath: abs(asRun.modelsPath) } : {}),
    ...(asRun.tokenizer !== undefined ? { tokenizer: abs(asRun.tokenizer) } : {}),
    ...(asRun.promptFile !== undefined ? { promptFile: abs(asRun.promptFile) } : {}),
    ...(asRun.steerVector !== undefined ? { steerVector: abs(asRun.steerVector) } : {}),
    ...(asRun.steerPositive !== undefined ? { steerPositive: asRun.steerPositive.map((f) => abs(f)!) } : {}),
    ...(asRun.steerNegative !== undefined ? { steerNegative: asRun.steerNegative.map((f) => abs(f)!) } : {}),
  };
  const { text, spans } = tokenSpans(tokenizer, ids);
  const result: SteerCompareResult = {
    format: STEER_COMPARE_FORMAT,
    version: 1,
    spec: {
      params: params as Record<string, unknown>,
      argv: toArgv(JOBS['steer-compare'], params as Record<string, unknown>),
      model: { path: opened.checkpoint.path, contentHash: opened.checkpoint.contentHash },
    },
    prompt: { text, tokens: spans },
    base: { text: c.base.text, tokens: c.base.tokens, stopReason: c.base.stopReason },
    steered: { text: c.steered.text, tokens: c.steered.tokens, stopReason: c.steered.stopReason },
    diff: c.diff,
    kl: c.kl,
    steering: steering.applied,
  };
  if (p.out) {
    const file = path.resolve(p.out);
    writeFileAtomic(file, JSON.stringify({ ...result, runFile: file }, null, 2) + '\n');
    ctx.log('info', `run file: ${file} (run it again: ${cliLine(JOBS['steer-compare'], { experiment: file })})`);
    return { ...result, runFile: file };
  }
  return result;
};

export const steerVectorHandler: JobHandler<'steer-vector'> = async (p, ctx) => {
  const out = path.resolve(p.out);
  const ext = path.extname(out).toLowerCase();
  if (ext !== '.gguf' && ext !== '.safetensors') throw new UsageError(`--out ${p.out}: write .gguf (a llama.cpp control vector) or .safetensors`);
  const hasModel = p.model !== undefined || p.modelName !== undefined;
  if ((p.positive || p.negative) && !hasModel) throw new UsageError('--positive/--negative are measured on a model: give --model');
  if (!p.from && !p.positive && !p.negative) throw new UsageError('give --from FILE, or --positive … --negative … with --model');
  if (!hasModel && p.hooks?.some((h) => ['post', 'pre', 'all'].includes(h))) throw new UsageError('--hooks post, pre and all need --model (how many blocks it has); name the hook points');
  const opened = hasModel ? await ctx.openModel(p) : undefined;
  const flags: VectorFlags = { file: '--from', tensor: '--tensor', row: '--row', positive: '--positive', negative: '--negative' };
  // Without a model any block index and length is accepted: the file's own vectors are written.
  const nBlocks = opened?.model.spec.nBlocks ?? Number.MAX_SAFE_INTEGER;
  const contrastHooks = p.hooks?.length ? checkedHooks(p.hooks, nBlocks, '--hooks', []) : opened ? checkedHooks(['post'], nBlocks, '--hooks', []) : [];
  const set = await loadVectorSet(
    { file: p.from, tensor: p.tensor, row: p.row, positive: p.positive, negative: p.negative },
    { nBlocks, dModel: opened?.model.spec.dModel, hooks: contrastHooks, ...(opened ? { meanStates: contrastMeans(opened, ctx.signal) } : {}) },
    flags,
  );
  let hooks: string[];
  if (p.hooks?.length) hooks = checkedHooks(p.hooks, nBlocks, '--hooks', []);
  else if (set.hooks === 'all') throw new UsageError(`${set.source} holds one vector: say which hook points to write it for with --hooks`);
  else hooks = set.hooks;
  const warnings = [...set.warnings];
  let written = hooks;
  if (ext === '.gguf') {
    written = hooks.filter((h) => {
      try {
        controlLayerOf(h);
        return true;
      } catch (e) {
        if (p.hooks?.length) throw e;
        warnings.push(`${h} left out of the GGUF file: ${(e as Error).message}`);
        return false;
      }
    });
    if (!written.length) throw new UsageError('no block output (blocks.<l>.hook_resid_post, l ≥ 1) to write as a GGUF control vector');
  }
  const vectors = written.map((hook) => ({ hook, vector: set.at(hook).vector }));
  const lengths = new Set(vectors.map((v) => v.vector.length));
  if (lengths.size > 1) throw new UsageError(`the vectors have different lengths (${[...lengths].join(', ')}); one model's vectors share d_model`);
  const hint = p.modelHint ?? set.modelHint ?? opened?.model.spec.modelType ?? 'unknown';
  const lock = acquireOutputLock(out, 'steering vector file', { hint: 'choose another --out' });
  try {
    if (ext === '.gguf') writeControlVectorGguf(out, vectors, hint);
    else writeSteeringSafetensors(out, vectors, { model_hint: hint, source: set.source, ...(opened ? modelProvenance(opened) : {}) });
  } finally {
    lock.release();
  }
  for (const w of warnings) ctx.log('warn', w);
  return {
    file: out,
    format: ext === '.gguf' ? 'gguf' : 'safetensors',
    vectors: vectors.map((v) => ({ hook: v.hook, layer: Number(/^blocks\.(\d+)\./.exec(v.hook)![1]), norm: Math.hypot(...v.vector) })),
    source: set.source,
    warnings,
  };
};
