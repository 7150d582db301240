/**
 * The jobs of the reasoning-behaviour workflow (runtime/protocol/jobs.ts, formats in
 * runtime/protocol/thinking.ts): generate-chains → annotate → behaviour-vectors → layer-effects →
 * steer-eval, plus serve (a model behind the OpenAI protocol) and llama2c-to-hf. Each reads what
 * the step before wrote, checks it belongs together (content hashes, the model's hash), and writes
 * its own files atomically under an output lock.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DatasetError } from '../../datasets/jsonl';
import { heldOutTasks, readTaskSet, shuffledIndices, type Task } from '../../datasets';
import { writeFileAtomic, writeFilesTogether } from '../../models/common/files';
import { acquireOutputLock } from '../../models/common/lock';
import { parseHookName } from '../../models/graph/spec';
import { llama2cToHf } from '../../models/llama2c/toHf';
import { modelCacheName, resolveHooks } from '../cache/saveHiddenStates';
import type { OpenedModel } from '../openModel';
import { toArgv, UsageError } from '../protocol/argv';
import { JOBS, type JobName, type JobParams } from '../protocol/jobs';
import {
  annotationPaths,
  BEHAVIOURS,
  canonicalBehaviour,
  chainsPaths,
  effectsFileSchema,
  formatAnnotations,
  parseAnnotations,
  type AnnotationsHeader,
  type Behaviour,
  type Chain,
  type ChainsProvenance,
  type EffectsFile,
  type Span,
  type SteeringFile,
} from '../protocol/thinking';
import { LAYERLAB_VERSION } from '../version';
import { checkedSpans, ImportAnnotator, ModelAnnotator, RulesAnnotator, type Annotator } from '../thinking/annotate';
import { chainsJsonl, chooseChainTemplate, generateChains, readChains, sha256, verifyChainTokens, type LoadedChains } from '../thinking/chains';
import { EndpointChatModel, LocalChatModel } from '../thinking/chat';
import { categoryEffects, ChainKv, meanAbs, orderedBehaviours, patchRows, spearman, topK } from '../thinking/patching';
import { serveChat } from '../thinking/serve';
import { behaviourFractions, chainSpans, randomLike, steeringConditions, steeringEdits } from '../thinking/steer';
import { computeBehaviourVectors, loadBehaviourVectors, writeBehaviourVectors, type LoadedVectors } from '../thinking/vectors';
import type { JobContext, JobHandler } from './context';

function argvOf<N extends JobName>(name: N, p: JobParams<N>): string[] {
  return ['layerlab', name, ...toArgv(JOBS[name], p as Record<string, unknown>)];
}

function readText(file: string, what: string, hint: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new DatasetError({ file }, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `cannot read the ${what} (${(e as Error).message})`, hint);
  }
}

function loadChains(file: string): LoadedChains {
  return readChains(path.resolve(file), chainsPaths(path.resolve(file)).provenance);
}

/** Refuses a model other than the one the chains were generated with (their provenance says which). */
function checkSameModel(opened: OpenedModel, expected: { path: string; hash: string } | undefined, what: string): void {
  if (expected && expected.hash !== opened.checkpoint.contentHash) {
    throw new UsageError(`${what} come from the model ${expected.path} (content hash ${expected.hash.slice(0, 12)}), but --model is ${opened.checkpoint.path} (${opened.checkpoint.contentHash.slice(0, 12)}): use the model the chains were generated with`);
  }
}

function chainWhere(loaded: LoadedChains): (c: Chain) => string {
  const line = new Map(loaded.chains.map((c, i) => [c.id, loaded.lines[i]!]));
  return (c) => `${loaded.file} (line ${line.get(c.id)})`;
}

/** The annotator the params describe; a local annotating model is opened through the lease. */
async function buildAnnotator(p: JobParams<'annotate'> | JobParams<'steer-eval'>, ctx: JobContext): Promise<Annotator> {
  if (p.annotator === 'rules') return new RulesAnnotator();
  if (p.annotator === 'import') return new ImportAnnotator(path.resolve((p as JobParams<'annotate'>).importFile!));
  const opts = { maxTokens: p.annotatorMaxTokens, chunkSentences: p.annotatorChunkSentences };
  if (p.endpoint !== undefined) {
    let key: string | undefined;
    if (p.apiKeyEnv !== undefined) {
      key = process.env[p.apiKeyEnv];
      if (!key) throw new UsageError(`--api_key_env ${p.apiKeyEnv}: that environment variable is not set`);
    }
    return new ModelAnnotator(new EndpointChatModel(p.endpoint, p.endpointModel, key, p.endpointTimeout * 1000), opts);
  }
  const opened = await ctx.openModel({ model: p.annotatorModel, provider: p.provider, threads: p.threads });
  return new ModelAnnotator(new LocalChatModel(opened.model, opened.tokenizer, path.basename(opened.checkpoint.path)), opts);
}

function tally(spans: readonly Span[]): Record<Behaviour, number> {
  const out = Object.fromEntries(BEHAVIOURS.map((b) => [b, 0])) as Record<Behaviour, number>;
  for (const s of spans) out[s.category]++;
  return out;
}

// ---------------------------------------------------------------------------------------------

export const generateChainsHandler: JobHandler<'generate-chains'> = async (p, ctx) => {
  const taskSet = await readTaskSet(p.tasks);
  const tasks = p.sampleSize !== undefined && p.sampleSize < taskSet.tasks.length
    ? shuffledIndices(taskSet.tasks.length, p.seed, p.sampleSize).sort((a, b) => a - b).map((i) => taskSet.tasks[i]!)
    : taskSet.tasks;
  const opened = await ctx.openModel(p);
  const { tokenizer, checkpoint, model } = opened;
  const template = chooseChainTemplate(tokenizer, p.template);
  const stop = [...new Set([...(tokenizer.stopStrings ?? []), ...(p.stop ?? [])])];
  const out = path.resolve(p.out ?? path.join(p.outputPath, modelCacheName(checkpoint.path), `${path.basename(p.tasks).replace(/\.(jsonl?|json)$/, '')}.chains.jsonl`));
  if (!out.endsWith('.chains.jsonl')) throw new UsageError(`--out ${p.out}: a chains file is named <name>.chains.jsonl (its provenance goes beside it as <name>.chains.json)`);
  const provenanceFile = chainsPaths(out).provenance;
  const lock = acquireOutputLock(out, 'chains file');
  try {
    ctx.log('info', `generating ${tasks.length} chains (${template} prompt, up to ${p.maxNewTokens} tokens) → ${out}`);
    const chains = await generateChains(model, tokenizer, tasks, {
      template,
      maxNewTokens: p.maxNewTokens,
      stop,
      batchSize: p.batchSize,
      signal: ctx.signal,
      onProgress: (done, total) => ctx.progress(done, total, 'chains'),
    });
    const jsonl = chainsJsonl(chains);
    const provenance: ChainsProvenance = {
      format: 'layerlab-chains',
      version: 1,
      chains_hash: sha256(jsonl),
      count: chains.length,
      model: { path: checkpoint.path, hash: checkpoint.contentHash, tokenizer: tokenizer.source, options: model.spec.options },
      tasks: { path: path.resolve(p.tasks), hash: taskSet.contentHash, ids: tasks.map((t) => t.id) },
      template,
      max_new_tokens: p.maxNewTokens,
      stop,
      batch_size: p.batchSize,
      argv: argvOf('generate-chains', p),
      layerlab_version: LAYERLAB_VERSION,
      created: new Date().toISOString(),
    };
    writeFilesTogether([
      { file: out, content: jsonl },
      { file: provenanceFile, content: JSON.stringify(provenance, null, 1) + '\n' },
    ]);
    const stopReasons: Record<string, number> = {};
    for (const c of chains) stopReasons[c.stop_reason] = (stopReasons[c.stop_reason] ?? 0) + 1;
    return { chainsFile: out, provenanceFile, chains: chains.length, tokens: chains.reduce((s, c) => s + c.ids.length, 0), template, stopReasons };
  } finally {
    lock.release();
  }
};

export const annotateHandler: JobHandler<'annotate'> = async (p, ctx) => {
  const loaded = loadChains(p.chains);
  const out = path.resolve(p.out ?? chainsPaths(loaded.file).annotations(p.annotator));
  const annotator = await buildAnnotator(p, ctx);
  const warnings: string[] = [];
  const lock = acquireOutputLock(out, 'annotations file');
  try {
    const raw = await annotator.annotate(loaded.chains, {
      where: chainWhere(loaded),
      signal: ctx.signal,
      onProgress: (done, total) => ctx.progress(done, total, `${p.annotator} annotator`),
      warn: (m) => {
        warnings.push(m);
        ctx.log('warn', m);
      },
    });
    const spans = checkedSpans(raw, loaded.chains, out);
    const texts = new Map(loaded.chains.map((c) => [c.id, c.text]));
    const header: AnnotationsHeader = {
      layerlab: 'annotations',
      version: 1,
      chains: loaded.file,
      chains_hash: loaded.hash,
      annotator: { ...annotator.describe(), kind: annotator.kind },
      created: new Date().toISOString(),
    };
    const files = [{ file: out, content: formatAnnotations(header, spans, texts) }];
    // What an annotating model answered is part of the record: the spans are read from it.
    if (annotator instanceof ModelAnnotator) files.push({ file: out.replace(/\.jsonl$/, '') + '.replies.jsonl', content: annotator.replies.map((r) => JSON.stringify(r)).join('\n') + '\n' });
    writeFilesTogether(files);
    return {
      annotationsFile: out,
      spans: spans.length,
      byCategory: tally(spans),
      chains: loaded.chains.length,
      chainsWithSpans: new Set(spans.map((s) => s.chain)).size,
      warnings,
    };
  } finally {
    lock.release();
  }
};

/** The annotations file and the chains it belongs to, checked against each other. */
function loadAnnotated(annotationsFile: string, chainsFile?: string): { loaded: LoadedChains; spans: Span[]; header?: AnnotationsHeader; hash: string } {
  const file = path.resolve(annotationsFile);
  const text = readText(file, 'annotations file', 'Annotate the chains first (layerlab annotate).');
  const headerLine = text.split('\n', 1)[0] ?? '';
  let headerChains: string | undefined;
  try {
    const h = JSON.parse(headerLine) as { layerlab?: string; chains?: string };
    if (h.layerlab === 'annotations') headerChains = h.chains;
  } catch {
    // not a header: parseAnnotations reports the line
  }
  const chainsPath = chainsFile ?? headerChains;
  if (!chainsPath) throw new UsageError(`${file} names no chains file (it has no LayerLab header): give --chains`);
  const loaded = loadChains(chainsPath);
  const { header, spans } = parseAnnotations(text, file, new Map(loaded.chains.map((c) => [c.id, c.text])));
  if (header && header.chains_hash !== loaded.hash) {
    throw new DatasetError({ file, line: 1, field: 'chains_hash' }, `was made for other chains than ${loaded.file} holds now`, 'Annotate the chains again.');
  }
  return { loaded, spans: spans.map(({ line: _l, ...s }) => s), header, hash: sha256(text) };
}

export const behaviourVectorsHandler: JobHandler<'behaviour-vectors'> = async (p, ctx) => {
  const { loaded, spans, hash } = loadAnnotated(p.annotations, p.chains);
  if (spans.length === 0) throw new UsageError(`${path.resolve(p.annotations)} holds no spans: there is no behaviour to compute a vector for (annotate longer or more chains, or with another annotator)`);
  const opened = await ctx.openModel(p);
  checkSameModel(opened, loaded.provenance?.model, `the chains in ${loaded.file}`);
  verifyChainTokens(loaded, opened.tokenizer);
  const hooks = resolveHooks(p.hooks, opened.model.spec.nBlocks);
  const vectorsFile = path.resolve(p.out ?? annotationPaths(path.resolve(p.annotations)).vectors);
  if (!vectorsFile.endsWith('.safetensors')) throw new UsageError(`--out ${p.out}: the vectors file is a .safetensors file (statistics go beside it as .json)`);
  const statsFile = vectorsFile.replace(/\.safetensors$/, '.json');
  ctx.log('info', `vectors at ${hooks.length} hook points from ${loaded.chains.length} chains and ${spans.length} spans → ${vectorsFile}`);
  const result = await computeBehaviourVectors(opened.model, loaded.chains, spans, {
    hooks,
    signal: ctx.signal,
    onProgress: (done, total) => ctx.progress(done, total, 'chains'),
  });
  const stats = writeBehaviourVectors({
    vectorsFile,
    statsFile,
    result,
    chains: { path: loaded.file, hash: loaded.hash, count: loaded.chains.length },
    annotations: { path: path.resolve(p.annotations), hash },
    model: { path: opened.checkpoint.path, hash: opened.checkpoint.contentHash },
    argv: argvOf('behaviour-vectors', p),
  });
  const missing = BEHAVIOURS.filter((b) => !result.categories.includes(b));
  if (missing.length) ctx.log('warn', `no spans of ${missing.join(', ')}: no vectors for ${missing.length > 1 ? 'them' : 'it'}`);
  return { vectorsFile, statsFile, hooks: hooks.length, categories: stats.categories.map(({ norms: _n, ...c }) => c), missing };
};

/** Vectors with the chains and spans they were computed from (refusing any that changed since). */
function loadVectorsWithData(file: string): { vec: LoadedVectors; loaded: LoadedChains; spans: Span[] } {
  const vec = loadBehaviourVectors(path.resolve(file));
  const { loaded, spans, hash } = loadAnnotated(vec.stats.annotations.path, vec.stats.chains.path);
  if (loaded.hash !== vec.stats.chains.hash) throw new UsageError(`${loaded.file} changed after the vectors ${vec.file} were computed from it: compute them again`);
  if (hash !== vec.stats.annotations.hash) throw new UsageError(`${vec.stats.annotations.path} changed after the vectors ${vec.file} were computed from it: compute them again`);
  return { vec, loaded, spans };
}

function chosenBehaviours(asked: string[] | undefined, available: readonly Behaviour[], what: string): Behaviour[] {
  if (!asked) return [...available];
  const out = asked.map((c) => canonicalBehaviour(c)!);
  const absent = out.filter((c) => !available.includes(c));
  if (absent.length) throw new UsageError(`--categories: ${what} has no vector for ${absent.join(', ')} (it has ${available.join(', ') || 'none'})`);
  return orderedBehaviours(out);
}

/** `<x>.effects.json` and `<x>.steering.json` beside `<x>.vectors.safetensors`. */
function besideVectors(vectorsFile: string, suffix: 'effects' | 'steering'): string {
  return path.resolve(vectorsFile).replace(/(\.vectors)?\.safetensors$/, `.${suffix}.json`);
}

export const layerEffectsHandler: JobHandler<'layer-effects'> = async (p, ctx) => {
  const { vec, loaded, spans } = loadVectorsWithData(p.vectors);
  const categories = chosenBehaviours(p.categories, vec.categories, vec.file);
  const opened = await ctx.openModel(p);
  checkSameModel(opened, vec.stats.model, `the vectors in ${vec.file}`);
  const { model } = opened;
  const out = path.resolve(p.out ?? besideVectors(vec.file, 'effects'));
  const blocks = vec.hooks.map((h) => parseHookName(h, model.spec.nBlocks).block);
  const rowsOf = new Map(categories.map((c) => [c, patchRows(loaded.chains, spans, c)]));
  const cache = new ChainKv(model, loaded.chains);
  const lock = acquireOutputLock(out, 'effects file');
  try {
    const t0 = performance.now();
    let passes = 0;
    let patched = 0;
    const results: EffectsFile['categories'] = [];
    const lines: string[] = [];
    for (const [k, c] of categories.entries()) {
      const rows = rowsOf.get(c)!;
      if (rows.length === 0) {
        ctx.log('warn', `${c}: no span has a token before it to patch; skipped`);
        continue;
      }
      const eff = await categoryEffects(model, loaded.chains, cache, rows, vec.hooks, vec.vectors.get(c)!, {
        metric: p.metric,
        coefficient: p.coefficient,
        fdStep: p.fdStep,
        batchRows: p.batchRows,
        batchBytes: p.batchMb * 2 ** 20,
        signal: ctx.signal,
        onPass: () => ctx.progress(k, categories.length, `${c}: ${rows.length} positions × ${vec.hooks.length} hook points`),
      });
      ctx.progress(k + 1, categories.length, c);
      passes += eff.passes;
      patched += rows.length * vec.hooks.length;
      const exact = eff.exact.map(meanAbs);
      const estimate = eff.estimate.map(meanAbs);
      const rho = spearman(exact.map((e) => e.mean), estimate.map((e) => e.mean));
      const selected = topK(exact.map((e) => e.mean), p.select);
      results.push({
        category: c,
        positions: rows.length,
        chains: new Set(rows.map((r) => r.chain)).size,
        exact: { mean: exact.map((e) => e.mean), se: exact.map((e) => e.se) },
        estimate: { mean: estimate.map((e) => e.mean), se: estimate.map((e) => e.se) },
        spearman: rho,
        selected,
      });
      const best = selected[0]!;
      lines.push(
        `${c.padEnd(22)} ${String(rows.length).padStart(4)} positions  selected ${selected.map((h) => vec.hooks[h]).join(', ')}  exact ${exact[best]!.mean.toPrecision(3)}  estimate ${estimate[best]!.mean.toPrecision(3)}  Spearman ${rho === null ? '—' : rho.toFixed(2)}`,
      );
    }
    const seconds = (performance.now() - t0) / 1000;
    const file: EffectsFile = {
      format: 'layerlab-layer-effects',
      version: 1,
      vectorsFile: vec.file,
      chains: { path: loaded.file, hash: loaded.hash },
      annotations: { path: vec.stats.annotations.path, hash: vec.stats.annotations.hash },
      model: { path: opened.checkpoint.path, hash: opened.checkpoint.contentHash },
      metric: p.metric,
      coefficient: p.coefficient,
      fdStep: p.fdStep,
      hooks: vec.hooks,
      blocks,
      categories: results,
      timing: { passes, rows: [...rowsOf.values()].reduce((s, r) => s + r.length, 0), seconds, patchesPerSecond: patched / seconds },
      argv: argvOf('layer-effects', p),
      layerlab_version: LAYERLAB_VERSION,
      created: new Date().toISOString(),
    };
    writeFileAtomic(out, JSON.stringify(file, null, 1) + '\n');
    return {
      effectsFile: out,
      categories: results.map((r) => ({ category: r.category, positions: r.positions, selected: r.selected.map((h) => vec.hooks[h]!), spearman: r.spearman })),
      passes,
      patchesPerSecond: file.timing.patchesPerSecond,
      lines,
    };
  } finally {
    lock.release();
  }
};

function readEffects(file: string): EffectsFile {
  const text = readText(file, 'effects file', 'Run layer-effects first, or give --layer_indices.');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new DatasetError({ file }, `is not valid JSON (${(e as Error).message})`, 'Run layer-effects again.');
  }
  const r = effectsFileSchema.safeParse(raw);
  if (!r.success) throw new DatasetError({ file, field: r.error.issues[0]!.path.join('.') }, `is not a layer-effects file (${r.error.issues[0]!.message})`, 'Run layer-effects again.');
  return r.data;
}

export const steerEvalHandler: JobHandler<'steer-eval'> = async (p, ctx) => {
  const { vec, loaded } = loadVectorsWithData(p.vectors);
  const out = path.resolve(p.out ?? besideVectors(vec.file, 'steering'));
  // Which hooks each behaviour is steered at: --layer_indices, else the effects file's selection.
  let effectsFile: string | null = null;
  let hooksOf: (c: Behaviour) => string[];
  if (p.layerIndices) {
    const kind = vec.hooks[0]!.replace(/^blocks\.\d+\./, '');
    const hooks = p.layerIndices.map((l) => `blocks.${l}.${kind}`);
    const absent = hooks.filter((h) => !vec.hooks.includes(h));
    if (absent.length) throw new UsageError(`--layer_indices: ${vec.file} has no vectors at ${absent.join(', ')}`);
    hooksOf = () => hooks;
  } else {
    effectsFile = path.resolve(p.effects ?? besideVectors(vec.file, 'effects'));
    const eff = readEffects(effectsFile);
    if (path.resolve(eff.vectorsFile) !== vec.file) throw new UsageError(`${effectsFile} was computed for ${eff.vectorsFile}, not ${vec.file}`);
    const sel = new Map(eff.categories.map((c) => [c.category, c.selected.map((h) => eff.hooks[h]!)]));
    hooksOf = (c) => {
      const h = sel.get(c);
      if (!h) throw new UsageError(`${effectsFile} selected no layers for ${c}: run layer-effects for it, or give --layer_indices`);
      return h;
    };
  }
  const categories = chosenBehaviours(p.categories, vec.categories, vec.file);
  const conditions = steeringConditions(categories, hooksOf, p.coefficient);

  // Held-out tasks: from the task set, leaving out the tasks the chains were generated from.
  const tasksFile = p.tasks ?? loaded.provenance?.tasks.path;
  if (!tasksFile) throw new UsageError(`${loaded.file} records no task set (no provenance beside it): give --tasks`);
  const taskSet = await readTaskSet(tasksFile);
  const used = new Set(loaded.chains.map((c) => c.task));
  const tasks: Task[] = heldOutTasks(taskSet.tasks, used, p.heldOut, p.seed);
  if (tasks.length === 0) throw new UsageError(`${tasksFile}: every task was used for the chains; give a task set with held-out tasks`);
  if (tasks.length < p.heldOut) ctx.log('warn', `only ${tasks.length} held-out tasks (asked for ${p.heldOut})`);

  const opened = await ctx.openModel(p);
  checkSameModel(opened, vec.stats.model, `the vectors in ${vec.file}`);
  const { model, tokenizer } = opened;
  const template = chooseChainTemplate(tokenizer, p.template);
  const stop = tokenizer.stopStrings ?? [];
  const nBlocks = model.spec.nBlocks;
  const hookIndex = new Map(vec.hooks.map((h, i) => [h, i]));

  const file: SteeringFile = {
    format: 'layerlab-steering',
    version: 1,
    complete: false,
    vectorsFile: vec.file,
    effectsFile,
    model: { path: opened.checkpoint.path, hash: opened.checkpoint.contentHash },
    tasks: { path: path.resolve(tasksFile), hash: taskSet.contentHash, ids: tasks.map((t) => t.id), heldOutFrom: loaded.file },
    annotator: { kind: p.annotator },
    template,
    maxNewTokens: p.maxNewTokens,
    randomSeed: p.randomSeed,
    conditions: [],
    argv: argvOf('steer-eval', p),
    layerlab_version: LAYERLAB_VERSION,
    created: new Date().toISOString(),
  };
  const lock = acquireOutputLock(out, 'steering file');
  try {
    // 1. Generate every condition (the model stays loaded), saving after each.
    const generated: Chain[][] = [];
    const total = conditions.length * tasks.length;
    for (const [k, cond] of conditions.entries()) {
      let edits;
      if (cond.kind !== 'baseline') {
        const c = cond.category!;
        const vs = cond.hooks.map((h) => vec.vectors.get(c)![hookIndex.get(h)!]!);
        const blocks = cond.hooks.map((h) => parseHookName(h, nBlocks).block);
        edits = steeringEdits(cond.hooks, cond.kind === 'random' ? randomLike(vs, p.randomSeed, c, blocks) : vs, cond.coefficient, cond.sign);
      }
      ctx.log('info', `steering: ${cond.id}${cond.hooks.length ? ` at ${cond.hooks.join(', ')}` : ''}`);
      const chains = await generateChains(model, tokenizer, tasks, {
        template,
        maxNewTokens: p.maxNewTokens,
        stop,
        batchSize: p.batchSize,
        edits,
        editPositions: 'all',
        signal: ctx.signal,
        onProgress: (d) => ctx.progress(k * tasks.length + d, total + conditions.length, cond.id),
      });
      generated.push(chains);
    }
    // 2. Re-annotate every condition with the same annotator, then summarise.
    const annotator = await buildAnnotator(p, ctx);
    const where = (c: Chain) => `steered chain ${c.id}`;
    for (const [k, cond] of conditions.entries()) {
      const chains = generated[k]!;
      const spans = checkedSpans(await annotator.annotate(chains, { where, signal: ctx.signal, warn: (m) => ctx.log('warn', m) }), chains, out);
      const steered = chains.map((c) => ({ task: c.task, text: c.text, ids: c.ids, offsets: c.offsets, spans: chainSpans(spans, c.id) }));
      file.conditions.push({ ...cond, chains: steered, fractions: behaviourFractions(steered) });
      ctx.progress(total + k + 1, total + conditions.length, `annotated ${cond.id}`);
      writeFileAtomic(out, JSON.stringify(file) + '\n');
    }
    file.complete = true;
    writeFileAtomic(out, JSON.stringify(file) + '\n');
  } finally {
    lock.release();
  }
  const base = file.conditions[0]!.fractions;
  const pct = (f: { fraction: number; ci95: [number, number] }) => `${(100 * f.fraction).toFixed(1)}% [${(100 * f.ci95[0]).toFixed(1)}, ${(100 * f.ci95[1]).toFixed(1)}]`;
  const lines = categories.map((c) => {
    const parts = file.conditions.filter((x) => x.category === c).map((x) => `${x.id.slice(c.length + 1)} ${pct(x.fractions[c]!)}`);
    return `${c.padEnd(22)} baseline ${pct(base[c]!)} | ${parts.join(' | ')}`;
  });
  return { steeringFile: out, conditions: conditions.length, tasks: tasks.length, lines };
};

export const serveHandler: JobHandler<'serve'> = async (p, ctx) => {
  const opened = await ctx.openModel(p);
  const name = path.basename(opened.checkpoint.path);
  const server = await serveChat(new LocalChatModel(opened.model, opened.tokenizer, name), {
    host: p.host,
    port: p.port,
    modelId: name,
    defaultMaxTokens: p.maxTokens,
    log: (m) => ctx.log('info', m),
    onRequest: (n) => ctx.progress(n, n, 'requests served'),
  });
  ctx.log('info', `serving ${name} at ${server.url} (OpenAI chat completions, greedy); Ctrl-C or Cancel stops it`);
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.close();
  return { url: server.url, served: server.served() };
};

export const llama2cToHfHandler: JobHandler<'llama2c-to-hf'> = async (p, ctx) => {
  const r = llama2cToHf(p.source, p.out, { tokenizer: p.tokenizer, thinkTemplate: p.thinkTemplate, contextLength: p.contextLength });
  ctx.log('info', `wrote ${r.tensors} tensors and a ${r.vocabSize}-token tokenizer${r.chatTemplate ? ' with the <think> chat template' : ''} to ${r.dir}`);
  return { dir: r.dir, chatTemplate: r.chatTemplate, vocabSize: r.vocabSize, tensors: r.tensors };
};
