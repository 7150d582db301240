/**
 * Candidate steering vectors per hook point and behaviour (the paper's difference of means):
 *
 *   u_c = (1/|D+|) Σ_{chains with c} mean_{t ∈ seq_c(chain)} a(t)  −  (1/|D|) Σ_{chains} mean_{t ∈ chain} a(t)
 *
 * where seq_c(chain) is every token of the chain's spans of category c plus the token just before
 * each span (a span that starts the chain takes the last prompt token), and "t ∈ chain" is every
 * generated token. Both terms weigh chains equally, and everything accumulates in float64.
 *
 * (The paper's code averaged per span rather than per chain, and took the overall mean over the
 * annotated stretch only; LayerLab computes the formula as the paper writes it.)
 *
 * Saved like directions: a safetensors file of raw vectors (`<category>/<hook>`, not normalised:
 * steering adds u itself) and a statistics JSON, written together with a shared commit id.
 */
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { DatasetError } from '../../datasets/jsonl';
import { recoverFilesTogether, withFsErrors, writeFilesTogether } from '../../models/common/files';
import { acquireOutputLock } from '../../models/common/lock';
import { openSafetensors, safetensorsContent, type SafetensorsTensorInput } from '../../models/safetensors';
import { CancelledError } from '../generate';
import type { InstrumentedModel } from '../model';
import { BEHAVIOURS, vectorStatsFileSchema, type Behaviour, type Chain, type Span, type VectorStatsFile } from '../protocol/thinking';
import { LAYERLAB_VERSION } from '../version';

/**
 * Generated-token indices `[first, last]` a span covers: tokens whose characters overlap it, and
 * empty tokens (part of a multi-byte character) inside it. Null when it covers none.
 */
export function spanTokenRange(offsets: readonly (readonly [number, number])[], start: number, end: number): [number, number] | null {
  let first = -1;
  let last = -1;
  offsets.forEach(([a, b], t) => {
    const inside = a < b ? a < end && b > start : a >= start && a < end;
    if (!inside) return;
    if (first < 0) first = t;
    last = t;
  });
  return first < 0 ? null : [first, last];
}

/** Positions (in prompt + generated ids) whose activations make up category c of one chain: each span's tokens and the token before it. */
export function categoryPositions(chain: Chain, spans: readonly Span[]): Map<Behaviour, number[]> {
  const P = chain.prompt_ids.length;
  const out = new Map<Behaviour, Set<number>>();
  for (const s of spans) {
    const r = spanTokenRange(chain.offsets, s.start, s.end);
    if (!r) continue;
    const set = out.get(s.category) ?? new Set<number>();
    for (let t = P + r[0] - 1; t <= P + r[1]; t++) set.add(t);
    out.set(s.category, set);
  }
  return new Map([...out].map(([c, set]) => [c, [...set].sort((a, b) => a - b)]));
}

export interface BehaviourVectors {
  hooks: string[];
  /** Categories with at least one chain, in BEHAVIOURS order. */
  categories: Behaviour[];
  /** vectors.get(c)[h]: u_c at hooks[h]. */
  vectors: Map<Behaviour, Float32Array[]>;
  mean: Float32Array[];
  counts: Map<Behaviour, { chains: number; spans: number; tokens: number }>;
}

export interface ComputeVectorsOptions {
  hooks: string[];
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** One pass per chain (every hook point, every position), then the two means. */
export async function computeBehaviourVectors(model: InstrumentedModel, chains: readonly Chain[], spans: readonly Span[], opts: ComputeVectorsOptions): Promise<BehaviourVectors> {
  const d = model.spec.dModel;
  const H = opts.hooks.length;
  const byChain = new Map<string, Span[]>();
  for (const s of spans) byChain.set(s.chain, [...(byChain.get(s.chain) ?? []), s]);
  const meanSum = Array.from({ length: H }, () => new Float64Array(d));
  const catSum = new Map<Behaviour, Float64Array[]>();
  const counts = new Map<Behaviour, { chains: number; spans: number; tokens: number }>();
  let used = 0;
  opts.onProgress?.(0, chains.length);
  for (const [i, chain] of chains.entries()) {
    if (opts.signal?.aborted) throw new CancelledError();
    const ids = [...chain.prompt_ids, ...chain.ids];
    const P = chain.prompt_ids.length;
    if (chain.ids.length === 0) {
      opts.onProgress?.(i + 1, chains.length);
      continue;
    }
    const r = await model.forward([ids], undefined, { reads: opts.hooks.map((hook) => ({ hook, positions: 'all' as const })), readsOnly: true });
    const acts = opts.hooks.map((h) => r.reads.get(h)![0]!);
    const positionsOf = categoryPositions(chain, byChain.get(chain.id) ?? []);
    // The chain's own mean over its generated tokens.
    for (let h = 0; h < H; h++) addMean(meanSum[h]!, acts[h]!, d, range(P, ids.length));
    used++;
    for (const [c, pos] of positionsOf) {
      let sums = catSum.get(c);
      if (!sums) catSum.set(c, (sums = Array.from({ length: H }, () => new Float64Array(d))));
      for (let h = 0; h < H; h++) addMean(sums[h]!, acts[h]!, d, pos);
      const k = counts.get(c) ?? { chains: 0, spans: 0, tokens: 0 };
      k.chains++;
      k.spans += (byChain.get(chain.id) ?? []).filter((s) => s.category === c).length;
      k.tokens += pos.length;
      counts.set(c, k);
    }
    opts.onProgress?.(i + 1, chains.length);
  }
  if (used === 0) throw new Error('no chain has generated tokens: there is nothing to average');
  const mean = meanSum.map((s) => Float32Array.from(s, (x) => x / used));
  const categories = BEHAVIOURS.filter((c) => catSum.has(c));
  const vectors = new Map<Behaviour, Float32Array[]>();
  for (const c of categories) {
    const n = counts.get(c)!.chains;
    vectors.set(
      c,
      catSum.get(c)!.map((s, h) => Float32Array.from(s, (x, j) => x / n - meanSum[h]![j]! / used)),
    );
  }
  return { hooks: opts.hooks, categories, vectors, mean, counts };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, k) => from + k);
}

/** sum += mean over `positions` of the rows of `acts` ([T·d]). */
function addMean(sum: Float64Array, acts: Float32Array, d: number, positions: readonly number[]): void {
  if (positions.length === 0) return;
  const m = new Float64Array(d);
  for (const t of positions) for (let j = 0; j < d; j++) m[j]! += acts[t * d + j]!;
  for (let j = 0; j < d; j++) sum[j]! += m[j]! / positions.length;
}

export function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  const na = norm(a);
  const nb = norm(b);
  if (na === 0 || nb === 0) return null;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s / (na * nb);
}

export interface WriteVectorsInput {
  vectorsFile: string;
  statsFile: string;
  result: BehaviourVectors;
  chains: { path: string; hash: string; count: number };
  annotations: { path: string; hash: string };
  model: { path: string; hash: string };
  argv: string[];
}

/** Writes the safetensors file and its statistics together (one commit id in both), under the output lock. */
export function writeBehaviourVectors(o: WriteVectorsInput): VectorStatsFile {
  const { result } = o;
  for (const [c, vs] of result.vectors) {
    vs.forEach((v, h) => {
      if (v.some((x) => !Number.isFinite(x))) throw new Error(`the ${c} vector at ${result.hooks[h]} is not finite: the model computed NaN or infinity on these chains; no vectors were written`);
    });
  }
  const commit = randomBytes(8).toString('hex');
  const stats: VectorStatsFile = {
    format: 'layerlab-behaviour-vectors',
    version: 1,
    commit,
    vectorsFile: o.vectorsFile,
    chains: o.chains,
    annotations: o.annotations,
    model: o.model,
    hooks: result.hooks,
    meanNorms: result.mean.map(norm),
    categories: result.categories.map((c) => ({ category: c, ...result.counts.get(c)!, norms: result.vectors.get(c)!.map(norm) })),
    cosine: result.hooks.map((_, h) => result.categories.map((a) => result.categories.map((b) => cosine(result.vectors.get(a)![h]!, result.vectors.get(b)![h]!)))),
    argv: o.argv,
    layerlab_version: LAYERLAB_VERSION,
    created: new Date().toISOString(),
  };
  const tensors: SafetensorsTensorInput[] = result.categories.flatMap((c) =>
    result.vectors.get(c)!.map((data, h) => ({ name: `${c}/${result.hooks[h]}`, dtype: 'F32' as const, shape: [data.length], data })),
  );
  const metadata = {
    format: 'layerlab-behaviour-vectors',
    commit,
    hooks: JSON.stringify(result.hooks),
    categories: JSON.stringify(result.categories),
    model_hash: o.model.hash,
    chains_hash: o.chains.hash,
    annotations_hash: o.annotations.hash,
    layerlab_version: LAYERLAB_VERSION,
  };
  const lock = acquireOutputLock(o.vectorsFile, 'behaviour vectors');
  try {
    writeFilesTogether([
      { file: o.vectorsFile, content: safetensorsContent(tensors, metadata) },
      { file: o.statsFile, content: JSON.stringify(stats, null, 1) + '\n' },
    ]);
  } finally {
    lock.release();
  }
  return stats;
}

export interface LoadedVectors {
  file: string;
  stats: VectorStatsFile;
  hooks: string[];
  categories: Behaviour[];
  vectors: Map<Behaviour, Float32Array[]>;
}

/** `<x>.vectors.json` beside `<x>.vectors.safetensors`. */
export function vectorStatsPathOf(vectorsFile: string): string {
  return vectorsFile.replace(/\.safetensors$/, '.json');
}

/** Reads a vectors file and the statistics written with it (refusing a pair from two runs). */
export function loadBehaviourVectors(file: string): LoadedVectors {
  const statsFile = vectorStatsPathOf(file);
  recoverFilesTogether([file, statsFile]);
  if (!fs.existsSync(file)) throw new DatasetError({ file }, 'file not found', 'Compute the vectors first (layerlab behaviour-vectors).');
  const st = withFsErrors({ path: file, operation: 'read the vectors file' }, () => openSafetensors(file));
  if (st.metadata.format !== 'layerlab-behaviour-vectors') throw new DatasetError({ file }, 'is not a LayerLab behaviour-vectors file', 'Give the .vectors.safetensors file layerlab behaviour-vectors wrote.');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(statsFile, 'utf8'));
  } catch (e) {
    throw new DatasetError({ file: statsFile }, `cannot be read (${(e as Error).message})`, 'The statistics are written with the vectors; compute the vectors again.');
  }
  const parsed = vectorStatsFileSchema.safeParse(raw);
  if (!parsed.success) throw new DatasetError({ file: statsFile, field: parsed.error.issues[0]!.path.join('.') }, `is not a vectors statistics file (${parsed.error.issues[0]!.message})`, 'Compute the vectors again.');
  const stats = parsed.data;
  if (stats.commit !== st.metadata.commit) throw new DatasetError({ file }, `and ${statsFile} come from different runs of behaviour-vectors`, 'Compute the vectors again to rewrite both.');
  const hooks = JSON.parse(st.metadata.hooks ?? '[]') as string[];
  const categories = JSON.parse(st.metadata.categories ?? '[]') as Behaviour[];
  const vectors = new Map(categories.map((c) => [c, hooks.map((h) => st.read(`${c}/${h}`).data)]));
  return { file, stats, hooks, categories, vectors };
}
