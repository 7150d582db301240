/**
 * What each job's result looks like in a terminal (stdout). `--json` prints the typed result
 * itself instead, for scripts.
 */
import type { JobName, JobResult } from '../protocol/jobs';
import type { ModelInfo } from '../protocol/requests';
import type { CacheEntryInfo } from '../protocol/results';
import { describeShards } from '../protocol/shards';
import type { AppliedSteering } from '../protocol/steering';

type Printers = { [N in JobName]: (r: JobResult<N>) => string };

export const PRINTERS: Printers = {
  // A part prints its own file, and the merged cache when it completed the set.
  'save-hidden-states': (r) => (r.shard ? [r.shard.partFile, ...(r.shard.merged ? [r.shard.merged] : [])].join('\n') : r.cacheFile),
  'compute-directions': (r) => {
    const f = (x: number | null | undefined) => (x === undefined || x === null || Number.isNaN(x) ? '   —  ' : x.toFixed(3).padStart(6));
    return ['hook point                      norm    AUC   d      r     | held-out AUC   d      r']
      .concat(r.layers.map((l) => `${l.hook.padEnd(30)} ${l.norm.toFixed(3).padStart(7)} ${f(l.train.auc)} ${f(l.train.cohensD)} ${f(l.train.pearsonR)} | ${f(l.heldOut?.auc)} ${f(l.heldOut?.cohensD)} ${f(l.heldOut?.pearsonR)}`))
      .concat([`directions: ${r.directionsFile}`, `statistics: ${r.statsFile}`])
      .join('\n');
  },
  // Exactly the seed's stdout; the run file is named on stderr ("run file: …") and in --json.
  evaluate: (r) => r.lines.join('\n'),
  sweep: (r) => r.lines.join('\n'),
  demo: (r) =>
    [
      ...r.findings,
      '',
      `hidden states: ${r.cacheFile}`,
      `directions:    ${r.directionsFile}`,
      `statistics:    ${r.statsFile}`,
      `run:           ${r.runFile}`,
      'Open the run in VS Code with "LayerLab: Open Run Chart".',
    ].join('\n'),
  generate: (r) => r.text,
  info: (r) => describeModelInfo(r),
  'check-model': (r) => r.markdown,
  'inspect-cache': (r) => describeCaches(r.caches),
  merge: (r) => [...r.lines, r.out].join('\n'),
  // The script itself, ready for `> job.sh`.
  'slurm-script': (r) => r.script,
  trace: (r) =>
    [
      `${r.file}`,
      `  ${r.prompts} prompt(s), ${r.tokens} tokens; ${r.hooks.length} hook points × ${r.rows} rows (positions ${r.positions}); logits ${r.logits}`,
      ...(r.steering ? [`  steered: ${describeSteering(r.steering)}`] : []),
    ].join('\n'),
  'logit-lens': (r) => describeLens(r),
  projection: (r) => describeProjection(r),
  'steer-compare': (r) => describeCompare(r),
  'steer-vector': (r) =>
    [
      `${r.file} (${r.format}, from ${r.source})`,
      ...r.vectors.map((v) => `  ${r.format === 'gguf' ? `direction.${v.layer}`.padEnd(14) : ''}${v.hook.padEnd(30)} ‖u‖ ${v.norm.toPrecision(4)}`),
      ...r.warnings.map((w) => `warning: ${w}`),
    ].join('\n'),
  'generate-chains': (r) =>
    [`${r.chains} chains, ${r.tokens} tokens (${r.template} prompt; stopped by ${Object.entries(r.stopReasons).map(([k, n]) => `${k} ${n}`).join(', ')})`, `chains:     ${r.chainsFile}`, `provenance: ${r.provenanceFile}`].join('\n'),
  annotate: (r) =>
    [
      `${r.spans} spans in ${r.chainsWithSpans} of ${r.chains} chains: ${Object.entries(r.byCategory).map(([c, n]) => `${c} ${n}`).join(', ')}`,
      ...(r.warnings.length ? [`${r.warnings.length} warning(s) (on stderr)`] : []),
      `annotations: ${r.annotationsFile}`,
    ].join('\n'),
  'behaviour-vectors': (r) =>
    [
      ...r.categories.map((c) => `${c.category.padEnd(22)} ${c.chains} chains, ${c.spans} spans, ${c.tokens} token positions`),
      ...(r.missing.length ? [`no spans (no vector): ${r.missing.join(', ')}`] : []),
      `vectors:    ${r.vectorsFile} (${r.hooks} hook points)`,
      `statistics: ${r.statsFile}`,
    ].join('\n'),
  'layer-effects': (r) => [...r.lines, `${r.passes} passes, ${r.patchesPerSecond.toFixed(1)} patches/s`, `effects: ${r.effectsFile}`].join('\n'),
  'steer-eval': (r) => [...r.lines, `${r.conditions} conditions × ${r.tasks} held-out tasks`, `steering: ${r.steeringFile}`].join('\n'),
  serve: (r) => `served ${r.served} request(s) at ${r.url}`,
  'llama2c-to-hf': (r) => `${r.dir} (${r.tensors} tensors, ${r.vocabSize} tokens${r.chatTemplate ? ', <think> chat template' : ''})`,
};

function describeSteering(s: AppliedSteering): string {
  return `${s.method} s=${s.strength}${s.method === 'affine' ? ` t=${s.target}` : ''}${s.norm === 'relative' ? ' (norm-relative)' : ''} at ${s.hooks.map((h) => h.hook).join(', ')} (${s.positions} positions) from ${s.source}`;
}

/** A token as shown in a terminal grid: escapes for whitespace, cut to a width. */
function show(piece: string, width: number): string {
  const s = JSON.stringify(piece).slice(1, -1);
  return s.length > width ? s.slice(0, width - 1) + '…' : s.padEnd(width);
}

function describeLens(r: JobResult<'logit-lens'>): string {
  const w = 9;
  const head = `${''.padEnd(28)} ${r.prompt.tokens.map((t) => show(t.piece, w)).join(' ')}`;
  const row = (label: string, cells: { piece: string; prob: number }[][]) => `${label.slice(0, 28).padEnd(28)} ${cells.map((c) => show(c[0]?.piece ?? '', w)).join(' ')}`;
  return [
    'top token after final norm + unembedding, per layer (rows) and position (columns):',
    head,
    ...r.cells.map((cells, i) => row(r.labels[i]!, cells)),
    row('model output', r.output),
    ...(r.steering ? [`steered: ${describeSteering(r.steering)}`] : []),
    ...(r.file ? [`csv: ${r.file}`] : []),
  ].join('\n');
}

function describeProjection(r: JobResult<'projection'>): string {
  const w = 9;
  const edited = new Set(r.editedPositions);
  return [
    `projection x·d̂ onto ${r.directionSource}, per layer (rows) and token (columns${edited.size ? '; * = steered position' : ''}):`,
    `${''.padEnd(28)} ${r.prompt.tokens.map((t, i) => show(`${edited.has(i) ? '*' : ''}${t.piece}`, w)).join(' ')}`,
    ...r.values.map((vs, i) => `${r.labels[i]!.slice(0, 28).padEnd(28)} ${vs.map((v) => v.toFixed(3).padStart(w)).join(' ')}`),
    ...(r.steering ? [`steered: ${describeSteering(r.steering)}`] : []),
    ...(r.file ? [`csv: ${r.file}`] : []),
  ].join('\n');
}

function describeCompare(r: JobResult<'steer-compare'>): string {
  const diff = r.diff.map((d) => (d.op === 'same' ? d.text : d.op === 'removed' ? `[-${d.text}-]` : `{+${d.text}+}`)).join('');
  const mean = r.kl.length ? r.kl.reduce((a, b) => a + b, 0) / r.kl.length : 0;
  return [
    `prompt:    ${JSON.stringify(r.prompt.text)}`,
    `unsteered: ${JSON.stringify(r.base.text)}`,
    `steered:   ${JSON.stringify(r.steered.text)}`,
    `diff:      ${diff}`,
    `KL(unsteered ‖ steered) per token: ${r.kl.map((k) => k.toFixed(3)).join(' ')} (mean ${mean.toFixed(4)} nats)`,
    `steering:  ${describeSteering(r.steering)}`,
    ...(r.runFile ? [`run file:  ${r.runFile}`] : []),
  ].join('\n');
}

export function describeModelInfo(info: ModelInfo): string {
  const layout = layoutOf(info.blocks, info.options);
  return [
    `model          ${info.path} (${info.format})`,
    `architecture   ${info.architecture} / ${info.modelType}`,
    `d_model        ${info.dModel}`,
    `vocab          ${info.vocabSize} (tokenizer: ${info.tokenizer})`,
    `context        ${info.maxSeqLen}`,
    `blocks         ${info.nBlocks}${Object.keys(info.options).length ? `  ${JSON.stringify(info.options)}` : ''}`,
    // Recurrent-depth models: which unrolled blocks are prelude, core (per recurrence) and coda.
    ...(layout.length > 1 ? [`layout         ${layout.join(' | ')}`] : []),
    `weights        ${(info.weightsBytes / 1e6).toFixed(2)} MB ${info.weights}`,
    `provider       ${info.provider}${info.providerNote ? ` (${info.providerNote})` : ''}`,
    `hook points    blocks.{0..${info.nBlocks - 1}}.hook_resid_pre | hook_resid_post  (${info.hookPoints} in all)`,
    'block map:',
    ...info.blocks.map((b) => `  blocks.${b.index}  ${b.label}`),
  ].join('\n');
}

/**
 * Consecutive runs of blocks of one part, e.g. prelude blocks.0-1 | core blocks.2-129 (4 blocks ×
 * 32 recurrences) | coda blocks.130-131 for huginn-0125 at num_steps 32.
 */
function layoutOf(blocks: ModelInfo['blocks'], options: ModelInfo['options']): string[] {
  const runs: { part: string; first: number; last: number }[] = [];
  for (const b of blocks) {
    const run = runs[runs.length - 1];
    if (run && run.part === b.part) run.last = b.index;
    else runs.push({ part: b.part, first: b.index, last: b.index });
  }
  const steps = typeof options.num_steps === 'number' ? options.num_steps : undefined;
  return runs.map((r) => {
    const n = r.last - r.first + 1;
    const perStep = r.part === 'core' && steps ? ` (${n / steps} blocks × ${steps} recurrences)` : '';
    return `${r.part} blocks.${r.first}${n > 1 ? `-${r.last}` : ''}${perStep}`;
  });
}

function describeCaches(entries: CacheEntryInfo[]): string {
  if (entries.length === 0) return 'no LayerLab caches there';
  const lines: string[] = [];
  for (const e of entries) {
    const mb = e.hooks.reduce((a, h) => a + h.bytes, 0) / 1e6;
    const state = e.complete ? 'complete' : `PARTIAL ${e.rowsDone}/${e.rows} rows${e.shards ? `, ${describeShards(e.shards)} (${e.shards.dir})` : ''}`;
    lines.push(`${e.dataName}  ${state}  ${e.file}`);
    lines.push(`  ${e.hooks.length} hook points, positions ${e.positions}, ${e.dtype}, d_model ${e.dModel}, ${mb.toFixed(2)} MB`);
    for (const k of ['model_path', 'model_hash', 'model_options', 'data_file', 'data_hash', 'data_kind', 'label_rule', 'n_records', 'sample', 'prompt_template', 'layerlab_version']) {
      if (e.provenance[k] !== undefined) lines.push(`  ${k.padEnd(16)} ${e.provenance[k]}`);
    }
    const shown = e.hooks.length > 8 ? [...e.hooks.slice(0, 4), undefined, ...e.hooks.slice(-2)] : e.hooks;
    for (const h of shown) lines.push(h ? `    ${h.name.padEnd(32)} [${h.shape.join(', ')}]` : `    … ${e.hooks.length - 6} more`);
  }
  return lines.join('\n');
}
